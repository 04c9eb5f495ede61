"""Checks of the ``train`` settings that would otherwise fail deep inside a library, or not at all."""
import numbers
from typing import Dict, Optional

from omegaconf import OmegaConf

from ..utils.errors import ConfigError

__all__ = ["validate_train_config"]


def _get(cfg, key, default=None):
    return OmegaConf.select(cfg, key, default=default)


def _check(cfg, key, check, expected, optional=False, key_names=None):
    value = _get(cfg, key)
    if value is None and optional:
        return
    if not check(value):
        raise ConfigError(f"{(key_names or {}).get(key, key)} must be {expected}, got {value!r}")


def _int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def validate_train_config(cfg, key_names: Optional[Dict[str, str]] = None) -> None:
    """Raise ``ConfigError`` for a ``train`` setting no run can use (a period of 0, ``max_iter`` <= 0, ...).

    ``key_names`` maps a checked key to the name a message gives it (the yacs key of a YAML config).
    """

    def _require(key, check, expected, optional=False):
        _check(cfg, key, check, expected, optional, key_names)

    if "train" not in cfg:
        raise ConfigError("the config has no 'train' section (output_dir, max_iter, ...)")
    _require("train.output_dir", lambda v: isinstance(v, str) and v.strip() != "", "a non-empty path")
    _require("train.max_iter", lambda v: _int(v) and v > 0, "a positive integer")
    _require("train.eval_period", lambda v: _int(v) and v >= 0, "an integer >= 0 (0: no periodic evaluation)",
             optional=True)
    _require("train.log_period", lambda v: _int(v) and v > 0, "a positive integer", optional=True)
    _require("train.checkpointer.period", lambda v: _int(v) and v > 0, "a positive integer", optional=True)
    _require("train.checkpointer.max_to_keep", lambda v: _int(v) and v > 0, "a positive integer or None",
             optional=True)
    _require("train.seed", _int, "an integer (< 0: a random seed)", optional=True)
    _require("train.device", lambda v: isinstance(v, str) and (v in ("auto", "cpu", "cuda") or v.startswith("cuda:")),
             "'auto', 'cpu', 'cuda' or 'cuda:N'", optional=True)
    _require("train.amp.dtype", lambda v: v in ("bf16", "fp16"), "'bf16' or 'fp16'", optional=True)
    if _get(cfg, "train.clip_grad.enabled"):
        _require("train.clip_grad.max_norm", lambda v: _number(v) and v > 0, "a positive number")
    _require("optimizer.lr", lambda v: _number(v) and v >= 0, "a number >= 0", optional=True)
    _require("dataloader.train.total_batch_size", lambda v: _int(v) and v > 0, "a positive integer",
             optional=True)
    for split in ("train", "test"):
        _require(f"dataloader.{split}.num_workers", lambda v: _int(v) and v >= 0, "an integer >= 0",
                 optional=True)
