#!/usr/bin/env python
"""Draw a model's predictions on images with Detectron2's Visualizer, side by side with the input.

    python tools/demo.py --config-file CFG --input photo.jpg --output out/ \
        --opts train.init_checkpoint=model_final.pth
    python tools/demo.py --config-file CFG --input "images/*.png" --gt annotations/ --output out/
    python tools/demo.py --config-file CFG --input images/ --with-gt --output out/   # ground truth of
                                                                                     # the config's test set

Each output picture is ``input | prediction`` (``| ground truth`` when one is known), with the class
names and palette of the config's test dataset.
"""
import argparse
import glob
import logging
import os
import sys

import ctxseg  # noqa: F401  (patches Detectron2, registers models and datasets)
import cv2
import numpy as np
import torch
import tqdm
from detectron2.config import LazyConfig, instantiate
from detectron2.data import MetadataCatalog
from detectron2.data.detection_utils import read_image
from detectron2.utils.logger import setup_logger
from detectron2.utils.visualizer import ColorMode, Visualizer

from ctxseg.data import get_dataset_dicts
from ctxseg.engine import AtomicCheckpointer, build_model
from ctxseg.utils import atomic_write

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
logger = logging.getLogger("ctxseg.demo")


def parse_args(argv=None):
    """Command-line arguments."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", required=True, help="a LazyConfig file")
    p.add_argument("--input", nargs="+", required=True, help="image files, folders or glob patterns")
    p.add_argument("--output", required=True, help="folder for the pictures")
    p.add_argument("--gt", help="folder of label files named like the images (values as stored)")
    p.add_argument("--with-gt", action="store_true",
                   help="take the ground truth of inputs that belong to the config's test dataset")
    p.add_argument("--dataset", help="dataset whose class names and palette to use (default: the config's test set)")
    p.add_argument("--max-images", type=int, default=0, help="draw at most this many images (0: all)")
    p.add_argument("--alpha", type=float, default=0.6, help="opacity of the drawn masks")
    p.add_argument("--opts", nargs=argparse.REMAINDER, default=[], help="key=value config overrides")
    return p.parse_args(argv)


def expand_inputs(patterns):
    """Image paths from files, folders and glob patterns, sorted, without duplicates."""
    paths = []
    for pattern in patterns:
        if os.path.isdir(pattern):
            found = [os.path.join(pattern, f) for f in sorted(os.listdir(pattern))]
        elif os.path.isfile(pattern):
            found = [pattern]
        else:
            found = sorted(glob.glob(os.path.expanduser(pattern)))
            if not found:
                raise FileNotFoundError(f"--input {pattern}: no such file, folder or matching files")
        paths += [f for f in found if f.lower().endswith(IMAGE_EXTENSIONS)]
    if not paths:
        raise FileNotFoundError(f"--input {' '.join(patterns)}: no image files found")
    return list(dict.fromkeys(paths))


def test_dataset_name(cfg):
    """The name of the config's test dataset, or None."""
    try:
        return cfg.dataloader.test.dataset.name
    except (AttributeError, KeyError):
        return None


def dataset_records(name):
    """{absolute image path: dataset dict} of a registered dataset."""
    return {os.path.abspath(d["file_name"]): d for d in get_dataset_dicts(name)}


def sample_for(path, args, records):
    """The dataset dict the mapper reads for one input image (with its label file when known)."""
    record = records.get(os.path.abspath(path))
    if record is not None:
        return dict(record)
    sample = {"file_name": path}
    if args.gt:
        stem = os.path.splitext(os.path.basename(path))[0]
        candidates = sorted(glob.glob(os.path.join(args.gt, stem + ".*")))
        if not candidates:
            raise FileNotFoundError(f"--gt {args.gt}: no label file named {stem}.* for {path}")
        sample["sem_seg_file_name"] = candidates[0]
    return sample


def draw(image, sem_seg, metadata, alpha):
    """The image with ``sem_seg`` drawn over it (RGB uint8)."""
    visualizer = Visualizer(image, metadata, instance_mode=ColorMode.IMAGE)
    return visualizer.draw_sem_seg(sem_seg, alpha=alpha).get_image()


def main(argv=None):
    """Predict and draw every input; user errors end the program with a one-line message."""
    try:
        run(parse_args(argv))
    except (FileNotFoundError, ValueError, KeyError, OSError) as e:
        sys.exit(f"error: {e}")


def run(args):
    """Predict and draw every input of ``args``."""
    setup_logger(name="ctxseg")
    if not os.path.isfile(args.config_file):
        sys.exit(f"error: config file not found: {args.config_file}")
    cfg = LazyConfig.apply_overrides(LazyConfig.load(args.config_file), args.opts)
    paths = expand_inputs(args.input)
    if args.max_images > 0:
        paths = paths[: args.max_images]

    dataset = args.dataset or test_dataset_name(cfg)
    metadata = MetadataCatalog.get(dataset) if dataset else MetadataCatalog.get("__unused")
    records = dataset_records(dataset) if (args.with_gt and dataset) else {}

    model = build_model(cfg).eval()
    if not cfg.train.init_checkpoint:
        logger.warning("no train.init_checkpoint given: drawing the predictions of an untrained model")
    AtomicCheckpointer(model).load(cfg.train.init_checkpoint)
    mapper = instantiate(cfg.dataloader.test.mapper)
    mapper.is_train = False

    os.makedirs(args.output, exist_ok=True)
    for path in tqdm.tqdm(paths, desc="demo", unit="img"):
        sample = mapper(sample_for(path, args, records))
        with torch.no_grad():
            prediction = model([sample])[0]["sem_seg"].argmax(0).cpu()
        image = read_image(path, format="RGB")
        panels = [image, draw(image, prediction, metadata, args.alpha)]
        if "sem_seg" in sample:
            panels.append(draw(image, sample["sem_seg"], metadata, args.alpha))
        picture = np.concatenate(panels, axis=1)
        out = os.path.join(args.output, os.path.splitext(os.path.basename(path))[0] + ".png")
        ok, encoded = cv2.imencode(".png", np.ascontiguousarray(picture[:, :, ::-1]))
        if not ok:
            raise OSError(f"cannot encode the picture of {path}")
        with atomic_write(out) as f:
            f.write(encoded.tobytes())
    print(f"wrote {len(paths)} pictures to {args.output}")


if __name__ == "__main__":
    main()
