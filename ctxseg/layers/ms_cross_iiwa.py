"""MS Cross-IIWA: cross-attention from query windows to Hungarian-matched key windows of several memory
scales, the released ``WindowCrossAttention`` of IIWA, with the released names."""
from typing import List, Optional, Tuple, Type, Union

import torch
from timm.layers import DropPath
from torch import nn

from .attention import cross_attention, relative_position_bias, relative_position_index
from .dropout import Dropout
from .iiwa_attention import check_heads, check_window_size
from .linear import Linear
from .mlp import Mlp
from .position import sine_position_embedding
from .residual import add_residual
from .window import WindowSize, add_windows, pad_to_multiple, upsample_window_grid, window_partition, window_pool
from .window_matching import gather_windows, match_windows

__all__ = ["MultiScaleCrossIIWA"]


class MultiScaleCrossIIWA(nn.Module):
    """MS Cross-IIWA block: channel-last query (B, H, W, C) attends to key windows -> (B, H, W, C).

    Each query window is matched (Hungarian, on the dot products of window averages) to a distinct key
    window among all memory scales; local cross-attention runs per matched pair (relative-position
    bias), inter-window attention runs between the query window averages and the matched key window
    averages (both with the sine embedding of the query window grid); pre-LN projection residuals after
    each, then a pre-norm MLP with DropPath and a final LayerNorm, exactly as released.

    ``general_cross_bias=True`` gives query and key windows of different sizes a correct relative-position
    table; the released one only works for equal windows (the default raises for unequal ones).
    """

    def __init__(self, dim: int, window_size_q: WindowSize, window_size_k: WindowSize, num_heads: int,
                 qkv_bias: bool = True, qk_scale: Optional[float] = None, attn_drop: float = 0.1,
                 proj_drop: float = 0.0, mlp_ratio: float = 4.0, act_layer: Type[nn.Module] = nn.GELU,
                 norm_layer: Type[nn.Module] = nn.LayerNorm, drop_path: float = 0.1,
                 general_cross_bias: bool = False):
        super().__init__()
        check_heads(dim, num_heads, "MultiScaleCrossIIWA")
        self.dim = dim
        self.window_size_q = check_window_size(window_size_q, "MultiScaleCrossIIWA", "window_size_q")
        self.window_size_k = check_window_size(window_size_k, "MultiScaleCrossIIWA", "window_size_k")
        if self.window_size_q != self.window_size_k and not general_cross_bias:
            raise ValueError(
                f"MultiScaleCrossIIWA: window_size_q={self.window_size_q} differs from window_size_k="
                f"{self.window_size_k}; the released relative-position bias only supports equal windows "
                f"(it indexes out of its table otherwise). Use equal windows or general_cross_bias=True")
        self.num_heads = num_heads
        self.scale = qk_scale or (dim // num_heads) ** -0.5
        self.general_cross_bias = general_cross_bias

        (hq, wq), (hk, wk) = self.window_size_q, self.window_size_k
        # Zero-initialised as released (its truncated-normal init was commented out there).
        self.relative_position_bias_table = nn.Parameter(torch.zeros((hq + hk - 1) * (wq + wk - 1), num_heads))
        self.register_buffer("relative_position_index",
                             relative_position_index(self.window_size_q, self.window_size_k))
        self.q_lin = Linear(dim, dim, bias=qkv_bias)
        self.k_lin = Linear(dim, dim, bias=qkv_bias)
        self.v_lin = Linear(dim, dim, bias=qkv_bias)
        self.q_lin2 = Linear(dim, dim, bias=qkv_bias)
        self.k_lin2 = Linear(dim, dim, bias=qkv_bias)
        self.v_lin2 = Linear(dim, dim, bias=qkv_bias)
        self.attn_drop = Dropout(attn_drop)
        self.proj = nn.Sequential(norm_layer(dim), Linear(dim, dim))
        self.proj2 = nn.Sequential(norm_layer(dim), Linear(dim, dim))
        self.proj_drop = Dropout(proj_drop)
        self.proj_drop2 = Dropout(proj_drop)
        self.norm1 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=act_layer, drop=proj_drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = norm_layer(dim)

    def relative_position_bias(self):
        """The local cross-attention bias (heads, Nq, Nk) gathered from the table."""
        return relative_position_bias(self.relative_position_bias_table, self.relative_position_index)

    def _key_inputs(self, key_windows, key_tokens, batch):
        if isinstance(key_windows, (list, tuple)):
            key_windows = torch.cat(list(key_windows), dim=1)
        if isinstance(key_tokens, (list, tuple)):
            key_tokens = torch.cat(list(key_tokens), dim=1)
        expected = (batch, key_windows.shape[1], *self.window_size_k, self.dim)
        if tuple(key_windows.shape) != expected:
            raise ValueError(f"MultiScaleCrossIIWA: key_windows must be (B, nWk, {self.window_size_k[0]}, "
                             f"{self.window_size_k[1]}, {self.dim}) with B={batch}, got {tuple(key_windows.shape)}")
        if tuple(key_tokens.shape) != (batch, key_windows.shape[1], self.dim):
            raise ValueError(f"MultiScaleCrossIIWA: key_tokens must be (B={batch}, nWk={key_windows.shape[1]}, "
                             f"{self.dim}) to match key_windows, got {tuple(key_tokens.shape)}")
        return key_windows, key_tokens

    def forward(self, query: torch.Tensor, key_windows: Union[torch.Tensor, List[torch.Tensor]],
                key_tokens: Union[torch.Tensor, List[torch.Tensor]], return_matching: bool = False
                ) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        """query (B, H, W, C); key_windows (B, nWk, wk0, wk1, C) and key_tokens (B, nWk, C), or lists of them
        per memory scale (see :func:`key_windows_from_memories`). With ``return_matching`` also returns the
        (B, nWq) index of the key window matched to each query window."""
        if query.dim() != 4 or query.shape[-1] != self.dim:
            raise ValueError(f"MultiScaleCrossIIWA: expected a channel-last query (B, H, W, {self.dim}), "
                             f"got {tuple(query.shape)}")
        b, h, w, c = query.shape
        key_windows, key_tokens = self._key_inputs(key_windows, key_tokens, b)
        q = pad_to_multiple(query.contiguous(), self.window_size_q)
        hp, wp = q.shape[1], q.shape[2]
        grid = (hp // self.window_size_q[0], wp // self.window_size_q[1])
        grid_pos = sine_position_embedding(*grid, c, device=q.device).to(q.dtype)

        # Matching on raw window averages (no projection, no position embedding), as released.
        matching = match_windows(window_pool(q, self.window_size_q).flatten(1, 2), key_tokens)
        key_windows = gather_windows(key_windows, matching).flatten(0, 1).flatten(1, 2)
        # A matched key token takes the position of the query window it was matched to.
        key_tokens = (gather_windows(key_tokens, matching).view(b, *grid, c) + grid_pos).flatten(1, 2)

        # Local cross-attention per matched window pair.
        q_tokens = window_partition(q, self.window_size_q).flatten(1, 2)
        dropout_p = self.attn_drop.p if self.training else 0.0
        local = cross_attention(q_tokens, key_windows, self.q_lin, self.k_lin, self.v_lin, self.num_heads,
                                self.scale, self.relative_position_bias()[None], dropout_p)
        q = add_windows(q, local, self.window_size_q)
        q = q + self.proj_drop(self.proj(q))

        # Inter-window attention against the matched key windows only (no bias, no attention dropout).
        pooled = (window_pool(q, self.window_size_q) + grid_pos).flatten(1, 2)
        glob = cross_attention(pooled, key_tokens, self.q_lin2, self.k_lin2, self.v_lin2, self.num_heads, self.scale)
        glob = glob.view(b, *grid, c)
        q = q + upsample_window_grid(glob, (hp, wp))
        q = q + self.proj_drop2(self.proj2(q))

        q = q[:, :h, :w]
        q = add_residual(q, self.mlp(self.norm1(q)), self.drop_path)
        q = self.norm2(q)
        return (q, matching) if return_matching else q

    def extra_repr(self):
        return (f"dim={self.dim}, window_size_q={self.window_size_q}, window_size_k={self.window_size_k}, "
                f"num_heads={self.num_heads}, general_cross_bias={self.general_cross_bias}")
