#!/usr/bin/env python
"""Parameter and FLOP counts of a config's model (fvcore; one multiply-add counts as one flop).

    python tools/analyze_model.py --config-file configs/toy/fpn_r18_toy.py --tasks params flops --size 512 512
"""
import argparse
import logging
import os
import sys

import ctxseg  # noqa: F401  (patches Detectron2, registers models)
import torch
from detectron2.config import LazyConfig, instantiate
from fvcore.nn import FlopCountAnalysis, parameter_count, parameter_count_table


def parse_args(argv=None):
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True, help="a LazyConfig file")
    parser.add_argument("--tasks", nargs="+", choices=["params", "flops"], default=["params"])
    parser.add_argument("--size", nargs=2, type=int, default=[512, 512], metavar=("H", "W"),
                        help="input size for the flop count")
    parser.add_argument("--depth", type=int, default=2, help="depth of the per-module parameter table")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="key=value config overrides")
    return parser.parse_args(argv)


def count_flops(model, height, width):
    """Total flops (multiply-adds) of one inference forward at (height, width), and the analysis."""
    image = torch.zeros(3, height, width)
    inputs = [{"image": image, "height": height, "width": width}]
    model.eval()
    with torch.no_grad():
        analysis = FlopCountAnalysis(model, (inputs,))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return analysis.total(), analysis


def main(argv=None):
    """Print the requested counts."""
    args = parse_args(argv)
    if not os.path.isfile(args.config_file):
        sys.exit(f"error: config file not found: {args.config_file}")
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    cfg = LazyConfig.apply_overrides(LazyConfig.load(args.config_file), args.opts)
    model = instantiate(cfg.model)
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


if __name__ == "__main__":
    main()
