"""Training: optimizer groups, LR schedule, trainer, safe checkpointer, resumable runs, CPU-capable launcher."""
from .checkpointer import AtomicCheckpointer, CheckpointMismatchError
from .errors import TrainingDiverged, TrainingInterrupted
from .launch import launch
from .optimizer import param_groups_by_name
from .schedule import WarmupPolyScheduler
from .train_loop import build_model, default_setup, do_test, do_train, eval_only, resolve_device
from .trainer import SegTrainer

__all__ = ["AtomicCheckpointer", "CheckpointMismatchError", "TrainingDiverged", "TrainingInterrupted", "launch",
           "param_groups_by_name", "WarmupPolyScheduler", "build_model", "default_setup", "do_test", "do_train",
           "eval_only", "resolve_device", "SegTrainer"]
