"""A legend panel: one row per class (colour swatch and name), laid out in columns that never overlap."""
import math

import cv2
import numpy as np

__all__ = ["legend_layout", "draw_legend"]

FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SCALE = 0.5
ROW_HEIGHT = 22
SWATCH = 14
MARGIN = 8
GAP = 6  # between swatch and text, and between columns


def _text_width(text):
    (width, _), _ = cv2.getTextSize(text, FONT, FONT_SCALE, 1)
    return width


def legend_layout(names, height):
    """Boxes of the legend entries in a panel ``height`` pixels tall: ``(width, [(x, y, w, h), ...])``.

    Entries fill columns top to bottom; a column is as wide as its longest name, so no two boxes overlap.
    """
    rows = max(1, (height - 2 * MARGIN) // ROW_HEIGHT)
    columns = math.ceil(len(names) / rows) if names else 0
    boxes, x = [], MARGIN
    for column in range(columns):
        entries = names[column * rows:(column + 1) * rows]
        width = SWATCH + GAP + max(_text_width(n) for n in entries)
        for row in range(len(entries)):
            boxes.append((x, MARGIN + row * ROW_HEIGHT, width, ROW_HEIGHT))
        x += width + 2 * GAP
    return x - 2 * GAP + MARGIN if boxes else 2 * MARGIN, boxes


def draw_legend(class_ids, class_names, palette, height):
    """An (height, W, 3) uint8 RGB white panel listing ``class_ids`` with their colour and name."""
    names = [class_names[c] if c < len(class_names) else str(c) for c in class_ids]
    width, boxes = legend_layout(names, height)
    panel = np.full((height, width, 3), 255, dtype=np.uint8)
    for class_id, name, (x, y, _, h) in zip(class_ids, names, boxes):
        top = y + (h - SWATCH) // 2
        color = tuple(int(v) for v in palette[class_id])
        cv2.rectangle(panel, (x, top), (x + SWATCH - 1, top + SWATCH - 1), color, thickness=-1)
        cv2.rectangle(panel, (x, top), (x + SWATCH - 1, top + SWATCH - 1), (60, 60, 60), thickness=1)
        cv2.putText(panel, name, (x + SWATCH + GAP, top + SWATCH - 2), FONT, FONT_SCALE, (20, 20, 20), 1, cv2.LINE_AA)
    return panel
