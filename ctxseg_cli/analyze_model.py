"""Parameter and FLOP counts of a config's model (fvcore; one multiply-add counts as one flop).

    ctxseg-analyze --config-file configs/toy/fpn_r18_toy.py --tasks params flops --size 512 512
    ctxseg-analyze --config-file CFG --tasks params model.backbone.bottom_up.depths=[2,2,6,2]

(``python tools/analyze_model.py`` in a checkout is the same command.)
"""
import sys

from .runner import add_config_options, config_overrides, run_tool, tool_parser

__all__ = ["build_parser", "main"]


def build_parser():
    """The command-line interface."""
    parser = tool_parser(__doc__, prog="ctxseg-analyze")
    parser.add_argument("--tasks", nargs="+", choices=["params", "flops"], default=["params"])
    parser.add_argument("--size", nargs=2, type=int, default=[512, 512], metavar=("H", "W"),
                        help="input size for the flop count")
    parser.add_argument("--depth", type=int, default=2, help="depth of the per-module parameter table")
    add_config_options(parser)
    return parser


def count_flops(model, height, width):
    """Total flops (multiply-adds) of one inference forward at (height, width), and the analysis."""
    import torch
    from fvcore.nn import FlopCountAnalysis

    image = torch.zeros(3, height, width)
    inputs = [{"image": image, "height": height, "width": width}]
    model.eval()
    with torch.no_grad():
        analysis = FlopCountAnalysis(model, (inputs,))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return analysis.total(), analysis


def run(args):
    """Print the requested counts."""
    import logging

    from fvcore.nn import parameter_count, parameter_count_table

    from ctxseg.config import instantiate_config, load_config

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    cfg = load_config(args.config_file, config_overrides(args))
    model = instantiate_config(cfg.model, "model")
    if "params" in args.tasks:
        counts = parameter_count(model)
        print(parameter_count_table(model, max_depth=args.depth))
        print(f"parameters: total {counts['']:,}")
        for name in ("backbone", "backbone.bottom_up", "sem_seg_head"):
            if name in counts:
                print(f"parameters: {name} {counts[name]:,}")
    if "flops" in args.tasks:
        total, _ = count_flops(model, *args.size)
        print(f"flops (multiply-adds) at {args.size[0]}x{args.size[1]}: {total / 1e9:.2f} G")
    return 0


def main(argv=None):
    """Entry point of ``ctxseg-analyze``."""
    return run_tool(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
