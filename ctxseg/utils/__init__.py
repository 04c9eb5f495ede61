"""Small utilities shared across ctxseg."""
from .atomic import DiskFullError, atomic_write, remove_temporaries
from .errors import CheckpointError, ConfigError, DataError, UserError
from .run_lock import OutputDirLocked, lock_output_dir, unlock_output_dir

__all__ = ["atomic_write", "remove_temporaries", "DiskFullError", "UserError", "ConfigError", "CheckpointError",
           "DataError", "OutputDirLocked", "lock_output_dir", "unlock_output_dir"]
