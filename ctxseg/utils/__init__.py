"""Small utilities shared across ctxseg."""
from .atomic import atomic_write

__all__ = ["atomic_write"]
