"""Mixed-precision inference: one switch, ``fp32``, ``bf16`` or ``fp16``, applied with ``torch.autocast``.

Under autocast the convolutions and matrix products run in the lower precision; the segmentor resizes,
softmaxes and averages the logits in float32, and IIWA's window matching computes its similarities in float32,
so a close call between two windows is never decided by rounding.
"""
import contextlib

import torch

from ..utils.errors import ConfigError

__all__ = ["PRECISIONS", "inference_precision"]

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def inference_precision(precision, device):
    """A context manager running inference on ``device`` (a name or ``torch.device``) at ``precision``."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got '{precision}'")
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)
