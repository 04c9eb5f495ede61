"""Detectron2 yacs configs (``.yaml`` files with ``_BASE_``) as the LazyConfig sections ctxseg's engine runs.

There is one training engine, driven by a LazyConfig; a yacs config is turned into the same five sections:

* ``model``: the whole ``MODEL`` node, built through Detectron2's registries (``build_model_from_yacs``);
* ``dataloader``: the shared pipeline builder (``configs/common/data/semseg_pipeline.py``) called with
  ``DATASETS``, ``INPUT`` (``BASE_SCALE``, ``RATIO_RANGE``, ``CROP.SIZE``, ``TEST_SIZE_DIVISOR``),
  ``DATALOADER.NUM_WORKERS``, ``SOLVER.IMS_PER_BATCH`` and the head's classes and ignore value;
* ``optimizer``: ``configs/common/optim.py``'s AdamW (``SOLVER.OPTIMIZER: ADAMW``) or SGD, with
  ``SOLVER.BASE_LR``, ``WEIGHT_DECAY``, ``MOMENTUM``, ``NESTEROV`` and ``PARAM_GROUPS``;
* ``lr_multiplier``: ``configs/common/schedule.py``'s warm-up + poly (``SOLVER.LR_SCHEDULER_NAME:
  WarmupPolyLR``, ``WARMUP_ITERS``, ``WARMUP_FACTOR``, ``POLY_LR_POWER``, ``POLY_LR_MIN_VALUE``);
* ``train``: ``configs/common/train.py`` with the keys of :data:`TRAIN_KEYS`.

Overrides of a YAML config name its own keys: ``SOLVER.MAX_ITER=100 MODEL.SWIN.EMBED_DIM=64`` (values
as yacs reads them: Python literals, else the text; ``None``, ``none`` and ``null`` mean None; an
integer is accepted for a float key). Detectron2 keys the engine does not read are refused when they
differ from Detectron2's default (:data:`UNREAD_KEYS`), so that no setting is silently ignored.
"""
import copy
import difflib
import importlib.util
import os
from typing import TYPE_CHECKING, Dict, Iterable, Optional

import yaml
from omegaconf import DictConfig, OmegaConf

from ..utils.errors import ConfigError, UserError
from .defaults import add_ctxseg_config

if TYPE_CHECKING:
    from detectron2.config import CfgNode
    from torch import nn

__all__ = ["is_yacs_yaml", "get_ctxseg_cfg", "load_yacs_config", "apply_yacs_overrides", "yacs_to_lazy",
           "build_model_from_yacs", "TRAIN_KEYS", "UNREAD_KEYS"]

