"""Training and evaluation driven by a LazyConfig: what ``tools/train_net.py`` runs in each process."""
import logging
import os

import torch
from detectron2.config import instantiate
from detectron2.engine import hooks
from detectron2.engine.defaults import default_writers
from detectron2.evaluation import inference_on_dataset, print_csv_format
from detectron2.utils import comm
from torch.nn.parallel import DistributedDataParallel

from .checkpointer import AtomicCheckpointer
from .trainer import SegTrainer

__all__ = ["resolve_device", "build_model", "do_test", "do_train"]

logger = logging.getLogger("ctxseg")


def resolve_device(device):
    """"auto" -> "cuda" when available, else "cpu"; any other value is returned unchanged."""
    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"train.device={device} but CUDA is not available; use train.device=auto or cpu")
    return device


def build_model(cfg):
    """Instantiate ``cfg.model`` on ``cfg.train.device``."""
    model = instantiate(cfg.model)
    device = resolve_device(cfg.train.get("device", "auto"))
    if device.startswith("cuda") and comm.get_world_size() > 1:
        device = f"cuda:{comm.get_local_rank()}"
    return model.to(device)


def _wrap_ddp(model, cfg):
    if comm.get_world_size() == 1:
        return model
    kwargs = dict(cfg.train.get("ddp", {}))
    kwargs.pop("fp16_compression", None)
    if next(model.parameters()).is_cuda:
        kwargs.setdefault("device_ids", [comm.get_local_rank()])
    return DistributedDataParallel(model, **kwargs)


def do_test(cfg, model):
    """Evaluate ``model`` on ``cfg.dataloader.test`` with ``cfg.dataloader.evaluator``; return results."""
    if "evaluator" not in cfg.dataloader:
        return {}
    evaluator = instantiate(cfg.dataloader.evaluator)
    results = inference_on_dataset(model, instantiate(cfg.dataloader.test), evaluator)
    if comm.is_main_process() and results:
        print_csv_format(results)
    return results


def do_train(args, cfg):
    """Train ``cfg.model`` with periodic checkpoints, evaluation and metric writers; resume if asked."""
    model = build_model(cfg)
    logger.info("Model:\n%s", model)
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    train_loader = instantiate(cfg.dataloader.train)
    ddp_model = _wrap_ddp(model, cfg)

    amp = cfg.train.get("amp", {})
    clip = cfg.train.get("clip_grad", {})
    trainer = SegTrainer(ddp_model, train_loader, optimizer,
                         amp=amp.get("dtype", "bf16") if amp.get("enabled", False) else None,
                         clip_grad=clip.get("max_norm") if clip.get("enabled", False) else None,
                         device_type="cuda" if next(model.parameters()).is_cuda else "cpu")
    checkpointer = AtomicCheckpointer(model, cfg.train.output_dir, trainer=trainer)
    trainer.register_hooks([
        hooks.IterationTimer(),
        hooks.LRScheduler(scheduler=instantiate(cfg.lr_multiplier)),
        hooks.PeriodicCheckpointer(checkpointer, **cfg.train.checkpointer) if comm.is_main_process() else None,
        hooks.EvalHook(cfg.train.eval_period, lambda: do_test(cfg, model)),
        hooks.PeriodicWriter(default_writers(cfg.train.output_dir, cfg.train.max_iter),
                             period=cfg.train.get("log_period", 20)) if comm.is_main_process() else None,
    ])

    checkpointer.resume_or_load(cfg.train.init_checkpoint, resume=args.resume)
    start_iter = trainer.iter + 1 if args.resume and checkpointer.has_checkpoint() else 0
    if start_iter > 0:
        logger.info("Resuming from iteration %d", start_iter)
    trainer.train(start_iter, cfg.train.max_iter)
    return trainer


def eval_only(cfg):
    """Load ``cfg.train.init_checkpoint`` and evaluate."""
    model = build_model(cfg)
    if not cfg.train.init_checkpoint:
        logger.warning("--eval-only without train.init_checkpoint: evaluating an untrained model")
    elif not os.path.isfile(cfg.train.init_checkpoint):
        raise FileNotFoundError(f"train.init_checkpoint not found: {cfg.train.init_checkpoint}")
    AtomicCheckpointer(model, cfg.train.output_dir).load(cfg.train.init_checkpoint)
    return do_test(cfg, model)
