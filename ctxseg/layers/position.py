"""Sine position embeddings over a 2-D grid, as used by the released IIWA layers.

For a grid of h rows and w columns and C channels (P = C // 2): channels [0, P) encode the row,
channels [P, 2P) the column; inside each half, even channels are sines and odd channels cosines of
the normalised coordinate times 10000^(-2 floor(k/2) / P).
"""
import math
from typing import Optional, Union

import torch
from torch import nn

__all__ = ["sine_position_embedding", "PositionEmbeddingSine"]


def sine_position_embedding(height: int, width: int, channels: int, device: Optional[Union[str, torch.device]] = None,
                            temperature: float = 10000, normalize: bool = True, scale: float = 2 * math.pi,
                            eps: float = 1e-5) -> torch.Tensor:
    """Sine position embedding of an (height, width) grid: a float32 tensor (height, width, channels)."""
    if channels % 4 != 0:
        raise ValueError(
            f"sine position embedding: the channel count must be divisible by 4 (half of it encodes rows, "
            f"half columns, each as sine/cosine pairs), got channels={channels}")
    num_feats = channels // 2
    # Computed in float32 whatever the caller's dtype, with the released operation order, so that
    # released outputs are reproduced to the last bit of the embedding.
    y_embed = torch.arange(1, height + 1, dtype=torch.float32, device=device)[:, None].expand(height, width)
    x_embed = torch.arange(1, width + 1, dtype=torch.float32, device=device)[None, :].expand(height, width)
    if normalize:
        y_embed = y_embed / (y_embed[-1:, :] + eps) * scale
        x_embed = x_embed / (x_embed[:, -1:] + eps) * scale
    dim_t = torch.arange(num_feats, dtype=torch.float32, device=device)
    dim_t = temperature ** (2 * (dim_t // 2) / num_feats)
    pos_x = x_embed[:, :, None] / dim_t
    pos_y = y_embed[:, :, None] / dim_t
    pos_x = torch.stack((pos_x[:, :, 0::2].sin(), pos_x[:, :, 1::2].cos()), dim=3).flatten(2)
    pos_y = torch.stack((pos_y[:, :, 0::2].sin(), pos_y[:, :, 1::2].cos()), dim=3).flatten(2)
    return torch.cat((pos_y, pos_x), dim=2)


class PositionEmbeddingSine(nn.Module):
    """Sine position embedding shaped like its input: (B, C, h, w), or (B, h, w, C) with ``channels_last``.

    Only the input's shape is used; C comes from the input (the released ``num_pos_feats`` argument was
    ignored, so there is none here). The values are computed in float32 and returned in the input's dtype.
    """

    def __init__(self, temperature: float = 10000, normalize: bool = True, scale: Optional[float] = None,
                 eps: float = 1e-5, channels_last: bool = False):
        super().__init__()
        if scale is not None and not normalize:
            raise ValueError(f"PositionEmbeddingSine: scale={scale} needs normalize=True")
        self.temperature = temperature
        self.normalize = normalize
        self.scale = 2 * math.pi if scale is None else scale
        self.eps = eps
        self.channels_last = channels_last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"PositionEmbeddingSine: expected a 4-D input, got shape {tuple(x.shape)}")
        if self.channels_last:
            b, h, w, c = x.shape
        else:
            b, c, h, w = x.shape
        pos = sine_position_embedding(h, w, c, device=x.device, temperature=self.temperature,
                                      normalize=self.normalize, scale=self.scale, eps=self.eps).to(x.dtype)
        if not self.channels_last:
            pos = pos.permute(2, 0, 1)
        return pos.unsqueeze(0).expand(b, *pos.shape).contiguous()

    def extra_repr(self):
        return (f"temperature={self.temperature}, normalize={self.normalize}, scale={self.scale:.4f}, "
                f"channels_last={self.channels_last}")
