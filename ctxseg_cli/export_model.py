"""Export a trained model to ONNX, TorchScript or torch.export with dynamic height and width, checked.

    ctxseg-export --config-file configs/toy/fpn_r18_toy.py --format onnx --output model.onnx \
        train.init_checkpoint=output/fpn_r18_toy/model_final.pth
    ctxseg-export --config-file CFG --format torch-export --size 512 512 --check-sizes 384 448 640 576 \
        --output model.pt2 train.init_checkpoint=M

(``python tools/export_model.py`` in a checkout is the same command; ONNX needs ``pip install 'ctxseg[export]'``.)
The graph is the whole-image forward: input ``image`` (1, 3, H, W) float32 RGB on 0..255, already resized as
the config's test pipeline resizes; output ``logits`` (1, K, H, W). Test resize, sliding windows, TTA views
and the softmax stay outside it. The export is run on images of the ``--check-sizes`` (other than the traced
``--size``) and compared with PyTorch; it is written only if every logit is within 1e-4 and every label is
the same. IIWA models cannot be exported: their window matching is data-dependent host code (SciPy).
"""
import sys

from .runner import add_config_options, config_overrides, parse_tool_args, run_tool, tool_parser

__all__ = ["build_parser", "main"]

FORMATS = ("onnx", "torchscript", "torch-export")  # the keys of ctxseg.export.FORMATS (no torch import here)


def build_parser():
    """The command-line interface."""
    parser = tool_parser(__doc__, prog="ctxseg-export")
    parser.add_argument("--format", required=True, choices=FORMATS, help="the exported file's format")
    parser.add_argument("--output", required=True, help="the file to write (.onnx, .ts, .pt2)")
    parser.add_argument("--size", nargs=2, type=int, default=[512, 512], metavar=("H", "W"),
                        help="size of the image the graph is traced with")
    parser.add_argument("--check-sizes", nargs="+", type=int, default=[384, 448, 608, 544], metavar="H W",
                        help="sizes (pairs H W) the export is checked on against PyTorch")
    add_config_options(parser)
    return parser


def run(args):
    """Export, check and report."""
    from ctxseg.config import instantiate_config, load_config
    from ctxseg.export import describe_checks, export_model
    from ctxseg.inference import load_weights
    from ctxseg.utils.errors import UserError

    if len(args.check_sizes) % 2:
        raise UserError(f"--check-sizes takes pairs H W, got {len(args.check_sizes)} numbers")
    sizes = [tuple(args.check_sizes[i:i + 2]) for i in range(0, len(args.check_sizes), 2)]
    cfg = load_config(args.config_file, config_overrides(args))
    model = instantiate_config(cfg.model, "model")
    load_weights(model, cfg.train.init_checkpoint, allow_pickle=cfg.train.get("allow_pickle", False))
    checks = export_model(model, args.format, args.output, size=tuple(args.size), check_sizes=sizes)
    print(f"wrote {args.output} ({args.format}, traced at {args.size[0]}x{args.size[1]}, dynamic height and width)")
    print("checked against PyTorch:\n" + describe_checks(checks))
    return 0


def main(argv=None):
    """Entry point of ``ctxseg-export``."""
    return run_tool(run, parse_tool_args(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
