"""Convert a checkpoint from another project's format into a ctxseg checkpoint ``{"model": state_dict}``.

    ctxseg-convert --source swin-official swin_small_patch4_window7_224.pth --output swin_s.pth
    ctxseg-convert --source swin-timm timm_swin.pth --output swin.pth --prefix backbone.
    ctxseg-convert --source swin-official swin_base_384_22k.pth --output out.pth --window-size 7
    ctxseg-convert --source coc-imagenet coc_small.pth.tar --output coc_small.pth
    ctxseg-convert --source list        # the formats

(``python tools/convert_weights.py`` in a checkout is the same command; the output may also be given as a
second positional argument.) Use the result with ``train.init_checkpoint=<output>``. The report lists
what the source had that the model does not use, and what the model has that the source lacks (new
layers start from their init).
"""
import sys

from .runner import parse_tool_args, run_tool, tool_parser

__all__ = ["build_parser", "main"]


def build_parser():
    """The command-line interface."""
    parser = tool_parser(__doc__, prog="ctxseg-convert")
    parser.add_argument("--source", required=True,
                        help="format of the input checkpoint (swin-official, swin-timm, swin-mmseg, coc-imagenet, "
                             "coc-mmseg; 'list' prints the registered formats)")
    parser.add_argument("input", nargs="?", help="checkpoint to convert")
    parser.add_argument("output_positional", nargs="?", metavar="OUTPUT", help="the same as --output")
    parser.add_argument("--output", help="where to write the ctxseg checkpoint")
    parser.add_argument("--prefix", default=None,
                        help="prefix of the output keys, i.e. where the converted module sits in the model "
                             "(default: the converter's, e.g. 'backbone.bottom_up.' for a backbone under an FPN)")
    parser.add_argument("--window-size", type=int, default=None,
                        help="resize attention position tables to this window size (windowed models only)")
    parser.add_argument("--allow-pickle", action="store_true",
                        help="read a legacy pickled checkpoint (runs code from the file: only for files you trust)")
    return parser


def run(args):
    """Convert, write, and print the report."""
    from ctxseg.checkpoint import convert_file, converter_names
    from ctxseg.utils.errors import CheckpointError, UserError

    names = converter_names()
    if args.source == "list":
        print("\n".join(names))
        return 0
    if args.source not in names:
        raise UserError(f"--source {args.source}: unknown format; choose one of {', '.join(names)}")
    if args.input is None:
        raise UserError("give the checkpoint to convert")
    if args.output and args.output_positional:
        raise UserError("give the output once: --output OUT or a second positional argument, not both")
    output = args.output or args.output_positional
    if not output:
        raise UserError("give the output file with --output")
    options = {}
    if args.prefix is not None:
        options["prefix"] = args.prefix
    if args.window_size is not None:
        options["window_size"] = args.window_size
    try:
        result = convert_file(args.source, args.input, output, allow_pickle=args.allow_pickle, **options)
    except UserError:
        raise
    except (ValueError, KeyError, TypeError) as e:  # the converters' ways of refusing a checkpoint
        raise CheckpointError(f"cannot convert {args.input} with --source {args.source}: {e}") from e
    print(result.report())
    print(f"wrote {output}")
    return 0


def main(argv=None):
    """Entry point of ``ctxseg-convert``."""
    return run_tool(run, parse_tool_args(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
