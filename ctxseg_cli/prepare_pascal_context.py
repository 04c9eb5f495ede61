"""Prepare Pascal Context: 59-class PNGs from ``trainval_merged.json``, 459-class TIFFs from the ``.mat`` files.

    ctxseg-prepare-pascal-context [--root datasets/VOCdevkit/VOC2010] [--only 59|459] [--workers 4]
                                  [--allow-partial]

(``python tools/prepare_pascal_context.py`` in a checkout is the same command.) Reads
``ROOT/trainval_merged.json`` (``images[]`` with ``image_id``, ``file_name``, ``phase`` train/val,
``height``, ``width``; ``annos_segmentation[]`` with ``image_id``, ``category_id`` and an RLE) and
``ROOT/trainval/<id>.mat`` (``LabelMap``). Writes

    ROOT/annotations_ctx59/{training,validation}/<id>.png    uint8: 0..58, 255 (background, other classes)
    ROOT/annotations_ctx459/{training,validation}/<id>.tif   uint16: label - 1, 0 -> 65535

The JSON's ``phase`` chooses the split of both. Idempotent and atomic per file.
"""
import sys

from .runner import add_preparation_options, parse_tool_args, run_tool, tool_parser

__all__ = ["build_parser", "main"]


def build_parser():
    """The command-line interface."""
    parser = tool_parser(__doc__, prog="ctxseg-prepare-pascal-context")
    add_preparation_options(parser, "VOC2010 folder (default: $DETECTRON2_DATASETS/VOCdevkit/VOC2010)")
    parser.add_argument("--only", choices=("59", "459"), default=None, help="prepare one variant only")
    return parser


def run(args):
    """Prepare the 59- and/or 459-class labels; 1 if a file failed."""
    from ctxseg.data.datasets.prepare_pascal_context import prepare

    return prepare(args.root, args.workers, args.allow_partial, only=args.only)


def main(argv=None):
    """Entry point of ``ctxseg-prepare-pascal-context``."""
    return run_tool(run, parse_tool_args(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
