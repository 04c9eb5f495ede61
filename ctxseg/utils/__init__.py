"""Small utilities shared across ctxseg."""
from .atomic import atomic_write
from .errors import CheckpointError, ConfigError, DataError, UserError

__all__ = ["atomic_write", "UserError", "ConfigError", "CheckpointError", "DataError"]
