"""Prepare Pascal Context: 59-class PNGs from ``trainval_merged.json``, 459-class TIFFs from the ``.mat`` files.

``ctxseg-prepare-pascal-context`` (``tools/prepare_pascal_context.py``) runs :func:`prepare` from the command line.

Reads ``ROOT/trainval_merged.json`` (COCO-like: ``images[]`` with ``image_id``, ``file_name``, ``phase``
train/val, ``height``, ``width``; ``annos_segmentation[]`` with ``image_id``, ``category_id`` (1-based over
the 459 classes) and an RLE ``segmentation``), decoded with pycocotools, and ``ROOT/trainval/<id>.mat``
(``LabelMap``, uint16, 1-based over the 459 classes, 0 = unlabelled). Writes

    ROOT/annotations_ctx59/{training,validation}/<id>.png    uint8: 0..58, 255 (background, other classes)
    ROOT/annotations_ctx459/{training,validation}/<id>.tif   uint16: label - 1, 0 -> 65535

The JSON's ``phase`` chooses the split of both. Idempotent and atomic per file.
"""
import json
import os
from collections import defaultdict

import numpy as np
import scipy.io
from pycocotools import mask as mask_utils

from .pascal_context import context459_to_59, pascal_context_root
from .preparation import (PreparationError, check_count, checked_outputs, checked_source_name, encode_label,
                          is_up_to_date, run_tasks, summarize, write_if_changed)

EXPECTED = {"training": 4996, "validation": 5104}
PHASES = {"train": "training", "val": "validation"}


def load_json(path):
    """The images (with their annotations) of ``trainval_merged.json``; a missing or truncated file is named."""
    if not os.path.isfile(path):
        raise PreparationError(f"Missing input file: {path} (download trainval_merged.json from the Pascal Context "
                               "website into the VOC2010 folder)")
    try:
        with open(path) as f:
            data = json.load(f)
        images, annotations = data["images"], data["annos_segmentation"]
    except ValueError as e:
        raise PreparationError(f"Cannot read {path} (truncated or not JSON?): {e}") from e
    except KeyError as e:
        raise PreparationError(f"{path} has no key {e}; expected 'images' and 'annos_segmentation'") from e
    by_image = defaultdict(list)
    for annotation in annotations:
        by_image[annotation["image_id"]].append(annotation)
    return [(image, by_image[image["image_id"]]) for image in images]


def decode_context459(image, annotations):
    """The HxW uint16 map of 1-based 459-class ids (0 = background) drawn from an image's RLEs, in order."""
    height, width = int(image["height"]), int(image["width"])
    label = np.zeros((height, width), dtype=np.uint16)
    for annotation in annotations:
        rle = annotation["segmentation"]
        if isinstance(rle["counts"], list):  # uncompressed RLE
            rle = mask_utils.frPyObjects(rle, height, width)
        elif isinstance(rle["counts"], str):
            rle = dict(rle, counts=rle["counts"].encode("ascii"))
        mask = mask_utils.decode(rle).astype(bool)
        if mask.shape != (height, width):
            raise PreparationError(f"image {image['file_name']}: an RLE of size {mask.shape} in an image of size "
                                   f"{(height, width)}")
        label[mask] = int(annotation["category_id"])
    return label


def convert_59(task):
    """Write one 59-class PNG from the JSON's RLEs: task = (json path, image, annotations, output)."""
    json_path, image, annotations, output = task
    if is_up_to_date(output, [json_path]):
        return "up-to-date", output
    label = context459_to_59(decode_context459(image, annotations))
    changed = write_if_changed(output, encode_label(label, "png"))
    return ("written" if changed else "unchanged"), output


def read_label_map(path):
    """The ``LabelMap`` of a Pascal Context ``.mat`` file; a missing or truncated file is named."""
    if not os.path.isfile(path):
        raise PreparationError(f"Missing input file: {path}")
    try:
        label_map = scipy.io.loadmat(path)["LabelMap"]
    except KeyError:
        raise PreparationError(f"{path} has no 'LabelMap' variable") from None
    except Exception as e:  # scipy raises several types on a damaged file
        raise PreparationError(f"Cannot read {path} (truncated or corrupt?): {type(e).__name__}: {e}") from e
    if label_map.ndim != 2 or label_map.min() < 0 or label_map.max() > 459:
        raise PreparationError(f"{path}: LabelMap must be a 2-D map of ids 0..459, got shape {label_map.shape} "
                               f"and values {label_map.min()}..{label_map.max()}")
    return label_map


def convert_459(task):
    """Write one 459-class uint16 TIFF from a ``.mat``: task = (mat path, output)."""
    source, output = task
    if is_up_to_date(output, [source]):
        return "up-to-date", output
    label = read_label_map(source).astype(np.int32) - 1
    label[label < 0] = 65535
    changed = write_if_changed(output, encode_label(label, "tif"))
    return ("written" if changed else "unchanged"), output


def split_images(items, allow_partial):
    """Group the JSON's (image, annotations) by split folder and check the counts."""
    splits = {"training": [], "validation": []}
    for image, annotations in items:
        phase = image.get("phase")
        if phase not in PHASES:
            raise PreparationError(f"image {image.get('file_name')}: phase '{phase}', expected 'train' or 'val'")
        splits[PHASES[phase]].append((image, annotations))
    for split, entries in splits.items():
        check_count(f"trainval_merged.json, {split} images", len(entries), EXPECTED[split], allow_partial)
    return splits


def prepare(root=None, workers=1, allow_partial=False, only=None):
    """Write the 59-class PNGs and/or (``only``: "59" or "459") the 459-class TIFFs under ``root``.

    ``root`` defaults to ``$DETECTRON2_DATASETS/VOCdevkit/VOC2010``. Returns 0, or 1 if a file failed
    (each failure is printed). A missing or unreadable JSON, a missing folder or a wrong image count
    raises ``PreparationError`` before anything is written.
    """
    root = root or pascal_context_root()
    json_path = os.path.join(root, "trainval_merged.json")
    splits = split_images(load_json(json_path), allow_partial)
    if only != "59" and not os.path.isdir(os.path.join(root, "trainval")):
        raise PreparationError(f"Missing folder {os.path.join(root, 'trainval')}: download trainval.tar.gz "
                               f"(the 459-class .mat files) from the Pascal Context website and extract it in {root}")
    status = 0
    jobs = []
    for split, entries in splits.items():
        stems = [os.path.splitext(checked_source_name(image.get("file_name"), json_path))[0] for image, _ in entries]
        if only != "459":
            out_dir = os.path.join(root, "annotations_ctx59", split)
            outputs = checked_outputs(root, [os.path.join(out_dir, stem + ".png") for stem in stems])
            tasks = [(json_path, image, annotations, output) for output, (image, annotations) in zip(outputs, entries)]
            jobs.append((out_dir, convert_59, tasks, f"Context-59 {split}"))
        if only != "59":
            out_dir = os.path.join(root, "annotations_ctx459", split)
            outputs = checked_outputs(root, [os.path.join(out_dir, stem + ".tif") for stem in stems])
            tasks = [(os.path.join(root, "trainval", stem + ".mat"), output) for stem, output in zip(stems, outputs)]
            jobs.append((out_dir, convert_459, tasks, f"Context-459 {split}"))
    # Every name and output is checked before the first file is written.
    status = 0
    for out_dir, convert, tasks, desc in jobs:
        status |= summarize(out_dir, run_tasks(convert, tasks, workers, desc=desc))
    return status
