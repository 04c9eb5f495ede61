#!/usr/bin/env python
"""Draw dataset images with their ground truth, as loaded (``dataset``) or after training augmentation (``train``).

    python tools/browse_dataset.py --dataset ade20k_sem_seg_val --output browse/ [--max 20]
    python tools/browse_dataset.py --config-file configs/common/data/cityscapes.py --source train --output browse/

``--source dataset`` (default) reads each image and its label as the test mapper does (zero label reduced,
no augmentation); ``--source train`` runs the config's training mapper (needs ``--config-file``).
Colours come from the dataset's ``stuff_colors``; ignored pixels stay uncoloured.
"""
import argparse
import os
import sys

import cv2
import numpy as np

import ctxseg  # noqa: F401
from detectron2.config import LazyConfig, instantiate
from detectron2.data import MetadataCatalog
from detectron2.utils.visualizer import Visualizer

from ctxseg.data import SemSegDatasetMapper, get_dataset_dicts


def parse_args(argv=None):
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", help="a registered dataset name")
    source.add_argument("--config-file", help="a LazyConfig: its train (or test) dataset and mapper")
    parser.add_argument("--source", choices=("dataset", "train"), default="dataset")
    parser.add_argument("--output", required=True, help="folder for the pictures")
    parser.add_argument("--max", type=int, default=20, help="at most this many images")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides key=value")
    return parser.parse_args(argv)


def _dataset_and_mapper(args):
    if args.config_file is None:
        if args.source == "train":
            raise SystemExit("--source train needs --config-file (the training mapper comes from the config)")
        meta = MetadataCatalog.get(args.dataset)
        ignore = meta.get("ignore_label", 255)
        mapper = SemSegDatasetMapper(False, [], num_classes=len(meta.stuff_classes), ignore_label=ignore)
        return args.dataset, mapper
    cfg = LazyConfig.apply_overrides(LazyConfig.load(args.config_file), args.opts)
    loader = cfg.dataloader.train if args.source == "train" else cfg.dataloader.test
    mapper = instantiate(loader.mapper)
    if args.source == "dataset":
        mapper = SemSegDatasetMapper(False, [], num_classes=mapper.num_classes, ignore_label=mapper.ignore_label)
    return loader.dataset.name, mapper


def draw(sample, metadata):
    """The RGB picture of a mapped sample with its label drawn over it."""
    image = sample["image"]
    if image.dtype.is_floating_point:  # PadToSize pads with the mean colour in float
        image = image.round().clamp(0, 255).byte()
    image = image.permute(1, 2, 0).numpy()
    label = sample["sem_seg"].numpy()
    if label.shape != image.shape[:2]:  # test mapper: the label keeps the original size
        image = cv2.resize(image, (label.shape[1], label.shape[0]), interpolation=cv2.INTER_LINEAR)
    ignore = metadata.get("ignore_label", 255)
    visualizer = Visualizer(image, metadata)
    # Visualizer skips labels >= the number of classes; ignored pixels must not become a class.
    return visualizer.draw_sem_seg(np.where(label == ignore, len(metadata.stuff_classes), label), alpha=0.5).get_image()


def main(argv=None):
    """Write up to --max pictures; return the exit status."""
    args = parse_args(argv)
    name, mapper = _dataset_and_mapper(args)
    metadata = MetadataCatalog.get(name)
    os.makedirs(args.output, exist_ok=True)
    dicts = get_dataset_dicts(name)[: args.max]
    for record in dicts:
        sample = mapper(record)
        stem = os.path.splitext(os.path.basename(record["file_name"]))[0]
        path = os.path.join(args.output, f"{stem}_{args.source}.jpg")
        cv2.imwrite(path, draw(sample, metadata)[:, :, ::-1])
    print(f"Wrote {len(dicts)} pictures of {name} ({args.source}) to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
