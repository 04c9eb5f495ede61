"""Self-IIWA: intra-window (local) then inter-window (long-range) self-attention, the released
``WindowAttention`` of IIWA, with the released parameter names."""
from typing import Optional, Type

import torch
from timm.layers import DropPath, trunc_normal_
from torch import nn

from .attention import relative_position_bias, relative_position_index, self_attention
from .dropout import Dropout
from .iiwa_attention import check_heads, check_window_size
from .linear import Linear
from .mlp import Mlp
from .position import sine_position_embedding
from .residual import add_residual
from .window import WindowSize, add_windows, pad_to_multiple, upsample_window_grid, window_partition, window_pool

__all__ = ["SelfIIWA"]


class SelfIIWA(nn.Module):
    """Self-IIWA block on a channel-last map (B, H, W, C) -> (B, H, W, C).

    Local multi-head attention inside each window (Swin relative-position bias), a pre-LN projection
    residual, multi-head attention between window-averaged tokens (plus sine position embedding of the
    window grid) upsampled bilinearly back to pixels, a second pre-LN projection residual, then a
    pre-norm MLP with DropPath and a final LayerNorm (post-norm output), exactly as released.
    """

    def __init__(self, dim: int, window_size: WindowSize, num_heads: int, qkv_bias: bool = True,
                 qk_scale: Optional[float] = None, attn_drop: float = 0.1, proj_drop: float = 0.1,
                 mlp_ratio: float = 4.0, act_layer: Type[nn.Module] = nn.GELU,
                 norm_layer: Type[nn.Module] = nn.LayerNorm, drop_path: float = 0.1):
        super().__init__()
        check_heads(dim, num_heads, "SelfIIWA")
        self.dim = dim
        self.window_size = check_window_size(window_size, "SelfIIWA", "window_size")
        self.num_heads = num_heads
        self.scale = qk_scale or (dim // num_heads) ** -0.5

        wh, ww = self.window_size
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * wh - 1) * (2 * ww - 1), num_heads))
        self.register_buffer("relative_position_index", relative_position_index(self.window_size))
        self.qkv = Linear(dim, 3 * dim, bias=qkv_bias)
        self.qkv2 = Linear(dim, 3 * dim, bias=qkv_bias)
        self.attn_drop = Dropout(attn_drop)
        self.proj = nn.Sequential(norm_layer(dim), Linear(dim, dim))
        self.proj2 = nn.Sequential(norm_layer(dim), Linear(dim, dim))
        self.proj_drop = Dropout(proj_drop)
        self.proj_drop2 = Dropout(proj_drop)
        self.norm1 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=act_layer, drop=proj_drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = norm_layer(dim)
        trunc_normal_(self.relative_position_bias_table, std=0.02)

    def relative_position_bias(self):
        """The local-attention bias (heads, N, N) gathered from the table."""
        return relative_position_bias(self.relative_position_bias_table, self.relative_position_index)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, H, W, C) channel-last -> (B, H, W, C); any H, W (padded to windows inside, cropped after)."""
        if x.dim() != 4 or x.shape[-1] != self.dim:
            raise ValueError(f"SelfIIWA: expected a channel-last input (B, H, W, {self.dim}), got {tuple(x.shape)}")
        b, h, w, c = x.shape
        x = pad_to_multiple(x.contiguous(), self.window_size)
        hp, wp = x.shape[1], x.shape[2]
        grid = (hp // self.window_size[0], wp // self.window_size[1])

        # Intra-window attention; no output projection before the residual (released).
        tokens = window_partition(x, self.window_size).flatten(1, 2)
        dropout_p = self.attn_drop.p if self.training else 0.0
        local = self_attention(tokens, self.qkv, self.num_heads, self.scale, self.relative_position_bias()[None],
                               dropout_p)
        x = add_windows(x, local, self.window_size)
        x = x + self.proj_drop(self.proj(x))

        # Inter-window attention between window averages (no bias, no attention dropout).
        pooled = window_pool(x, self.window_size)
        pooled = pooled + sine_position_embedding(*grid, c, device=x.device).to(x.dtype)
        glob = self_attention(pooled.reshape(b, -1, c), self.qkv2, self.num_heads, self.scale).view(b, *grid, c)
        x = x + upsample_window_grid(glob, (hp, wp))
        x = x + self.proj_drop2(self.proj2(x))

        x = x[:, :h, :w]
        x = add_residual(x, self.mlp(self.norm1(x)), self.drop_path)
        return self.norm2(x)

    def extra_repr(self):
        return f"dim={self.dim}, window_size={self.window_size}, num_heads={self.num_heads}"
