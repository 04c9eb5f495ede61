"""The segmentor's padding and resizing, written so that tracing keeps them dynamic and memory stays bounded.

``pad_to_divisible`` computes the padding from the input's own size (tracing and ``torch.export`` record the
arithmetic instead of freezing the traced image's numbers). ``resize_rows_bilinear`` gives any band of rows of
``F.interpolate(..., mode="bilinear", align_corners=False)`` without making the whole resized map, so a label
map of a huge image is computed band by band.
"""
import torch
import torch.nn.functional as F

__all__ = ["pad_to_divisible", "resize_rows_bilinear"]


def pad_to_divisible(images, divisor, value=0.0):
    """Pad (..., H, W) at the bottom and right with ``value`` to multiples of ``divisor`` (0 or 1: unchanged)."""
    if divisor is None or divisor <= 1:
        return images
    height, width = images.shape[-2:]
    # Written as a multiple of the divisor so that torch.export's shape reasoning sees one (what strided
    # layers and 2x upsampling need to line up), not as a remainder.
    padded_h, padded_w = (height + divisor - 1) // divisor * divisor, (width + divisor - 1) // divisor * divisor
    return F.pad(images, (0, padded_w - width, 0, padded_h - height), value=value)


def _linear_taps(in_size, out_size, start, stop, device):
    """Source indices and weights of output rows [start, stop) (PyTorch's half-pixel rule, no antialias)."""
    scale = in_size / out_size
    source = ((torch.arange(start, stop, device=device, dtype=torch.float32) + 0.5) * scale - 0.5).clamp_(min=0)
    low = source.floor().long().clamp_(max=in_size - 1)
    high = (low + 1).clamp_(max=in_size - 1)
    return low, high, source - low


def resize_rows_bilinear(x, size, top, bottom):
    """Rows [top, bottom) of ``x`` (C, h, w) resized bilinearly to ``size`` = (H, W): (C, bottom - top, W).

    Equal, up to float rounding, to ``F.interpolate(x[None], size, mode="bilinear")[0, :, top:bottom]``:
    the vertical taps pick whole source rows, then a 1-D linear resize does the width.
    """
    height, width = size
    r0, r1, wr = _linear_taps(x.shape[-2], height, top, bottom, x.device)
    rows = x[:, r0] * (1 - wr)[:, None] + x[:, r1] * wr[:, None]
    channels, count, in_w = rows.shape
    return F.interpolate(rows.reshape(1, channels * count, in_w), size=width, mode="linear",
                         align_corners=False).view(channels, count, width)
