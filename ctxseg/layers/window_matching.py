"""Window matching for MS Cross-IIWA: key windows from memory maps, Hungarian matching of query windows
to distinct key windows, and the gather of the matched windows.

The matching is the released one: raw dot products of the pooled, un-projected windows, solved per image
by scipy's ``linear_sum_assignment`` on a float64 CPU copy (see docs/iiwa_reconstruction.md)."""
from typing import List, Tuple, Union

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from .tracing import refuse_graph_capture
from .window import WindowSize, pad_to_multiple, window_partition, window_pool

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
    wh, ww = (window_size, window_size) if isinstance(window_size, int) else tuple(window_size)
    batch, channels = memories[0].shape[0], memories[0].shape[-1]
    windows, tokens = [], []
    for i, memory in enumerate(memories):
        if memory.dim() != 4 or memory.shape[0] != batch or memory.shape[-1] != channels:
            raise ValueError(f"key_windows_from_memories: memories[{i}] has shape {tuple(memory.shape)}; every "
                             f"memory must be channel-last (B={batch}, h, w, C={channels})")
        padded = pad_to_multiple(memory, (wh, ww))
        windows.append(window_partition(padded, (wh, ww)).view(batch, -1, wh, ww, channels))
        tokens.append(window_pool(padded, (wh, ww)).reshape(batch, -1, channels))
    return torch.cat(windows, dim=1), torch.cat(tokens, dim=1)


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
    picked = windows.flatten(0, 1).index_select(0, (indices + offsets).flatten())
    return picked.view(b, indices.shape[1], *windows.shape[2:])
