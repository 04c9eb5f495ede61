"""Label maps drawn over images: every class in its palette colour, blended with the image.

Drawn with numpy rather than Detectron2's Visualizer, which writes each class name onto its regions (names
overlap on small regions; the legend panel names the classes instead) and draws through matplotlib at the
image's full size (gigabytes for a large photo).
"""
import numpy as np

__all__ = ["colorize", "overlay"]


def colorize(labels, palette, ignore_label=255):
    """(H, W) class ids -> ((H, W, 3) uint8 colours, (H, W) bool mask of the pixels with a class)."""
    palette = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    labels = np.asarray(labels)
    valid = (labels >= 0) & (labels < len(palette)) & (labels != ignore_label)
    colors = palette[np.where(valid, labels, 0)]
    return colors, valid


def overlay(image, labels, palette, alpha=0.6, ignore_label=255):
    """``image`` (H, W, 3) uint8 RGB with each labelled pixel blended towards its class colour by ``alpha``."""
    colors, valid = colorize(labels, palette, ignore_label)
    blended = image.astype(np.float32) * (1 - alpha) + colors.astype(np.float32) * alpha
    out = image.copy()
    out[valid] = np.clip(blended[valid] + 0.5, 0, 255).astype(np.uint8)
    return out
