"""The built-in toy dataset: textured objects on noise, in ADE20K's raw layout.

Made by ``tools/make_toy_dataset.py`` under ``$DETECTRON2_DATASETS/toy``::

    toy/images/{training,validation}/toy_NNNNN.png
    toy/annotations/{training,validation}/toy_NNNNN.png   (0 unlabelled, 1 background, 2..7 objects)

Registered as ``toy_sem_seg_train`` and ``toy_sem_seg_val``; the zero label is reduced on load,
giving 7 classes (0 background, 1..6 the object textures) and 255 for the unlabelled band.
"""
import functools
import os

from .common import (
    datasets_root,
    load_sem_seg_pairs,
    register_sem_seg_dataset,
    update_dataset_roots,
)

__all__ = ["TOY_CLASSES", "TOY_COLORS", "TOY_SPLITS", "PREPARE_HINT", "toy_root", "load_toy"]

# Class i is the stored label i + 1; the object classes are the textures drawn by the generator.
TOY_CLASSES = [
    "background",
    "horizontal stripes",
    "vertical stripes",
    "diagonal stripes",
    "checkerboard",
    "dots",
    "grid",
]
TOY_COLORS = [
    [120, 120, 120],
    [230, 25, 75],
    [60, 180, 75],
    [255, 225, 25],
    [0, 130, 200],
    [245, 130, 48],
    [145, 30, 180],
]
TOY_SPLITS = {"toy_sem_seg_train": "training", "toy_sem_seg_val": "validation"}
PREPARE_HINT = "python tools/make_toy_dataset.py --out datasets/toy"


def toy_root():
    """The toy dataset folder, $DETECTRON2_DATASETS/toy, read at call time."""
    return os.path.join(datasets_root(), "toy")


def _split_dirs(split):
    root = toy_root()
    return os.path.join(root, "images", split), os.path.join(root, "annotations", split)


def load_toy(name):
    """Dataset dicts of the toy split registered as ``name`` (zero label reduced by the mapper)."""
    image_dir, label_dir = _split_dirs(TOY_SPLITS[name])
    update_dataset_roots(name, image_root=image_dir, sem_seg_root=label_dir)
    return load_sem_seg_pairs(
        image_dir, label_dir, ".png", ".png", reduce_zero_label=True, prepare_hint=PREPARE_HINT
    )


def _register_all_toy():
    for name, split in TOY_SPLITS.items():
        image_dir, label_dir = _split_dirs(split)
        register_sem_seg_dataset(
            name,
            functools.partial(load_toy, name),
            stuff_classes=list(TOY_CLASSES),
            stuff_colors=[list(c) for c in TOY_COLORS],
            ignore_label=255,
            image_root=image_dir,
            sem_seg_root=label_dir,
        )


_register_all_toy()
