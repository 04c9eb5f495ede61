"""Draw a model's predictions on images with Detectron2's Visualizer, side by side with the input.

    ctxseg-demo --config-file CFG --input photo.jpg --output out/ train.init_checkpoint=model_final.pth
    ctxseg-demo --config-file CFG --input "images/*.png" --gt annotations/ --output out/ train.init_checkpoint=M
    ctxseg-demo --config-file CFG --input images/ --with-gt --output out/ train.init_checkpoint=M
                # --with-gt: the ground truth of inputs that belong to the config's test dataset

(``python tools/demo.py`` in a checkout is the same command; ``--opts key=value ...`` is accepted too.)
Each output picture is ``input | prediction`` (``| ground truth`` when one is known), with the class
names and palette of the config's test dataset.
"""
import glob
import os
import sys

from .runner import add_config_options, config_overrides, run_tool, tool_parser

__all__ = ["build_parser", "main"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def build_parser():
    """The command-line interface."""
    parser = tool_parser(__doc__, prog="ctxseg-demo")
    parser.add_argument("--input", nargs="+", required=True, help="image files, folders or glob patterns")
    parser.add_argument("--output", required=True, help="folder for the pictures")
    parser.add_argument("--gt", help="folder of label files named like the images (values as stored)")
    parser.add_argument("--with-gt", action="store_true",
                        help="take the ground truth of inputs that belong to the config's test dataset")
    parser.add_argument("--dataset", help="dataset whose class names and palette to use (default: the config's "
                        "test set)")
    parser.add_argument("--max-images", type=int, default=0, help="draw at most this many images (0: all)")
    parser.add_argument("--alpha", type=float, default=0.6, help="opacity of the drawn masks")
    add_config_options(parser, opts_alias=True)
    return parser


def expand_inputs(patterns):
    """Image paths from files, folders and glob patterns, sorted, without duplicates."""
    from ctxseg.utils.errors import DataError

    paths = []
    for pattern in patterns:
        if os.path.isdir(pattern):
            found = [os.path.join(pattern, f) for f in sorted(os.listdir(pattern))]
        elif os.path.isfile(pattern):
            found = [pattern]
        else:
            found = sorted(glob.glob(os.path.expanduser(pattern)))
            if not found:
                raise DataError(f"--input {pattern}: no such file, folder or matching files")
        paths += [f for f in found if f.lower().endswith(IMAGE_EXTENSIONS)]
    if not paths:
        raise DataError(f"--input {' '.join(patterns)}: no image files found")
    return list(dict.fromkeys(paths))


def sample_for(path, args, records):
    """The dataset dict the mapper reads for one input image (with its label file when known)."""
    from ctxseg.utils.errors import DataError

    record = records.get(os.path.abspath(path))
    if record is not None:
        return dict(record)
    sample = {"file_name": path}
    if args.gt:
        stem = os.path.splitext(os.path.basename(path))[0]
        candidates = sorted(glob.glob(os.path.join(args.gt, stem + ".*")))
        if not candidates:
            raise DataError(f"--gt {args.gt}: no label file named {stem}.* for {path}")
        sample["sem_seg_file_name"] = candidates[0]
    return sample


def run(args):
    """Predict and draw every input of ``args``."""
    import cv2
    import numpy as np
    import torch
    import tqdm
    from detectron2.config import instantiate
    from detectron2.data import MetadataCatalog
    from detectron2.data.detection_utils import read_image
    from detectron2.utils.logger import setup_logger
    from detectron2.utils.visualizer import ColorMode, Visualizer

    from ctxseg.config import load_config
    from ctxseg.data import get_dataset_dicts
    from ctxseg.engine import AtomicCheckpointer, build_model
    from ctxseg.utils import atomic_write

    logger = setup_logger(name="ctxseg")
    cfg = load_config(args.config_file, config_overrides(args))
    paths = expand_inputs(args.input)
    if args.max_images > 0:
        paths = paths[: args.max_images]

    dataset = args.dataset
    if dataset is None:
        try:
            dataset = cfg.dataloader.test.dataset.name
        except (AttributeError, KeyError):
            dataset = None
    metadata = MetadataCatalog.get(dataset) if dataset else MetadataCatalog.get("__unused")
    records = {}
    if args.with_gt and dataset:
        records = {os.path.abspath(d["file_name"]): d for d in get_dataset_dicts(dataset)}

    model = build_model(cfg).eval()
    if not cfg.train.init_checkpoint:
        logger.warning("no train.init_checkpoint given: drawing the predictions of an untrained model")
    AtomicCheckpointer(model, allow_pickle=cfg.train.get("allow_pickle", False)).load(cfg.train.init_checkpoint)
    mapper = instantiate(cfg.dataloader.test.mapper)
    mapper.is_train = False

    def draw(image, sem_seg):
        visualizer = Visualizer(image, metadata, instance_mode=ColorMode.IMAGE)
        return visualizer.draw_sem_seg(sem_seg, alpha=args.alpha).get_image()

    os.makedirs(args.output, exist_ok=True)
    for path in tqdm.tqdm(paths, desc="demo", unit="img"):
        sample = mapper(sample_for(path, args, records))
        with torch.no_grad():
            prediction = model([sample])[0]["sem_seg"].argmax(0).cpu()
        image = read_image(path, format="RGB")
        panels = [image, draw(image, prediction)]
        if "sem_seg" in sample:
            panels.append(draw(image, sample["sem_seg"]))
        picture = np.concatenate(panels, axis=1)
        out = os.path.join(args.output, os.path.splitext(os.path.basename(path))[0] + ".png")
        ok, encoded = cv2.imencode(".png", np.ascontiguousarray(picture[:, :, ::-1]))
        if not ok:
            raise OSError(f"cannot encode the picture of {path}")
        with atomic_write(out) as f:
            f.write(encoded.tobytes())
    print(f"wrote {len(paths)} pictures to {args.output}")
    return 0


def main(argv=None):
    """Entry point of ``ctxseg-demo``."""
    return run_tool(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
