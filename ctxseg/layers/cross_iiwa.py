"""Cross-IIWA fusion: a smaller key map attends into a larger query map window by window and through
window averages, the released ``TransFusion2`` of IIWA, with the released names."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .attention import cross_attention
from .dropout import Dropout
from .iiwa_attention import check_heads, check_window_size
from .linear import Linear
from .position import sine_position_embedding
from .window import WindowSize, add_windows, pad_to_multiple, upsample_window_grid, window_grid_size, window_partition

__all__ = ["CrossIIWA"]

_SCALES = ("one", "inv_sqrt")


class CrossIIWA(nn.Module):
    """Cross-IIWA fusion of a key map (B, C1, h, w) into a query map (B, C2, H, W) -> (B, d_model, H, W).

    Both maps are cut into windows on the same window grid (key windows ``win_size_k``, query windows
    ``win_size_q``); query window j attends to key window j (local branch), then window averages attend
    to each other (global branch). The output residual is the key map projected to ``d_model``,
    normalised and upsampled; the query map enters through the attention residuals. Requires
    ``in_chans2 == d_model``.

    Released behaviour by default: attention scale 1 (``scale='one'``) and no softmax in the local
    branch. Fixes: ``scale='inv_sqrt'`` (head_dim ** -0.5, both branches) or a float, and
    ``local_softmax=True``. ``mlp_ratio`` is accepted and unused, as released (no FFN).
    """

    def __init__(self, in_chans1: int, in_chans2: int, d_model: int = 128, nhead: int = 8,
                 win_size_k: WindowSize = (12, 12), mlp_ratio: Optional[float] = 2, win_size_q: WindowSize = (12, 12),
                 dropout: float = 0.1, scale: str = "one", local_softmax: bool = False):
        super().__init__()
        if in_chans2 != d_model:
            raise ValueError(f"CrossIIWA: the query channels in_chans2={in_chans2} must equal d_model={d_model} "
                             f"(the query map is added to the attention output)")
        check_heads(d_model, nhead, "CrossIIWA", dim_name="d_model", heads_name="nhead")
        if in_chans1 % 4 != 0:
            raise ValueError(f"CrossIIWA: the key channels in_chans1={in_chans1} must be divisible by 4 (sine "
                             f"position embedding of the key windows)")
        if isinstance(scale, str):
            if scale not in _SCALES:
                raise ValueError(f"CrossIIWA: scale must be one of {_SCALES} or a number, got {scale!r}")
            scale_value = 1.0 if scale == "one" else (d_model // nhead) ** -0.5
        else:
            scale_value = float(scale)
        self.in_chans1 = in_chans1
        self.in_chans2 = in_chans2
        self.d_model = d_model
        self.nhead = nhead
        self.win_size_k = check_window_size(win_size_k, "CrossIIWA", "win_size_k")
        self.win_size_q = check_window_size(win_size_q, "CrossIIWA", "win_size_q")
        self.scale = scale_value
        self.local_softmax = local_softmax

        self.avgpool_q = nn.Sequential(nn.AvgPool2d(self.win_size_q), nn.Conv2d(in_chans2, d_model, 1))
        self.avgpool_k = nn.Sequential(nn.AvgPool2d(self.win_size_k), nn.Conv2d(in_chans1, d_model, 1))
        self.q_lin = Linear(in_chans2, d_model)
        self.k_lin = Linear(in_chans1, d_model)
        self.v_lin = Linear(in_chans1, d_model)
        self.q_lin2 = Linear(d_model, d_model)
        self.k_lin2 = Linear(d_model, d_model)
        self.v_lin2 = Linear(d_model, d_model)
        self.proj = nn.Sequential(Linear(in_chans1, d_model), nn.LayerNorm(d_model))
        self.proj1 = nn.Sequential(nn.LayerNorm(d_model), Linear(d_model, d_model), Dropout(dropout))
        self.proj2 = nn.Sequential(nn.LayerNorm(d_model), Linear(d_model, d_model), Dropout(dropout))
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.init_weights()

    def init_weights(self):
        """The released init: Linear xavier-normal / 0, Conv2d kaiming-normal (fan-in, relu) / 0, LayerNorm 1 / 0."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _check_inputs(self, key, query):
        if key.dim() != 4 or key.shape[1] != self.in_chans1:
            raise ValueError(f"CrossIIWA: key must be (B, in_chans1={self.in_chans1}, h, w), got {tuple(key.shape)}")
        if query.dim() != 4 or query.shape[1] != self.in_chans2 or query.shape[0] != key.shape[0]:
            raise ValueError(f"CrossIIWA: query must be (B={key.shape[0]}, in_chans2={self.in_chans2}, H, W), "
                             f"got {tuple(query.shape)}")
        key_grid = window_grid_size(key.shape[2], key.shape[3], self.win_size_k)
        query_grid = window_grid_size(query.shape[2], query.shape[3], self.win_size_q)
        if key_grid != query_grid:
            raise ValueError(
                f"CrossIIWA: key and query must have the same window grid; key {key.shape[2]}x{key.shape[3]} "
                f"with windows {self.win_size_k} gives {key_grid[0]}x{key_grid[1]} windows, query "
                f"{query.shape[2]}x{query.shape[3]} with windows {self.win_size_q} gives "
                f"{query_grid[0]}x{query_grid[1]}")
        return query_grid

    def forward(self, key: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """key (B, C1, h, w) (the smaller map, keys and values), query (B, C2, H, W) -> (B, d_model, H, W).

        The output is NCHW in shape and channels-last in memory (the layout it is computed in; the next
        fusion and the decoder read it channel-last again, so no copy is made either way)."""
        grid = self._check_inputs(key, query)
        b, _, h, w = query.shape
        d = self.d_model

        # Channel-last copies (none when the maps are channels-last in memory, as fusion outputs are).
        key = key.permute(0, 2, 3, 1).contiguous()
        shortcut = self.proj(key).permute(0, 3, 1, 2)
        shortcut = F.interpolate(shortcut, size=(h, w), mode="bilinear", align_corners=True).permute(0, 2, 3, 1)

        key = pad_to_multiple(key, self.win_size_k)
        query = pad_to_multiple(query.permute(0, 2, 3, 1).contiguous(), self.win_size_q)
        hp, wp = query.shape[1], query.shape[2]

        # Local branch: the same intra-window position code in every window, added before k and v alike.
        k_win = window_partition(key, self.win_size_k)
        k_win = k_win + sine_position_embedding(*self.win_size_k, self.in_chans1, device=key.device).to(key.dtype)
        q_win = window_partition(query, self.win_size_q)
        q_win = q_win + sine_position_embedding(*self.win_size_q, self.in_chans2, device=query.device).to(query.dtype)
        local = cross_attention(q_win.flatten(1, 2), k_win.flatten(1, 2), self.q_lin, self.k_lin, self.v_lin,
                                self.nhead, self.scale, softmax=self.local_softmax)
        q = add_windows(query, self.dropout1(local), self.win_size_q)
        q = q + self.proj1(q)

        # Global branch between window averages, each with the sine embedding of the window grid.
        grid_pos = sine_position_embedding(*grid, d, device=query.device).to(query.dtype).permute(2, 0, 1)
        q_glob = (self.avgpool_q(q.permute(0, 3, 1, 2)) + grid_pos).flatten(2).transpose(1, 2)
        k_glob = (self.avgpool_k(key.permute(0, 3, 1, 2)) + grid_pos).flatten(2).transpose(1, 2)
        glob = cross_attention(q_glob, k_glob, self.q_lin2, self.k_lin2, self.v_lin2, self.nhead, self.scale)
        glob = glob.view(b, *grid, d)
        q = q + self.dropout2(upsample_window_grid(glob, (hp, wp)))
        q = q + self.proj2(q)

        out = shortcut + self.norm1(q[:, :h, :w])
        return self.norm2(out).permute(0, 3, 1, 2)

    def extra_repr(self):
        return (f"in_chans1={self.in_chans1}, in_chans2={self.in_chans2}, d_model={self.d_model}, "
                f"nhead={self.nhead}, win_size_k={self.win_size_k}, win_size_q={self.win_size_q}, "
                f"scale={self.scale}, local_softmax={self.local_softmax}")
