"""Window helpers shared by every windowed module (Swin, IIWA): padding, partition, merge and pooling.

Tensors here are channel-last (B, H, W, C) unless a function says otherwise.
"""
from typing import Sequence, Tuple, Union

import torch
import torch.nn.functional as F

from .tracing import capturing_graph

__all__ = ["pad_to_multiple", "window_partition", "window_merge", "add_windows", "window_grid_size", "window_pool",
           "upsample_window_grid", "shifted_window_order", "shifted_window_position", "permute_tokens", "WindowSize"]

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


def add_windows(x, windows, window_size):
    """``x + window_merge(windows)`` in one pass: x (B, H, W, C), windows (B * nH * nW, wh, ww, C) or any
    shape holding the same elements (e.g. (B * nH * nW, wh * ww, C)). The windows are read through a strided
    view instead of being merged into a copy first; the sum has x's layout."""
    wh, ww = _pair(window_size)
    b, h, w, c = x.shape
    merged = windows.reshape(b, h // wh, w // ww, wh, ww, c).permute(0, 1, 3, 2, 4, 5)
    return (x.reshape(b, h // wh, wh, w // ww, ww, c) + merged).reshape(b, h, w, c)


def window_grid_size(height: int, width: int, window_size: WindowSize) -> Tuple[int, int]:
    """Number of window rows and columns covering a (height, width) map once padded to window multiples."""
    wh, ww = _pair(window_size)
    # Ceiling division on non-negative integers: traced shapes export to ONNX, whose division truncates.
    return (height + wh - 1) // wh, (width + ww - 1) // ww


def window_pool(x: torch.Tensor, window_size: WindowSize) -> torch.Tensor:
    """Average each window of (B, H, W, C) (H, W multiples of the window): (B, H / wh, W / ww, C).

    The windows come out in the raster order of :func:`window_partition`.
    """
    wh, ww = _pair(window_size)
    h, w = x.shape[1], x.shape[2]
    if h % wh or w % ww:
        raise ValueError(f"window_pool: size {h}x{w} is not a multiple of the window {wh}x{ww}")
    # The permuted view is a channels-last NCHW tensor: pooled as it is, with no NCHW copy of the map.
    pooled = F.avg_pool2d(x.permute(0, 3, 1, 2), kernel_size=(wh, ww), stride=(wh, ww))
    return pooled.permute(0, 2, 3, 1)


def upsample_window_grid(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinearly resize a window grid (B, Hg, Wg, C) to (B, H, W, C) with ``align_corners=True``."""
    x = F.interpolate(x.permute(0, 3, 1, 2), size=tuple(size), mode="bilinear", align_corners=True)
    return x.permute(0, 2, 3, 1)


def shifted_window_order(height, width, window_size, shift=0, device=None):
    """Where each token of the windows of a rolled map comes from: indices into the flattened map.

    For x (B, height, width, C), ``x.flatten(1, 2)[:, order]`` holds the windows of
    ``torch.roll(x, (-shift, -shift), (1, 2))`` one after the other in the raster order of
    :func:`window_partition`, each window's tokens in raster order: roll and partition as one gather.
    """
    wh, ww = _pair(window_size)
    rows = torch.arange(height, device=device).view(height // wh, 1, wh, 1)
    cols = torch.arange(width, device=device).view(1, width // ww, 1, ww)
    # The wrap-around as a comparison, not a remainder: the ONNX exporter cannot take a remainder by a size
    # that is symbolic in the graph.
    rows, cols = rows + shift, cols + shift
    rows = torch.where(rows >= height, rows - height, rows)
    cols = torch.where(cols >= width, cols - width, cols)
    return (rows * width + cols).flatten()


def shifted_window_position(height, width, window_size, shift=0, device=None):
    """The inverse of :func:`shifted_window_order`: where each token of the flattened map lands in the windows.

    Computed from coordinates rather than by scattering into the order: an exported graph then holds no
    scatter whose length was fixed by the traced size.
    """
    wh, ww = _pair(window_size)
    rows = torch.arange(height, device=device)[:, None] - shift
    cols = torch.arange(width, device=device)[None, :] - shift
    rows = torch.where(rows < 0, rows + height, rows)
    cols = torch.where(cols < 0, cols + width, cols)
    window = (rows // wh) * (width // ww) + cols // ww
    return (window * (wh * ww) + (rows - rows // wh * wh) * ww + (cols - cols // ww * ww)).flatten()


class _PermuteTokens(torch.autograd.Function):
    """``x[:, order]`` for a permutation ``order``; the gradient is gathered back with its inverse."""

    @staticmethod
    def forward(ctx, x, order, inverse):
        ctx.save_for_backward(inverse)
        return x.index_select(1, order)

    @staticmethod
    def backward(ctx, grad):
        (inverse,) = ctx.saved_tensors
        return grad.index_select(1, inverse), None, None


def permute_tokens(x, order, inverse):
    """Reorder the tokens of x (B, N, C) by the permutation ``order`` (``inverse`` is its inverse).

    One gather forward and one backward; autograd's own backward of a gather would scatter-add into a
    zero-filled tensor instead. Without gradients (inference, and graphs being captured, which cannot hold a
    Python autograd function) it is a plain gather.
    """
    if torch.is_grad_enabled() and x.requires_grad and not capturing_graph():
        return _PermuteTokens.apply(x, order, inverse)
    return x.index_select(1, order)