# LazyConfig key <- yacs key, for the train section (and for messages that name a key).
TRAIN_KEYS = {
    "train.output_dir": "OUTPUT_DIR",
    "train.init_checkpoint": "MODEL.WEIGHTS",
    "train.max_iter": "SOLVER.MAX_ITER",
    "train.seed": "SEED",
    "train.device": "MODEL.DEVICE",
    "train.amp.enabled": "SOLVER.AMP.ENABLED",
    "train.amp.dtype": "SOLVER.AMP.DTYPE",
    "train.clip_grad.enabled": "SOLVER.CLIP_GRADIENTS.ENABLED",
    "train.clip_grad.max_norm": "SOLVER.CLIP_GRADIENTS.CLIP_VALUE",
    "train.checkpointer.period": "SOLVER.CHECKPOINT_PERIOD",
    "train.eval_period": "TEST.EVAL_PERIOD",
}
# The other LazyConfig keys a check may name, with the yacs key they come from.
KEY_NAMES = dict(TRAIN_KEYS, **{
    "optimizer.lr": "SOLVER.BASE_LR",
    "dataloader.train.total_batch_size": "SOLVER.IMS_PER_BATCH",
    "dataloader.train.num_workers": "DATALOADER.NUM_WORKERS",
    "dataloader.test.num_workers": "DATALOADER.NUM_WORKERS",
})
# Detectron2 keys ctxseg's engine does not read, with what to use instead; refused unless at their default.
UNREAD_KEYS = {
    "INPUT.MIN_SIZE_TRAIN": "INPUT.BASE_SCALE and INPUT.RATIO_RANGE",
    "INPUT.MIN_SIZE_TRAIN_SAMPLING": "INPUT.RATIO_RANGE",
    "INPUT.MAX_SIZE_TRAIN": "INPUT.BASE_SCALE",
    "INPUT.MIN_SIZE_TEST": "INPUT.BASE_SCALE",
    "INPUT.MAX_SIZE_TEST": "INPUT.BASE_SCALE",
    "INPUT.RANDOM_FLIP": "nothing: training always flips horizontally",
    "SOLVER.STEPS": "the poly schedule (SOLVER.POLY_LR_POWER)",
    "SOLVER.GAMMA": "the poly schedule (SOLVER.POLY_LR_POWER)",
    "SOLVER.BIAS_LR_FACTOR": "SOLVER.PARAM_GROUPS",
    "SOLVER.WEIGHT_DECAY_NORM": "SOLVER.PARAM_GROUPS",
    "SOLVER.WEIGHT_DECAY_BIAS": "SOLVER.PARAM_GROUPS",
    "SOLVER.REFERENCE_WORLD_SIZE": "SOLVER.IMS_PER_BATCH (the total batch)",
    "TEST.AUG.ENABLED": "MODEL.SEGMENTOR.TTA_SCALES and TTA_FLIP",
    "DATALOADER.SAMPLER_TRAIN": "nothing: the training sampler is fixed",
}
# Values of Detectron2 keys the engine implements only in one way.
REQUIRED_VALUES = {
    "INPUT.FORMAT": ("RGB", "ctxseg's data pipeline gives RGB images (set MODEL.PIXEL_MEAN / PIXEL_STD in RGB "
                            "order too)"),
    "INPUT.CROP.ENABLED": (True, "ctxseg's training pipeline always crops to INPUT.CROP.SIZE"),
    "INPUT.CROP.TYPE": ("absolute", "INPUT.CROP.SIZE is the crop (H, W) in pixels"),
    "SOLVER.LR_SCHEDULER_NAME": ("WarmupPolyLR", "the schedule is linear warm-up then poly decay"),
    "SOLVER.WARMUP_METHOD": ("linear", "the warm-up is linear"),
}
_NONE_WORDS = ("None", "none", "null")
_LAZY_SECTIONS = ("model", "dataloader", "optimizer", "lr_multiplier", "train")


def is_yacs_yaml(path: str) -> bool:
    """Whether the YAML file at ``path`` is a yacs config (upper-case top-level keys or ``_BASE_``), not a
    saved LazyConfig (lower-case sections: ``model``, ``train``, ...)."""
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError:
        return False  # not plain YAML: LazyConfig.load reports it
    return isinstance(data, dict) and bool(data) and all(str(k) == str(k).upper() for k in data)


def get_ctxseg_cfg() -> "CfgNode":
    """Detectron2's default yacs config with ctxseg's keys (``add_ctxseg_config``)."""
    from detectron2.config import get_cfg

    return add_ctxseg_config(get_cfg())


def _close_keys(cfg, key):
    keys = _all_keys(cfg)
    return difflib.get_close_matches(key, keys, n=3, cutoff=0.6)


def _all_keys(node, prefix=""):
    keys = []
    for name, value in node.items():
        keys.append(prefix + name)
        if isinstance(value, dict):
            keys += _all_keys(value, prefix + name + ".")
    return keys


def _select(cfg, key):
    node = cfg
    for part in key.split("."):
        if not hasattr(node, "keys") or part not in node:
            raise KeyError(key)
        node = node[part]
    return node


def _unknown_key_message(cfg, key, where):
    hint = _close_keys(cfg, key)
    message = f"{where}: the config has no key '{key}'"
    if hint:
        message += f"; did you mean {', '.join(hint)}?"
    if key.split(".")[0] in _LAZY_SECTIONS:
        message += " (a YAML config takes its own upper-case keys, e.g. SOLVER.MAX_ITER=1000)"
    return message


