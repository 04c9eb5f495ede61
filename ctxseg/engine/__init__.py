"""Training: optimizer groups, LR schedule, trainer, atomic checkpointer, CPU-capable launcher."""
from .checkpointer import AtomicCheckpointer
from .launch import launch
from .optimizer import param_groups_by_name
from .schedule import WarmupPolyScheduler
from .train_loop import build_model, do_test, do_train, eval_only, resolve_device
from .trainer import SegTrainer

__all__ = ["AtomicCheckpointer", "launch", "param_groups_by_name", "WarmupPolyScheduler", "build_model",
           "do_test", "do_train", "eval_only", "resolve_device", "SegTrainer"]
