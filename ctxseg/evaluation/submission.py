"""Benchmark-server prediction files: Cityscapes labelIds PNGs and ADE20K (class + 1) PNGs."""
import io
import os

import numpy as np
from PIL import Image

from ..utils import atomic_write

__all__ = ["CITYSCAPES_TRAIN_TO_LABEL_ID", "submission_label", "write_submission_png"]


def _cityscapes_lut():
    from ..data.datasets.cityscapes import CITYSCAPES_LABEL_IDS

    lut = np.zeros(256, dtype=np.uint8)  # anything else -> 0 ("unlabeled"), which the server ignores
    lut[:len(CITYSCAPES_LABEL_IDS)] = CITYSCAPES_LABEL_IDS
    return lut


CITYSCAPES_TRAIN_TO_LABEL_ID = _cityscapes_lut()


def submission_label(prediction, submission_format):
    """Convert an HxW class map to the server's ids: "cityscapes" (trainId -> labelId) or "ade20k" (+1)."""
    prediction = np.asarray(prediction, dtype=np.int64)
    if submission_format == "cityscapes":
        return CITYSCAPES_TRAIN_TO_LABEL_ID[np.clip(prediction, 0, 255)]
    if submission_format == "ade20k":
        if prediction.size and prediction.max() > 254:
            raise ValueError(f"ADE20K submission: class {prediction.max()} does not fit a uint8 PNG after +1")
        return (prediction + 1).astype(np.uint8)
    raise ValueError(f"Unknown submission format '{submission_format}' (expected 'cityscapes' or 'ade20k')")


def write_submission_png(prediction, file_name, submission_dir, submission_format):
    """Write the prediction of input ``file_name`` as ``submission_dir/<its stem>.png`` atomically; return the path."""
    if hasattr(prediction, "cpu"):
        prediction = prediction.cpu().numpy()
    stem = os.path.splitext(os.path.basename(file_name))[0]
    path = os.path.join(submission_dir, stem + ".png")
    buffer = io.BytesIO()
    Image.fromarray(submission_label(prediction, submission_format), mode="L").save(buffer, format="PNG")
    with atomic_write(path) as f:
        f.write(buffer.getvalue())
    return path