def apply_yacs_overrides(cfg: "CfgNode", overrides: Iterable[str]) -> "CfgNode":
    """Apply ``KEY=VALUE`` overrides to the yacs config ``cfg`` in place (see the module docstring); return it."""
    for text in overrides or []:
        if "=" not in text:
            raise ConfigError(f"override '{text}' is not of the form KEY=VALUE")
        key, raw = (part.strip() for part in text.split("=", 1))
        if key.startswith("+"):
            raise ConfigError(f"override '{text}': a YAML config has a fixed set of keys; '+' cannot add one")
        try:
            old = _select(cfg, key)
        except KeyError:
            raise ConfigError(_unknown_key_message(cfg, key, f"override '{text}'")) from None
        if hasattr(old, "keys"):
            raise ConfigError(f"override '{text}': {key} is a section; override its keys ({key}.<NAME>=value)")
        value = None if raw in _NONE_WORDS else cfg._decode_cfg_value(raw)
        if isinstance(old, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        try:
            cfg.merge_from_list([key, value])
        except (ValueError, AssertionError):
            raise ConfigError(f"override '{text}': {key} expects a value like {old!r}, got '{raw}'") from None
    return cfg


def load_yacs_config(path: str, overrides: Optional[Iterable[str]] = None) -> "CfgNode":
    """The yacs config of the YAML file at ``path`` (``_BASE_`` files merged) with checked ``KEY=VALUE`` overrides.

    It starts from Detectron2's defaults plus ctxseg's keys; an unknown key or a value of the wrong type,
    in the file or in an override, is a ``ConfigError`` naming the file and the key.
    """
    cfg = get_ctxseg_cfg()
    try:
        cfg.merge_from_file(path)
    except KeyError as e:
        key = str(e.args[0]).rsplit(":", 1)[-1].strip() if e.args else ""
        raise ConfigError(_unknown_key_message(cfg, key, f"config {path}")) from None
    except (ValueError, AssertionError, yaml.YAMLError) as e:
        raise ConfigError(f"config {path}: {e}") from None
    return apply_yacs_overrides(cfg, overrides)


def _check_engine_keys(cfg, source):
    from detectron2.config import get_cfg

    defaults = get_cfg()
    for key, instead in UNREAD_KEYS.items():
        try:
            value, default = _select(cfg, key), _select(defaults, key)
        except KeyError:
            continue
        if value != default:
            raise ConfigError(f"{source}: {key}={value!r} is not read by ctxseg's training; use {instead}")
    for key, (value, why) in REQUIRED_VALUES.items():
        if _select(cfg, key) != value:
            raise ConfigError(f"{source}: {key} must be {value!r} ({why}), got {_select(cfg, key)!r}")
    clip = cfg.SOLVER.CLIP_GRADIENTS
    if clip.ENABLED and (clip.CLIP_TYPE != "norm" or clip.NORM_TYPE != 2.0):
        raise ConfigError(f"{source}: gradient clipping is by the L2 norm: set SOLVER.CLIP_GRADIENTS.CLIP_TYPE to "
                          f"'norm' and NORM_TYPE to 2.0 (got {clip.CLIP_TYPE!r}, {clip.NORM_TYPE!r})")
    for key in ("DATASETS.TRAIN", "DATASETS.TEST"):
        if len(_select(cfg, key)) != 1:
            raise ConfigError(f"{source}: {key} must name one dataset, got {list(_select(cfg, key))}")
    for key in ("INPUT.CROP.SIZE", "INPUT.BASE_SCALE", "INPUT.RATIO_RANGE"):
        value = list(_select(cfg, key))
        integers = key != "INPUT.RATIO_RANGE"
        kind = (int,) if integers else (int, float)
        if (len(value) != 2 or not all(isinstance(v, kind) and not isinstance(v, bool) and v > 0 for v in value)
                or (not integers and value[0] > value[1])):
            expected = "two positive integers" if integers else "two positive numbers, low then high"
            raise ConfigError(f"{source}: {key} must be {expected}, got {value}")


def _config_file(name):
    from ctxseg.model_zoo import get_config_file

    return get_config_file(name)


def _load_module(path):
    spec = importlib.util.spec_from_file_location(f"ctxseg_config_{os.path.basename(path)[:-3]}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _dataloader(cfg):
    from detectron2.config import LazyCall as L

    from ctxseg.data import AlignResize

    pipeline = _load_module(_config_file("common/data/semseg_pipeline.py"))
    divisor = cfg.INPUT.TEST_SIZE_DIVISOR
    dataloader = pipeline.semseg_dataloader(
        cfg.DATASETS.TRAIN[0], cfg.DATASETS.TEST[0], cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
        tuple(cfg.INPUT.CROP.SIZE), tuple(cfg.INPUT.BASE_SCALE), ratio_range=tuple(cfg.INPUT.RATIO_RANGE),
        ignore_label=cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE, batch_size=cfg.SOLVER.IMS_PER_BATCH,
        num_workers=cfg.DATALOADER.NUM_WORKERS,
        extra_test_augmentations=[L(AlignResize)(size_divisor=divisor)] if divisor > 0 else [])
    # A test mapper that makes the multi-scale views itself takes the model's ratios.
    if "tta_scales" in dataloader.test.mapper:
        dataloader.test.mapper.tta_scales = list(cfg.MODEL.SEGMENTOR.TTA_SCALES) or None
    return dataloader


def _param_groups(cfg):
    custom_keys = {}
    for entry in cfg.SOLVER.PARAM_GROUPS:
        if (not isinstance(entry, (list, tuple)) or len(entry) != 3 or not isinstance(entry[0], str)
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in entry[1:])):
            raise ConfigError(f"SOLVER.PARAM_GROUPS entries must be [substring, lr_mult, decay_mult], got {entry!r}")
        custom_keys[entry[0]] = {"lr_mult": float(entry[1]), "decay_mult": float(entry[2])}
    return custom_keys


def _optimizer(cfg):
    import torch
    from detectron2.config import LazyCall as L

    solver = cfg.SOLVER
    optimizer = copy.deepcopy(_lazy_section("common/optim.py", "AdamW"))
    optimizer.params.custom_keys = _param_groups(cfg)
    if solver.OPTIMIZER == "SGD":
        optimizer = L(torch.optim.SGD)(params=optimizer.params, lr=0.0, momentum=solver.MOMENTUM,
                                       nesterov=solver.NESTEROV, weight_decay=0.0)
    elif solver.OPTIMIZER != "ADAMW":
        raise ConfigError(f"SOLVER.OPTIMIZER must be 'ADAMW' or 'SGD', got {solver.OPTIMIZER!r}")
    optimizer.lr = solver.BASE_LR
    optimizer.weight_decay = solver.WEIGHT_DECAY
    return optimizer


def _lr_multiplier(cfg):
    solver = cfg.SOLVER
    schedule = copy.deepcopy(_lazy_section("common/schedule.py", "lr_multiplier"))
    schedule.update(power=solver.POLY_LR_POWER, warmup_iters=solver.WARMUP_ITERS, warmup_ratio=solver.WARMUP_FACTOR,
                    min_value=solver.POLY_LR_MIN_VALUE)
    return schedule


def _train(cfg):
    train = copy.deepcopy(_lazy_section("common/train.py", "train"))
    for lazy_key, yacs_key in TRAIN_KEYS.items():
        OmegaConf.update(train, lazy_key.split(".", 1)[1], _select(cfg, yacs_key), merge=False)
    return train


def _lazy_section(name, section):
    from detectron2.config import LazyConfig

    return LazyConfig.load(_config_file(name))[section]


def yacs_to_lazy(cfg: "CfgNode", source: str = "the YAML config") -> DictConfig:
    """The LazyConfig (model, dataloader, optimizer, lr_multiplier, train) that runs the yacs config ``cfg``.

    ``source`` names the config in error messages (its file).
    """
    from detectron2.config import LazyCall as L

    _check_engine_keys(cfg, source)
    return OmegaConf.create({
        "model": L(build_model_from_yacs)(cfg={"MODEL": _plain(cfg.MODEL)}),
        "dataloader": _dataloader(cfg),
        "optimizer": _optimizer(cfg),
        "lr_multiplier": _lr_multiplier(cfg),
        "train": _train(cfg),
    }, flags={"allow_objects": True})


def _plain(node):
    """A yacs node as plain dicts and lists (tuples become lists)."""
    if hasattr(node, "keys"):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_plain(v) for v in node]
    return node


