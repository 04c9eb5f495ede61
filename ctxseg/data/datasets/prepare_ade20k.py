"""Prepare ADE20K for the ``ade20k_sem_seg_train/val`` entries: raw labels -> ``annotations_detectron2``.

``ctxseg-prepare-ade20k`` (``tools/prepare_ade20k.py``) runs :func:`prepare` from the command line.

Reads ``ROOT/annotations/{training,validation}/ADE_*.png`` (0 unlabelled, 1..150) and writes
``ROOT/annotations_detectron2/{training,validation}/ADE_*.png`` with label - 1 and 0 -> 255.
Idempotent (up-to-date outputs are skipped, unchanged bytes never rewritten), atomic per file.
The ``ade20k_raw_sem_seg_*`` entries need no preparation: they reduce the zero label on load.
"""
import os

import numpy as np

from .ade20k import ade20k_root
from .preparation import (PreparationError, check_count, checked_outputs, encode_label, is_up_to_date,
                          read_label_png, run_tasks, summarize, write_if_changed)

EXPECTED = {"training": 20210, "validation": 2000}


def reduce_zero_label(label):
    """ADE20K's rule on a raw uint8 label: 0 -> 255, k -> k - 1."""
    reduced = label.astype(np.int32) - 1
    reduced[label == 0] = 255
    return reduced.astype(np.uint8)


def convert_one(task):
    """Convert one raw label file (source, output) -> (status, output)."""
    source, output = task
    if is_up_to_date(output, [source]):
        return "up-to-date", output
    label = read_label_png(source)
    if label.ndim != 2 or label.dtype != np.uint8:
        raise PreparationError(f"{source}: expected a single-channel uint8 label, got shape {label.shape} "
                               f"dtype {label.dtype}")
    changed = write_if_changed(output, encode_label(reduce_zero_label(label), "png"))
    return ("written" if changed else "unchanged"), output


def list_tasks(root, split, allow_partial):
    """The (raw label, output) pairs of a split, after checking the folders and the counts."""
    image_dir = os.path.join(root, "images", split)
    label_dir = os.path.join(root, "annotations", split)
    for folder in (image_dir, label_dir):
        if not os.path.isdir(folder):
            raise PreparationError(f"Missing folder {folder}: download ADEChallengeData2016.zip (MIT Scene Parsing "
                                   f"benchmark) and extract it under {os.path.dirname(root) or '.'}")
    images = sorted(f[:-4] for f in os.listdir(image_dir) if f.endswith(".jpg"))
    labels = sorted(f[:-4] for f in os.listdir(label_dir) if f.endswith(".png"))
    check_count(f"{image_dir} (*.jpg)", len(images), EXPECTED[split], allow_partial)
    missing = sorted(set(images) - set(labels))
    if missing:
        raise PreparationError(f"{len(missing)} images of {image_dir} have no label in {label_dir} "
                               f"(first: {os.path.join(label_dir, missing[0] + '.png')})")
    out_dir = os.path.join(root, "annotations_detectron2", split)
    outputs = checked_outputs(root, [os.path.join(out_dir, s + ".png") for s in labels])
    return [(os.path.join(label_dir, s + ".png"), output) for s, output in zip(labels, outputs)]


def prepare(root=None, workers=1, allow_partial=False):
    """Convert both splits under ``root`` (default ``$DETECTRON2_DATASETS/ADEChallengeData2016``).

    Returns 0, or 1 if a file failed (each failure is printed). A missing folder, a wrong file
    count or an image without label raises ``PreparationError`` before anything is written.
    """
    root = root or ade20k_root()
    jobs = [(split, list_tasks(root, split, allow_partial)) for split in ("training", "validation")]
    status = 0
    for split, tasks in jobs:
        results = run_tasks(convert_one, tasks, workers, desc=f"ADE20K {split}")
        status |= summarize(os.path.join(root, "annotations_detectron2", split), results)
    return status
