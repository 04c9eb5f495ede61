#!/usr/bin/env python
"""Train or evaluate a ctxseg model described by a LazyConfig file.

    python tools/train_net.py --config-file configs/toy/fpn_r18_toy.py [key=value ...]
    python tools/train_net.py --config-file CFG --eval-only train.init_checkpoint=model_final.pth
    python tools/train_net.py --config-file CFG --resume          # continue from the last checkpoint
    python tools/train_net.py --config-file CFG --num-gpus 8      # one process per GPU (CPU: gloo)
"""
import os
import sys

import ctxseg  # noqa: F401  (patches Detectron2, registers models and datasets)
from detectron2.config import LazyConfig
from detectron2.engine import default_argument_parser
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from ctxseg.engine import default_setup, do_train, eval_only, launch


def load_config(args):
    """Load the LazyConfig and apply ``key=value`` overrides, with clear errors."""
    if not os.path.isfile(args.config_file):
        sys.exit(f"error: config file not found: {args.config_file}")
    cfg = LazyConfig.load(args.config_file)
    try:
        return LazyConfig.apply_overrides(cfg, args.opts)
    except Exception as e:  # omegaconf raises several types for a bad key or value
        sys.exit(f"error: cannot apply overrides {args.opts} to {args.config_file}: {e}")


def main(args):
    """Entry point of each process."""
    cfg = load_config(args)
    default_setup(cfg, args)
    setup_logger(cfg.train.output_dir, distributed_rank=comm.get_rank(), name="ctxseg")
    if args.eval_only:
        return eval_only(cfg)
    return do_train(args, cfg)


if __name__ == "__main__":
    args = default_argument_parser().parse_args()
    launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
           dist_url=args.dist_url, args=(args,))
