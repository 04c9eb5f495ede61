#!/usr/bin/env python
"""Convert a checkpoint from another project's format into a ctxseg checkpoint ``{"model": state_dict}``.

    python tools/convert_weights.py --source swin-official swin_small_patch4_window7_224.pth swin_s.pth
    python tools/convert_weights.py --source swin-timm timm_swin.pth swin.pth --prefix backbone.
    python tools/convert_weights.py --source swin-official swin_base_384_22k.pth out.pth --window-size 7

Use the result with ``train.init_checkpoint=<out.pth>``. The report lists what the source had that the
model does not use, and what the model has that the source lacks (new layers start from their init).
"""
import argparse
import sys

import ctxseg  # noqa: F401  (patches Detectron2)
from ctxseg.checkpoint import convert_file, converter_names
from ctxseg.utils import UserError


def build_parser():
    """The command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, choices=converter_names(), help="format of the input checkpoint")
    parser.add_argument("input", help="checkpoint to convert")
    parser.add_argument("output", help="where to write the ctxseg checkpoint")
    parser.add_argument("--prefix", default=None,
                        help="prefix of the output keys, i.e. where the converted module sits in the model "
                             "(default: the converter's, e.g. 'backbone.bottom_up.' for a backbone under an FPN)")
    parser.add_argument("--window-size", type=int, default=None,
                        help="resize attention position tables to this window size (windowed models only)")
    parser.add_argument("--allow-pickle", action="store_true",
                        help="read a legacy pickled checkpoint (runs code from the file: only for files you trust)")
    return parser


def main(argv=None):
    """Convert, write, and print the report; exit with a message on a bad input."""
    args = build_parser().parse_args(argv)
    options = {}
    if args.prefix is not None:
        options["prefix"] = args.prefix
    if args.window_size is not None:
        options["window_size"] = args.window_size
    try:
        result = convert_file(args.source, args.input, args.output, allow_pickle=args.allow_pickle, **options)
    except (UserError, OSError, RuntimeError, ValueError, KeyError, TypeError) as e:
        sys.exit(f"error: cannot convert {args.input} with --source {args.source}: {e}")
    print(result.report())
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
