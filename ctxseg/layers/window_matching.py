"""Window matching for MS Cross-IIWA: key windows from memory maps, Hungarian matching of query windows
to distinct key windows, and the gather of the matched windows.

The matching is the released one: raw dot products of the pooled, un-projected windows, solved per image
by scipy's ``linear_sum_assignment`` on a float64 CPU copy (see docs/iiwa_reconstruction.md)."""
import functools
from typing import List, Tuple, Union

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from .tracing import refuse_graph_capture
from .window import WindowSize, pad_to_multiple, window_grid_size

__all__ = ["key_windows_from_memories", "match_windows", "gather_windows"]


def key_windows_from_memories(memories: Union[torch.Tensor, List[torch.Tensor]],
                              window_size: WindowSize) -> Tuple[torch.Tensor, torch.Tensor]:
    """Key windows and their average tokens from channel-last memory maps, all windowed alike.

    Every map (B, h_i, w_i, C) is zero-padded bottom/right to multiples of ``window_size``, split into
    windows and averaged per window. Returns ``(windows, tokens)``: (B, nWk, wh, ww, C) and (B, nWk, C),
    with the windows of all maps concatenated in list order, raster order inside each map.
    """
    if len(memories) == 0:
        raise ValueError("key_windows_from_memories: memories is empty; give at least one (B, h, w, C) map")
    window_size = (window_size, window_size) if isinstance(window_size, int) else tuple(window_size)
    batch, channels = memories[0].shape[0], memories[0].shape[-1]
    for i, memory in enumerate(memories):
        if memory.dim() != 4 or memory.shape[0] != batch or memory.shape[-1] != channels:
            raise ValueError(f"key_windows_from_memories: memories[{i}] has shape {tuple(memory.shape)}; every "
                             f"memory must be channel-last (B={batch}, h, w, C={channels})")
    return _KeyWindows.apply(window_size, *memories)


class _KeyWindows(torch.autograd.Function):
    """The windows and window averages of several maps in one buffer, with a backward in one pass per map.

    Forward: each map is partitioned straight into its slice of the buffer (one copy per map, no
    concatenation), the averages are taken from the buffer. Backward: each map's gradient is the
    gradient of its windows plus that of their averages spread over the window, both read through
    strided views and written once, in the map's layout.
    """

    @staticmethod
    def forward(ctx, window_size, *memories):
        wh, ww = window_size
        batch, channels = memories[0].shape[0], memories[0].shape[-1]
        grids = [window_grid_size(m.shape[1], m.shape[2], window_size) for m in memories]
        dtype = functools.reduce(torch.promote_types, [m.dtype for m in memories])
        windows = memories[0].new_empty((batch, sum(gh * gw for gh, gw in grids), wh, ww, channels), dtype=dtype)
        start = 0
        for memory, (gh, gw) in zip(memories, grids):
            padded = pad_to_multiple(memory, window_size)
            target = windows[:, start:start + gh * gw].view(batch, gh, gw, wh, ww, channels)
            target.copy_(padded.view(batch, gh, wh, gw, ww, channels).permute(0, 1, 3, 2, 4, 5))
            start += gh * gw
        ctx.window_size, ctx.grids = window_size, grids
        ctx.shapes_and_dtypes = [(m.shape, m.dtype) for m in memories]
        return windows, windows.mean(dim=(2, 3))

    @staticmethod
    def backward(ctx, grad_windows, grad_tokens):
        wh, ww = ctx.window_size
        grads, start = [], 0
        for needs_grad, (shape, dtype), (gh, gw) in zip(ctx.needs_input_grad[1:], ctx.shapes_and_dtypes, ctx.grids):
            stop = start + gh * gw
            if needs_grad:
                batch, height, width, channels = shape
                # Written once through a (B, gh, wh, gw, ww, C) view of the padded map's gradient.
                grad = grad_windows.new_empty((batch, gh * wh, gw * ww, channels))
                windows = grad_windows[:, start:stop].view(batch, gh, gw, wh, ww, channels).permute(0, 1, 3, 2, 4, 5)
                spread = grad_tokens[:, start:stop].view(batch, gh, 1, gw, 1, channels) / (wh * ww)
                torch.add(windows, spread, out=grad.view(batch, gh, wh, gw, ww, channels))
                grads.append(grad[:, :height, :width].to(dtype))
            else:
                grads.append(None)
            start = stop
        return (None, *grads)


def match_windows(query_tokens: torch.Tensor, key_tokens: torch.Tensor) -> torch.Tensor:
    """Hungarian matching of every query window to a distinct key window, per image.

    query_tokens (B, nWq, C), key_tokens (B, nWk, C) with nWk >= nWq. The similarity is the plain dot
    product; scipy's ``linear_sum_assignment(maximize=True)`` solves each image on a float64 CPU copy.
    Returns (B, nWq) int64 key-window indices on the tokens' device (not differentiable).
    """
    refuse_graph_capture("IIWA's window matching (Hungarian assignment of query to key windows)")
    nwq, nwk = query_tokens.shape[1], key_tokens.shape[1]
    if nwk < nwq:
        raise ValueError(f"window matching needs at least as many key windows as query windows "
                         f"(each query window gets a distinct key window), got {nwk} key windows for "
                         f"{nwq} query windows")
    with torch.no_grad(), torch.autocast(query_tokens.device.type, enabled=False):
        # At least float32 even under bf16 autocast: ties in low precision would change the assignment.
        dtype = torch.promote_types(query_tokens.dtype, torch.float32)
        similarity = query_tokens.to(dtype) @ key_tokens.to(dtype).transpose(1, 2)
    # One device-to-host transfer for the whole batch; only the similarities leave the device.
    similarity = similarity.cpu().double().numpy()
    if not np.isfinite(similarity).all():
        raise ValueError("window matching: the window similarities contain NaN or inf (the query or key "
                         "features are not finite)")
    columns = np.empty((similarity.shape[0], nwq), dtype=np.int64)
    for b, scores in enumerate(similarity):
        rows, cols = linear_sum_assignment(scores, maximize=True)
        columns[b, rows] = cols
    return torch.from_numpy(columns).to(query_tokens.device)


def gather_windows(windows: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Pick per image the windows ``indices`` (B, n) from ``windows`` (B, N, ...): (B, n, ...), differentiable."""
    b, n = windows.shape[:2]
    offsets = torch.arange(b, device=indices.device)[:, None] * n
    picked = _GatherRows.apply(windows.flatten(0, 1), (indices + offsets).flatten())
    return picked.view(b, indices.shape[1], *windows.shape[2:])


class _GatherRows(torch.autograd.Function):
    """``x[index]`` along dim 0; the backward accumulates with ``index_put_``, several times faster on CPUs
    than the scatter-add autograd's own backward of ``index_select`` uses."""

    @staticmethod
    def forward(ctx, x, index):
        ctx.save_for_backward(index)
        ctx.shape = x.shape
        return x.index_select(0, index)

    @staticmethod
    def backward(ctx, grad):
        (index,) = ctx.saved_tensors
        return grad.new_zeros(ctx.shape).index_put_((index,), grad, accumulate=True), None
