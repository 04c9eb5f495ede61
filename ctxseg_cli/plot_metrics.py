"""Plot a training run's loss, learning rate and evaluation scores over iterations (from its metrics.json).

    ctxseg-plot output/fpn_r18_toy                      # writes output/fpn_r18_toy/metrics.png
    ctxseg-plot output/fpn_r18_toy --output curves.png

(``python tools/plot_metrics.py`` in a checkout is the same command.) The evaluation also draws its confusion
matrix: ``<output dir>/inference/sem_seg_confusion.png``.
"""
import os
import sys

from .runner import parse_tool_args, run_tool, tool_parser

__all__ = ["build_parser", "main"]


def build_parser():
    """The command-line interface."""
    parser = tool_parser(__doc__, prog="ctxseg-plot")
    parser.add_argument("output_dir", metavar="OUTPUT_DIR", help="a training run's output dir (with metrics.json)")
    parser.add_argument("--output", help="the PNG to write (default: OUTPUT_DIR/metrics.png)")
    return parser


def run(args):
    """Draw the curves."""
    from ctxseg.visualization import plot_metrics

    output = args.output or os.path.join(args.output_dir, "metrics.png")
    plot_metrics(os.path.join(args.output_dir, "metrics.json"), output)
    print(f"wrote {output}")
    return 0


def main(argv=None):
    """Entry point of ``ctxseg-plot``."""
    return run_tool(run, parse_tool_args(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
