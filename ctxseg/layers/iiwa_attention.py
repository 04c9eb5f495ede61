"""Multi-head attention pieces shared by the IIWA layers: head split/merge, attention, relative positions."""
from typing import Optional, Tuple

import torch
from einops import rearrange
from torch import nn

from .window import WindowSize

__all__ = ["check_window_size", "check_heads", "split_heads", "merge_heads", "attend", "relative_position_index"]


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


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B, N, heads * d) -> (B, heads, N, d)."""
    return rearrange(x, "b n (h d) -> b h n d", h=num_heads)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, heads, N, d) -> (B, N, heads * d)."""
    return rearrange(x, "b h n d -> b n (h d)")


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float, bias: Optional[torch.Tensor] = None,
           softmax: bool = True, attn_drop: Optional[nn.Module] = None) -> torch.Tensor:
    """Multi-head attention on split heads: ``A = softmax(scale * q k^T + bias)``, returns ``A v``.

    ``softmax=False`` keeps the raw bilinear scores (the released Cross-IIWA local branch).
    """
    # Scaling q before the product (not the scores after) follows the released layers' rounding.
    attn = (q * scale) @ k.transpose(-2, -1)
    if bias is not None:
        attn = attn + bias
    if softmax:
        attn = attn.softmax(dim=-1)
    if attn_drop is not None:
        attn = attn_drop(attn)
    return attn @ v


def relative_position_index(window_q: WindowSize, window_k: Optional[WindowSize] = None) -> torch.Tensor:
    """Index (Nq, Nk) into a relative-position bias table of ((hq + hk - 1) * (wq + wk - 1)) rows.

    For a query token (iq, jq) of an hq x wq window and a key token (ik, jk) of an hk x wk window:
    ``(iq - ik + hk - 1) * (wq + wk - 1) + (jq - jk + wk - 1)``. With equal windows (the default,
    ``window_k=None``) this is Swin's index over a table of (2h - 1)(2w - 1) rows.
    """
    hq, wq = window_q
    hk, wk = window_q if window_k is None else window_k
    iq = torch.arange(hq).repeat_interleave(wq)
    jq = torch.arange(wq).repeat(hq)
    ik = torch.arange(hk).repeat_interleave(wk)
    jk = torch.arange(wk).repeat(hk)
    rows = iq[:, None] - ik[None, :] + hk - 1
    cols = jq[:, None] - jk[None, :] + wk - 1
    return rows * (wq + wk - 1) + cols
