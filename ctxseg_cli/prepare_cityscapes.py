"""Prepare Cityscapes: polygon JSONs -> ``*_labelTrainIds.png`` (19 trainIds, 255 ignore) with cityscapesscripts.

    ctxseg-prepare-cityscapes [--root datasets/cityscapes] [--coarse] [--workers 4] [--allow-partial]

(``python tools/prepare_cityscapes.py`` in a checkout is the same command; needs cityscapesscripts.)
Fine: ``gtFine/{train,val,test}/<city>/*_gtFine_polygons.json`` -> ``*_gtFine_labelTrainIds.png``
(``cityscapes_fine_sem_seg_*``). With ``--coarse``: ``gtCoarse/train_extra/<city>/*_gtCoarse_polygons.json``
-> ``*_gtCoarse_labelTrainIds.png`` (``cityscapes_coarse_sem_seg_train_extra``, IIWA's coarse stage).
Idempotent (up-to-date outputs skipped, unchanged bytes never rewritten), atomic per file.
"""
import sys

from .runner import add_preparation_options, parse_tool_args, run_tool, tool_parser

__all__ = ["build_parser", "main"]


def build_parser():
    """The command-line interface."""
    parser = tool_parser(__doc__, prog="ctxseg-prepare-cityscapes")
    add_preparation_options(parser, "cityscapes folder (default: $DETECTRON2_DATASETS/cityscapes)")
    parser.add_argument("--coarse", action="store_true", help="also convert gtCoarse/train_extra")
    return parser


def run(args):
    """Convert the fine (and coarse) annotations; 1 if a file failed."""
    from ctxseg.data.datasets.prepare_cityscapes import prepare

    return prepare(args.root, args.workers, args.allow_partial, coarse=args.coarse)


def main(argv=None):
    """Entry point of ``ctxseg-prepare-cityscapes``."""
    return run_tool(run, parse_tool_args(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
