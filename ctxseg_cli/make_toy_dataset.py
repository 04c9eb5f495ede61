"""Make the built-in toy dataset: textured objects whose classes cannot be told apart by colour.

    ctxseg-make-toy --output datasets/toy [--train 1200 --val 100 --size 128 160 --seed 0 --workers 2]
    ctxseg-make-toy --kind context --output datasets/toy_context

(``python tools/make_toy_dataset.py`` in a checkout is the same command; ``--out`` is accepted for
``--output``.) Writes, deterministically, ``OUTPUT/images/{training,validation}/toy_NNNNN.png`` and
``OUTPUT/annotations/...`` in ADE20K's raw layout (0 unlabelled band, 1 background, 2..7 the six
textures), registered as ``toy_sem_seg_train/val`` when OUTPUT is ``$DETECTRON2_DATASETS/toy``. Running
again with the same parameters does nothing; ``--overwrite`` replaces a toy dataset made with other
parameters, never a folder the generator did not make. ``--kind context`` makes the toy where context
decides (an object's class is set by a marker far away in its image), registered as
``toy_context_sem_seg_train/val`` when OUTPUT is ``$DETECTRON2_DATASETS/toy_context``.
"""
import os
import sys

from .runner import parse_tool_args, run_tool, tool_parser

__all__ = ["build_parser", "main"]


def build_parser():
    """The command-line interface."""
    parser = tool_parser(__doc__, prog="ctxseg-make-toy")
    parser.add_argument("--output", "--out", dest="output", required=True, help="output folder, e.g. datasets/toy")
    parser.add_argument("--train", type=int, default=1200, help="number of training images")
    parser.add_argument("--val", type=int, default=100, help="number of validation images")
    parser.add_argument("--size", type=int, nargs=2, default=(128, 160), metavar=("H", "W"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                        help="processes that draw images (the files do not depend on it)")
    parser.add_argument("--kind", choices=("texture", "context"), default="texture",
                        help="texture: classes told by texture (toy); context: told by a distant marker (toy_context)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a toy dataset made with other parameters")
    return parser


def run(args):
    """Generate the dataset; say what was done."""
    from ctxseg.data.datasets.toy_generator import generate
    from ctxseg.utils.errors import UserError

    if args.train < 0 or args.val < 0 or min(args.size) < 8:
        raise UserError("need --train and --val >= 0 and --size of at least 8 8, got "
                        f"--train {args.train} --val {args.val} --size {args.size[0]} {args.size[1]}")
    if args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    if generate(args.output, args.train, args.val, args.size, args.seed, args.overwrite, args.workers, args.kind):
        print(f"Wrote {args.train} training and {args.val} validation images to {args.output}")
    else:
        print(f"{args.output} already holds the toy dataset with these parameters; nothing to do")
    return 0


def main(argv=None):
    """Entry point of ``ctxseg-make-toy``."""
    return run_tool(run, parse_tool_args(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
