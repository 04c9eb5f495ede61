"""FLOP counts of inference: one whole-image forward, or everything the config's test does.

fvcore traces the model to count; IIWA's window matching (host code that refuses tracing for export) runs
inside ``counting_operations()``, where a traced graph is only counted, never kept.
"""
import logging
from dataclasses import dataclass
from typing import List, Tuple

import numpy as np
import torch

from ..layers.tracing import counting_operations

__all__ = ["FlopCount", "count_whole_image_flops", "count_configured_flops"]


@dataclass
class FlopCount:
    """A FLOP count (one multiply-add counts as one flop, fvcore's rule) and what was counted."""

    flops: int
    forwards: int
    description: str
    view_sizes: List[Tuple[int, int]]


def _count(module, inputs):
    from fvcore.nn import FlopCountAnalysis

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    with torch.no_grad(), counting_operations():
        analysis = FlopCountAnalysis(module, inputs)
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return int(analysis.total())


def count_whole_image_flops(model, height, width):
    """One single-scale whole-image forward of a (height, width) image, whatever the config's test mode."""
    from ..export import SegmentationGraph

    graph = SegmentationGraph(model.eval())
    flops = _count(graph, (torch.zeros(1, 3, height, width, device=model.device),))
    return FlopCount(flops, 1, f"one whole-image single-scale forward at {height}x{width}", [(height, width)])


def count_configured_flops(model, mapper, height, width):
    """What the config's test does to one (height, width) image: its test resize, TTA views and windows."""
    from ..modeling.meta_arch import sliding_windows

    sample = mapper.map_image(np.zeros((height, width, 3), dtype=np.uint8))
    sizes = [tuple(image.shape[-2:]) for image in model.eval().test_views(sample)]
    flips = 2 if model.tta_flip else 1
    windows = [len(sliding_windows(h, w, model.crop_size, model.stride)) if model.test_mode == "slide" else 1
               for h, w in sizes]
    forwards = flips * sum(windows)
    flops = _count(model, ([sample],))
    views = f"{len(sizes)} scale(s) {', '.join(f'{h}x{w}' for h, w in sizes)}" + (" x 2 flips" if flips == 2 else "")
    mode = (f"sliding {model.crop_size[0]}x{model.crop_size[1]} windows, stride {model.stride[0]}x{model.stride[1]}: "
            f"{' + '.join(str(n) for n in windows)} per flip" if model.test_mode == "slide" else "whole image")
    description = (f"the config's test of a {height}x{width} image: {views}; {mode}; {forwards} forward passes "
                   f"(+ resizing and averaging)")
    return FlopCount(flops, forwards, description, sizes)
