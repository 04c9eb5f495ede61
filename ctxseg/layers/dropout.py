"""Dropout whose CPU masks are drawn in a third of ``nn.Dropout``'s time.

On the CPU, ``F.dropout`` draws its noise with ``bernoulli_``: two 32-bit numbers from the default
generator per element, turned into a double and compared with the keep probability one element at a
time (6-7 ns per element on the machines this project is developed on, where the four dropouts of each
Cross-IIWA fusion took a fifth of the neck's training time). ``dropout`` draws one 32-bit number per
element from the same generator (31 bits of it used) and keeps an element when that number is below
``(1 - p) * 2^31``; the rest is ``F.dropout``'s own arithmetic (a 0/1 noise in the input's dtype,
divided by ``1 - p``, times the input, the noise kept for the backward pass). Each element is kept with
probability ``1 - p`` to within 2^-32, independently, and kept elements are scaled exactly as
``F.dropout`` scales them. The masks are not the ones ``nn.Dropout`` draws for the same seed (the draws
differ); a seeded run is as reproducible as before.

Other devices keep ``F.dropout`` (GPUs have a fused kernel), and so does graph capture (tracing, export,
``torch.compile``), so exported graphs hold the standard operator.
"""
import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .tracing import building_graph

__all__ = ["Dropout", "dropout", "keep_mask"]

# Elements drawn per call of the integer sampler: a 256 KiB scratch buffer that stays in the cache.
_CHUNK = 1 << 16
# The int64 sampler returns one 64-bit draw (two 32-bit numbers of the generator) with the top bit cleared;
# clearing bit 31 of the low half too leaves two independent 31-bit numbers per draw, half the generator
# calls of drawing them one by one as int32.
_TWO_31_BIT_HALVES = 0x7FFF_FFFF_7FFF_FFFF
_DRAW_BITS = 31


def keep_mask(like: torch.Tensor, keep_prob: float, generator: Optional[torch.Generator] = None,
              dtype: torch.dtype = torch.bool) -> torch.Tensor:
    """A tensor with the shape and layout of ``like``, each element 1 (True) with probability ``keep_prob``
    (to within 2^-32) and 0 otherwise, in ``dtype``; drawn from ``generator`` (default: PyTorch's CPU
    generator), one 32-bit number per element in memory order."""
    if not 0.0 <= keep_prob <= 1.0:
        raise ValueError(f"keep probability must be in [0, 1], got {keep_prob}")
    mask = torch.empty_like(like, dtype=dtype, device="cpu")
    if keep_prob == 1.0:
        return mask.fill_(1)
    count = mask.numel()
    flat = mask.as_strided((count,), (1,))  # empty_like is dense: this is its memory order
    threshold = round(math.ldexp(keep_prob, _DRAW_BITS))
    draws = torch.empty((min(count, _CHUNK) + 1) // 2, dtype=torch.int64)
    for start in range(0, count, _CHUNK):
        size = min(_CHUNK, count - start)
        pairs = draws[:(size + 1) // 2].random_(generator=generator).bitwise_and_(_TWO_31_BIT_HALVES)
        torch.lt(pairs.view(torch.int32)[:size], threshold, out=flat[start:start + size])
    return mask


def _fast_path_applies(x: torch.Tensor, p: float, training: bool) -> bool:
    if not training or not 0.0 < p < 1.0 or x.device.type != "cpu" or not x.is_floating_point():
        return False
    if building_graph():
        return False
    return x.numel() > 0


def dropout(x: torch.Tensor, p: float = 0.5, training: bool = True) -> torch.Tensor:
    """``F.dropout(x, p, training)`` with faster CPU masks (see the module docstring)."""
    if not _fast_path_applies(x, p, training):
        return F.dropout(x, p, training)
    # F.dropout's own arithmetic on our draws: a 0/1 noise in x's dtype, divided by 1 - p, times x.
    noise = keep_mask(x, 1.0 - p, dtype=x.dtype).div_(1.0 - p)
    return x * noise


class Dropout(nn.Dropout):
    """``nn.Dropout`` computed by ``dropout`` (``inplace=True`` keeps ``nn.Dropout``'s own path)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.inplace:
            return super().forward(x)
        return dropout(x, self.p, self.training)
