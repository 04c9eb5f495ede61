"""The demo's picture: ``input | prediction | ground truth`` at a size a person can look at, and a legend.

Small images are drawn upscaled by a whole factor (pixels stay sharp squares), large ones downscaled to a
bounded size before anything is drawn, so the drawing of a huge photo costs little memory.
"""
import cv2
import numpy as np

from ..data.transforms import resize_nearest
from .legend import draw_legend
from .overlay import overlay

__all__ = ["display_size", "prediction_picture", "PANEL_GAP"]

PANEL_GAP = 6  # white pixels between the panels


def display_size(height, width, min_side=512, max_side=1600):
    """(h, w) to draw an image at: upscaled by a whole factor below ``min_side``, fit into ``max_side``."""
    longest = max(height, width)
    if longest > max_side:
        factor = max_side / longest
        return max(1, round(height * factor)), max(1, round(width * factor))
    factor = max(1, min_side // longest)
    return height * factor, width * factor


def _resized_image(image, size):
    height, width = size
    if image.shape[:2] == (height, width):
        return image
    interpolation = cv2.INTER_AREA if height < image.shape[0] else cv2.INTER_NEAREST
    return cv2.resize(np.ascontiguousarray(image), (width, height), interpolation=interpolation)


def prediction_picture(image, prediction, class_names, palette, ground_truth=None, alpha=0.6, ignore_label=255,
                       min_side=512, max_side=1600):
    """An RGB picture: the image, the prediction over it, the ground truth over it (if given), a legend,
    separated by ``PANEL_GAP`` white columns.

    ``image`` (H, W, 3) uint8 RGB; ``prediction`` and ``ground_truth`` (H, W) class ids. The legend lists
    the classes present in the prediction or the ground truth.
    """
    size = display_size(*image.shape[:2], min_side=min_side, max_side=max_side)
    shown = _resized_image(image, size)
    maps = [resize_nearest(np.asarray(prediction), *size)]
    if ground_truth is not None:
        maps.append(resize_nearest(np.asarray(ground_truth), *size))
    panels = [shown] + [overlay(shown, m, palette, alpha, ignore_label) for m in maps]
    # The classes present in the full-size maps (a small region may vanish from the downscaled one).
    present = set(np.unique(np.asarray(prediction)).tolist())
    if ground_truth is not None:
        present |= set(np.unique(np.asarray(ground_truth)).tolist())
    present = sorted(c for c in present if 0 <= c < len(palette) and c != ignore_label)
    panels.append(draw_legend(present, class_names, palette, size[0]))
    gap = np.full((size[0], PANEL_GAP, 3), 255, dtype=np.uint8)
    return np.concatenate([part for panel in panels for part in (panel, gap)][:-1], axis=1)
