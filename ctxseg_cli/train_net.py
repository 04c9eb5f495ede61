"""Train or evaluate a ctxseg model described by a config file.

    ctxseg-train --config-file configs/toy/fpn_r18_toy.py                      # train
    ctxseg-train --config-file CFG train.max_iter=1000 optimizer.lr=1e-4       # with overrides
    ctxseg-train --config-file CFG --resume                 # continue from the output dir's last checkpoint
    ctxseg-train --config-file CFG --eval-only train.init_checkpoint=output/model_final.pth
    ctxseg-train --config-file CFG --eval-only --precision bf16 train.init_checkpoint=output/model_final.pth
    ctxseg-train --config-file CFG --num-gpus 8             # one process per GPU (without CUDA: CPU processes)

    ctxseg-train --config-file configs/toy/fpn_swin_toy.yaml SOLVER.MAX_ITER=1000   # a yacs YAML config
    ctxseg-train --config-file toy/iiwa_swin_toy.py         # a model-zoo name (ctxseg.model_zoo.list_configs())

(``python tools/train_net.py`` in a checkout is the same command.) Overrides are ``key=value`` after the
options; the key must exist in the config or be an argument of what its section builds (``+key=value``
adds a new key); the value must have the type of the one it replaces; None, none and null mean None.
A yacs YAML config (upper-case keys, ``_BASE_``) takes its own keys the same way, ``KEY=VALUE``
(``SOLVER.BASE_LR=1e-4 MODEL.SWIN.DEPTHS=[2,2,18,2]``), and runs on the same engine. Each run logs
ctxseg's version and git commit and writes them to ``version.json`` in the output directory.
"""
import sys

from .runner import (
    add_config_options,
    add_precision_option,
    config_overrides,
    parse_tool_args,
    positive_int,
    run_tool,
    tool_parser,
)

__all__ = ["build_parser", "main"]


def build_parser():
    """The command-line interface."""
    parser = tool_parser(__doc__, prog="ctxseg-train")
    add_config_options(parser)
    parser.add_argument("--resume", action="store_true",
                        help="continue from the last checkpoint in train.output_dir (if there is one)")
    parser.add_argument("--eval-only", action="store_true", help="evaluate train.init_checkpoint, do not train")
    add_precision_option(parser, "--eval-only (training: train.amp.enabled and train.amp.dtype)")
    parser.add_argument("--allow-pickle", action="store_true",
                        help="also read legacy pickled checkpoints (this runs code from the file: only for files "
                             "you trust); the same as train.allow_pickle=True")
    parser.add_argument("--num-gpus", type=positive_int, default=1,
                        help="processes per machine: one per GPU, or CPU processes (gloo) without CUDA")
    parser.add_argument("--num-machines", type=positive_int, default=1, help="machines of a multi-machine job")
    parser.add_argument("--machine-rank", type=int, default=0, help="this machine's rank (0 .. num-machines - 1)")
    parser.add_argument("--dist-url", default="auto",
                        help="rendezvous URL of a multi-machine job, e.g. tcp://host:port (auto: a free local port)")
    return parser


def load_checked_config(args):
    """The config with the command line applied, its train settings and dataset names checked."""
    from ctxseg.config import load_config, validate_train_config
    from ctxseg.data import check_dataset_names

    cfg = load_config(args.config_file, config_overrides(args))
    if args.allow_pickle:
        cfg.train.allow_pickle = True
    validate_train_config(cfg)
    check_dataset_names(cfg, splits=("test",) if args.eval_only else ("train", "test"))
    return cfg


def process_main(args):
    """What each training or evaluation process runs."""
    import ctxseg  # noqa: F401  (patches Detectron2, registers models and datasets)
    # isort: split
    from detectron2.utils import comm
    from detectron2.utils.logger import setup_logger

    from ctxseg.engine import default_setup, do_train, eval_only, resolve_device  # default_setup: lock first
    from ctxseg.inference import inference_precision
    from ctxseg.utils.env import record_version_info

    cfg = load_checked_config(args)
    default_setup(cfg, args)
    logger = setup_logger(cfg.train.output_dir, distributed_rank=comm.get_rank(), name="ctxseg")
    if comm.is_main_process():
        record_version_info(cfg.train.output_dir, logger)
    if args.eval_only:
        with inference_precision(args.precision, resolve_device(cfg.train.get("device", "auto"))):
            return eval_only(cfg)
    return do_train(args, cfg)


def _spawned_process_main(args):
    # A user's mistake in one of several processes: one line from that process, then its exit status
    # tells the launcher (and the first process) to stop.
    from .runner import user_message

    try:
        process_main(args)
    except Exception as e:  # noqa: BLE001
        message = None if args.debug else user_message(e)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        sys.exit(getattr(e, "exit_code", 2))


def run(args):
    """Check the config once, then start the processes."""
    import ctxseg  # noqa: F401  (first: it patches Detectron2)
    # isort: split
    from torch.multiprocessing import ProcessExitedException

    from ctxseg.engine import launch
    from ctxseg.utils.errors import UserError

    if not 0 <= args.machine_rank < args.num_machines:
        raise UserError(f"--machine-rank must be in 0..{args.num_machines - 1}, got {args.machine_rank}")
    if args.precision != "fp32" and not args.eval_only:
        raise UserError(f"--precision {args.precision} applies to --eval-only; training sets its precision with "
                        f"train.amp.enabled=True train.amp.dtype={args.precision}")
    load_checked_config(args)  # fail here, before any process starts
    several = args.num_gpus * args.num_machines > 1
    try:
        launch(_spawned_process_main if several else process_main, args.num_gpus, num_machines=args.num_machines,
               machine_rank=args.machine_rank, dist_url=args.dist_url, args=(args,))
    except ProcessExitedException as e:
        error = UserError(f"training process {e.error_index} ended with status {e.exit_code} (its message is above)")
        error.exit_code = e.exit_code if e.exit_code and e.exit_code > 0 else 1
        raise error from None
    return 0


def main(argv=None):
    """Entry point of ``ctxseg-train``."""
    return run_tool(run, parse_tool_args(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
