"""Argument checks of the IIWA layers; their attention kernel and relative positions live in ``attention``."""
from typing import Tuple

from .attention import attend, relative_position_index
from .window import WindowSize

__all__ = ["check_window_size", "check_heads", "attend", "relative_position_index"]


def check_window_size(value: WindowSize, owner: str, name: str) -> Tuple[int, int]:
    """Validate a window size argument (int or pair of positive ints) and return it as a tuple (h, w)."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ValueError(f"{owner}: {name} must be a positive int or a pair of positive ints, got {value!r}")
    return pair


def check_heads(dim: int, num_heads: int, owner: str, dim_name: str = "dim", heads_name: str = "num_heads") -> None:
    """Raise a clear error unless ``dim`` splits into ``num_heads`` heads and suits the sine embedding."""
    if num_heads <= 0 or dim % num_heads != 0:
        raise ValueError(f"{owner}: {dim_name}={dim} must be divisible by {heads_name}={num_heads}")
    if dim % 4 != 0:
        raise ValueError(f"{owner}: {dim_name}={dim} must be divisible by 4 (sine position embedding of "
                         f"the window tokens)")
