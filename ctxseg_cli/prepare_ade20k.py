"""Prepare ADE20K for the ``ade20k_sem_seg_train/val`` entries: raw labels -> ``annotations_detectron2``.

    ctxseg-prepare-ade20k [--root datasets/ADEChallengeData2016] [--workers 4] [--allow-partial]

(``python tools/prepare_ade20k.py`` in a checkout is the same command.) Reads
``ROOT/annotations/{training,validation}/ADE_*.png`` (0 unlabelled, 1..150) and writes
``ROOT/annotations_detectron2/{training,validation}/ADE_*.png`` with label - 1 and 0 -> 255.
Idempotent (up-to-date outputs are skipped, unchanged bytes never rewritten), atomic per file.
The ``ade20k_raw_sem_seg_*`` entries need no preparation: they reduce the zero label on load.
"""
import sys

from .runner import add_preparation_options, parse_tool_args, run_tool, tool_parser

__all__ = ["build_parser", "main"]


def build_parser():
    """The command-line interface."""
    parser = tool_parser(__doc__, prog="ctxseg-prepare-ade20k")
    add_preparation_options(parser, "ADEChallengeData2016 folder (default: $DETECTRON2_DATASETS/ADEChallengeData2016)")
    return parser


def run(args):
    """Convert both splits; 1 if a file failed."""
    from ctxseg.data.datasets.prepare_ade20k import prepare

    return prepare(args.root, args.workers, args.allow_partial)


def main(argv=None):
    """Entry point of ``ctxseg-prepare-ade20k``."""
    return run_tool(run, parse_tool_args(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
