"""Load a config file and build objects from it, with errors that name the file and the key."""
import os
from typing import Iterable, Optional

from omegaconf import DictConfig

from ..utils.errors import ConfigError, UserError
from .overrides import apply_overrides

__all__ = ["load_config", "instantiate_config", "CONFIG_EXTENSIONS"]

CONFIG_EXTENSIONS = (".py", ".yaml", ".yml")


def _resolve_path(path):
    """``path``, or the packaged config of that model-zoo name (``toy/fpn_r18_toy.py``) when no such file exists."""
    if os.path.exists(path):
        return path
    from ..model_zoo import get_config_file

    try:
        return get_config_file(path)
    except ConfigError:
        raise ConfigError(f"config file not found: {path} (nor is it a model-zoo name: "
                          f"ctxseg.model_zoo.list_configs() lists them)") from None


def load_config(path: str, overrides: Optional[Iterable[str]] = None) -> DictConfig:
    """Load the config at ``path`` as a LazyConfig and apply checked ``key=value`` overrides.

    ``path`` is a LazyConfig (``.py``, or a ``.yaml`` one saved by a run; overrides as in
    ``ctxseg.config.overrides``), a Detectron2 yacs config (``.yaml`` with upper-case keys and ``_BASE_``;
    converted and overridden as ``ctxseg.config.yaml_config`` says), or a model-zoo name
    (``ctxseg.model_zoo``) when no file has that path. A missing file, a file of another kind or a
    config that fails to execute is a ``ConfigError`` naming the file.
    """
    from detectron2.config import LazyConfig

    path = _resolve_path(path)
    if not os.path.isfile(path):
        raise ConfigError(f"config file {path} is not a file")
    if os.path.splitext(path)[1] not in CONFIG_EXTENSIONS:
        raise ConfigError(f"config file {path} must be a LazyConfig (.py, .yaml) or a yacs config (.yaml)")
    from .yaml_config import is_yacs_yaml, load_yaml_config

    if is_yacs_yaml(path):
        return load_yaml_config(path, overrides)
    try:
        cfg = LazyConfig.load(path)
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001  (a config is code: anything may fail while it runs)
        raise ConfigError(f"cannot load config {path}: {type(e).__name__}: {e}") from e
    return apply_overrides(cfg, overrides or [])


def instantiate_config(cfg, key: str):
    """``detectron2.config.instantiate(cfg)``; a constructor refusing its arguments is a ``ConfigError`` naming ``key``.

    Constructors check their arguments and raise ``ValueError`` or ``TypeError`` with the reason (torch
    layers a ``RuntimeError`` for an impossible size); from a config those are the user's to fix, so the
    message says which config section they come from.
    """
    from detectron2.config import instantiate

    try:
        return instantiate(cfg)
    except UserError:
        raise
    except (TypeError, ValueError, RuntimeError) as e:
        raise ConfigError(f"cannot build '{key}' from the config: {e}") from e