def build_model_from_yacs(cfg: Dict) -> "nn.Module":
    """Build ``cfg["MODEL"]`` (a yacs ``MODEL`` node as plain dicts) through ``META_ARCH_REGISTRY``, on the CPU.

    The ``model`` section of a converted YAML config calls it; a constructor refusing a value is a
    ``ConfigError`` naming the meta-architecture.
    """
    from detectron2.config import CfgNode
    from detectron2.modeling import META_ARCH_REGISTRY

    if isinstance(cfg, DictConfig):
        cfg = OmegaConf.to_container(cfg, resolve=True)
    node = CfgNode(cfg)
    name = node.MODEL.META_ARCHITECTURE
    if name not in META_ARCH_REGISTRY:
        raise ConfigError(f"MODEL.META_ARCHITECTURE: no meta-architecture '{name}' is registered")
    try:
        return META_ARCH_REGISTRY.get(name)(node)
    except UserError:
        raise
    except (TypeError, ValueError, RuntimeError) as e:
        raise ConfigError(f"cannot build the model ({name}) from the YAML config: {e}") from e


def load_yaml_config(path: str, overrides: Optional[Iterable[str]] = None) -> DictConfig:
    """The LazyConfig that runs the yacs config at ``path`` with ``KEY=VALUE`` overrides; train settings checked."""
    from .validation import validate_train_config

    lazy = yacs_to_lazy(load_yacs_config(path, overrides), source=f"config {path}")
    validate_train_config(lazy, key_names=KEY_NAMES)
    return lazy
