"""Parameter and FLOP counts of a config's model (fvcore; one multiply-add counts as one flop).

    ctxseg-analyze --config-file configs/toy/fpn_r18_toy.py --tasks params flops --size 512 512
    ctxseg-analyze --config-file CFG --tasks flops --as-configured --size 512 683
    ctxseg-analyze --config-file CFG --tasks params model.backbone.bottom_up.depths=[2,2,6,2]

(``python tools/analyze_model.py`` in a checkout is the same command.) By default ``flops`` counts one
whole-image, single-scale forward of a ``--size`` input, whatever the config's test mode (the number papers
report). ``--as-configured`` counts what the config's test does to a ``--size`` image instead: its test resize,
its multi-scale and flip views and its sliding windows; the output says how many forward passes that is.
"""
import sys

from .runner import add_config_options, config_overrides, parse_tool_args, run_tool, tool_parser

__all__ = ["build_parser", "main"]


def build_parser():
    """The command-line interface."""
    parser = tool_parser(__doc__, prog="ctxseg-analyze")
    parser.add_argument("--tasks", nargs="+", choices=["params", "flops"], default=["params"])
    parser.add_argument("--size", nargs=2, type=int, default=[512, 512], metavar=("H", "W"),
                        help="input size for the flop count (with --as-configured: the original image's size)")
    parser.add_argument("--as-configured", action="store_true",
                        help="count the config's whole test (test resize, TTA views, sliding windows)")
    parser.add_argument("--depth", type=int, default=2, help="depth of the per-module parameter table")
    add_config_options(parser)
    return parser


def run(args):
    """Print the requested counts."""
    import logging

    from fvcore.nn import parameter_count, parameter_count_table

    from ctxseg.config import instantiate_config, load_config
    from ctxseg.inference import count_configured_flops, count_whole_image_flops

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    cfg = load_config(args.config_file, config_overrides(args))
    model = instantiate_config(cfg.model, "model").eval()
    if "params" in args.tasks:
        counts = parameter_count(model)
        print(parameter_count_table(model, max_depth=args.depth))
        print(f"parameters: total {counts['']:,}")
        for name in ("backbone", "backbone.bottom_up", "sem_seg_head"):
            if name in counts:
                print(f"parameters: {name} {counts[name]:,}")
    if "flops" in args.tasks:
        height, width = args.size
        if args.as_configured:
            mapper = instantiate_config(cfg.dataloader.test.mapper, "dataloader.test.mapper")
            count = count_configured_flops(model, mapper, height, width)
        else:
            count = count_whole_image_flops(model, height, width)
        print(f"counted: {count.description}")
        print(f"flops (multiply-adds): {count.flops / 1e9:.2f} G")
    return 0


def main(argv=None):
    """Entry point of ``ctxseg-analyze``."""
    return run_tool(run, parse_tool_args(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
