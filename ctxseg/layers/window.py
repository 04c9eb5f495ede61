"""Window helpers shared by every windowed module (Swin, IIWA): padding, partition, merge and pooling.

Tensors here are channel-last (B, H, W, C) unless a function says otherwise.
"""
from typing import Sequence, Tuple, Union

import torch
import torch.nn.functional as F

from .tracing import capturing_graph

__all__ = ["pad_to_multiple", "window_partition", "window_merge", "window_grid_size", "window_pool",
           "upsample_window_grid", "WindowSize"]

# A window or multiple size: one int for a square, or (height, width).
WindowSize = Union[int, Sequence[int]]


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def pad_to_multiple(x: torch.Tensor, multiple: WindowSize, channels_last: bool = True,
                    value: float = 0.0) -> torch.Tensor:
    """Zero-pad the spatial dims bottom/right up to multiples of ``multiple`` (int or (mh, mw))."""
    mh, mw = _pair(multiple)
    h, w = (x.shape[1], x.shape[2]) if channels_last else (x.shape[-2], x.shape[-1])
    pad_h, pad_w = (-h) % mh, (-w) % mw
    # A traced or exported graph must pad whenever the size asks for it, not as the traced size did.
    if not capturing_graph() and pad_h == 0 and pad_w == 0:
        return x
    if channels_last:
        return F.pad(x, (0, 0, 0, pad_w, 0, pad_h), value=value)
    return F.pad(x, (0, pad_w, 0, pad_h), value=value)


def window_partition(x: torch.Tensor, window_size: WindowSize) -> torch.Tensor:
    """Split (B, H, W, C) into non-overlapping windows: (B * nH * nW, wh, ww, C), row-major order."""
    wh, ww = _pair(window_size)
    b, h, w, c = x.shape
    if h % wh or w % ww:
        raise ValueError(f"window_partition: size {h}x{w} is not a multiple of the window {wh}x{ww}")
    x = x.view(b, h // wh, wh, w // ww, ww, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, wh, ww, c)


def window_merge(windows: torch.Tensor, window_size: WindowSize, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: (B * nH * nW, wh, ww, C) back to (B, H, W, C)."""
    wh, ww = _pair(window_size)
    nh, nw = height // wh, width // ww
    b = windows.shape[0] // (nh * nw)
    x = windows.view(b, nh, nw, wh, ww, -1)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, height, width, -1)


def window_grid_size(height: int, width: int, window_size: WindowSize) -> Tuple[int, int]:
    """Number of window rows and columns covering a (height, width) map once padded to window multiples."""
    wh, ww = _pair(window_size)
    return -(-height // wh), -(-width // ww)


def window_pool(x: torch.Tensor, window_size: WindowSize) -> torch.Tensor:
    """Average each window of (B, H, W, C) (H, W multiples of the window): (B, H / wh, W / ww, C).

    The windows come out in the raster order of :func:`window_partition`.
    """
    wh, ww = _pair(window_size)
    h, w = x.shape[1], x.shape[2]
    if h % wh or w % ww:
        raise ValueError(f"window_pool: size {h}x{w} is not a multiple of the window {wh}x{ww}")
    pooled = F.avg_pool2d(x.permute(0, 3, 1, 2).contiguous(), kernel_size=(wh, ww), stride=(wh, ww))
    return pooled.permute(0, 2, 3, 1)


def upsample_window_grid(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinearly resize a window grid (B, Hg, Wg, C) to (B, H, W, C) with ``align_corners=True``."""
    x = F.interpolate(x.permute(0, 3, 1, 2), size=tuple(size), mode="bilinear", align_corners=True)
    return x.permute(0, 2, 3, 1)
