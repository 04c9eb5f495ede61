"""Draw dataset images with their ground truth, as loaded (``dataset``) or after training augmentation (``train``).

    ctxseg-browse --dataset ade20k_sem_seg_val --output browse/ [--max 20]
    ctxseg-browse --config-file configs/common/data/cityscapes.py --source train --output browse/
    ctxseg-browse --config-file CFG --source train --output browse/ dataloader.train.dataset.name=toy_sem_seg_val

(``python tools/browse_dataset.py`` in a checkout is the same command.) ``--source dataset`` (default)
reads each image and its label as the test mapper does (zero label reduced, no augmentation);
``--source train`` runs the config's training mapper (needs ``--config-file``). Colours come from the
dataset's ``stuff_colors``; ignored pixels stay uncoloured.
"""
import os
import sys

from .runner import add_config_options, config_overrides, parse_tool_args, positive_int, run_tool, tool_parser

__all__ = ["build_parser", "main"]


def build_parser():
    """The command-line interface."""
    parser = tool_parser(__doc__, prog="ctxseg-browse")
    parser.add_argument("--dataset", help="a registered dataset name (instead of --config-file)")
    parser.add_argument("--source", choices=("dataset", "train"), default="dataset")
    parser.add_argument("--output", required=True, help="folder for the pictures")
    parser.add_argument("--max", type=positive_int, default=20, help="at most this many images")
    add_config_options(parser, required=False)
    return parser


def _dataset_and_mapper(args):
    from ctxseg.config import instantiate_config, load_config
    from ctxseg.data import SemSegDatasetMapper, check_dataset_names, get_dataset_dicts
    from ctxseg.utils.errors import UserError

    if (args.dataset is None) == (args.config_file is None):
        raise UserError("give either --dataset NAME or --config-file FILE")
    if args.config_file is None:
        if args.source == "train":
            raise UserError("--source train needs --config-file (the training mapper comes from the config)")
        if config_overrides(args):
            raise UserError("key=value overrides need --config-file")
        from detectron2.data import MetadataCatalog

        get_dataset_dicts(args.dataset)  # an unknown name lists the known ones
        meta = MetadataCatalog.get(args.dataset)
        mapper = SemSegDatasetMapper(False, [], num_classes=len(meta.stuff_classes),
                                     ignore_label=meta.get("ignore_label", 255))
        return args.dataset, mapper
    cfg = load_config(args.config_file, config_overrides(args))
    split = "train" if args.source == "train" else "test"
    check_dataset_names(cfg, splits=(split,))
    loader = cfg.dataloader[split]
    mapper = instantiate_config(loader.mapper, f"dataloader.{split}.mapper")
    if args.source == "dataset":
        mapper = SemSegDatasetMapper(False, [], num_classes=mapper.num_classes, ignore_label=mapper.ignore_label)
    return loader.dataset.name, mapper


def draw(sample, metadata):
    """The RGB picture of a mapped sample with its label drawn over it."""
    import cv2
    import numpy as np
    from detectron2.utils.visualizer import Visualizer

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


def run(args):
    """Write up to --max pictures."""
    import cv2

    import ctxseg  # noqa: F401  (first: it patches Detectron2)
    # isort: split
    from detectron2.data import MetadataCatalog

    from ctxseg.data import get_dataset_dicts
    from ctxseg.utils import atomic_write

    name, mapper = _dataset_and_mapper(args)
    metadata = MetadataCatalog.get(name)
    dicts = get_dataset_dicts(name)[: args.max]
    os.makedirs(args.output, exist_ok=True)
    for record in dicts:
        sample = mapper(record)
        stem = os.path.splitext(os.path.basename(record["file_name"]))[0]
        ok, encoded = cv2.imencode(".jpg", draw(sample, metadata)[:, :, ::-1])
        if not ok:
            raise OSError(f"cannot encode the picture of {record['file_name']}")
        with atomic_write(os.path.join(args.output, f"{stem}_{args.source}.jpg")) as f:
            f.write(encoded.tobytes())
    print(f"Wrote {len(dicts)} pictures of {name} ({args.source}) to {args.output}")
    return 0


def main(argv=None):
    """Entry point of ``ctxseg-browse``."""
    return run_tool(run, parse_tool_args(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
