"""Load a config file and build objects from it, with errors that name the file and the key."""
import os
from typing import Iterable, Optional

from omegaconf import DictConfig

from ..utils.errors import ConfigError, UserError
from .overrides import apply_overrides

__all__ = ["load_config", "instantiate_config", "CONFIG_EXTENSIONS"]

CONFIG_EXTENSIONS = (".py", ".yaml", ".yml")


def load_config(path: str, overrides: Optional[Iterable[str]] = None) -> DictConfig:
    """Load the LazyConfig at ``path`` and apply checked ``key=value`` overrides (``ctxseg.config.overrides``).

    A missing file, a file of another kind or a config that fails to execute is a ``ConfigError``
    naming the file.
    """
    from detectron2.config import LazyConfig

    if not os.path.exists(path):
        raise ConfigError(f"config file not found: {path}")
    if not os.path.isfile(path):
        raise ConfigError(f"config file {path} is not a file")
    if os.path.splitext(path)[1] not in CONFIG_EXTENSIONS:
        raise ConfigError(f"config file {path} must be a LazyConfig ({', '.join(CONFIG_EXTENSIONS)})")
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
