"""The built-in toy datasets: textured objects on noise, in ADE20K's raw layout.

Made by ``tools/make_toy_dataset.py`` (``ctxseg/data/datasets/toy_generator.py``) under
``$DETECTRON2_DATASETS``::

    toy/images/{training,validation}/toy_NNNNN.png
    toy/annotations/{training,validation}/toy_NNNNN.png   (0 unlabelled, 1 background, 2..7 objects)
    toy_context/...                                        (--kind context: 2, 3 markers, 4, 5 objects)

Registered as ``toy_sem_seg_train/val`` (7 classes: background and the six textures) and
``toy_context_sem_seg_train/val`` (5 classes: background, marker A, marker B, object A, object B: an
object's class is its image's marker's, far away); the zero label is reduced on load, 255 marks the
unlabelled band.
"""
import functools
import os

from .common import (
    datasets_root,
    load_sem_seg_pairs,
    register_sem_seg_dataset,
    update_dataset_roots,
)

__all__ = ["TOY_CLASSES", "TOY_COLORS", "TOY_SPLITS", "TOY_CONTEXT_CLASSES", "TOY_CONTEXT_COLORS",
           "TOY_CONTEXT_SPLITS", "PREPARE_HINT", "toy_root", "load_toy"]

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
# Class i is the stored label i + 1 (toy_generator.CONTEXT_MARKER_LABELS, CONTEXT_OBJECT_LABELS).
TOY_CONTEXT_CLASSES = ["background", "marker A", "marker B", "object A", "object B"]
TOY_CONTEXT_COLORS = TOY_COLORS[:len(TOY_CONTEXT_CLASSES)]
TOY_CONTEXT_SPLITS = {"toy_context_sem_seg_train": "training", "toy_context_sem_seg_val": "validation"}
PREPARE_HINT = "python tools/make_toy_dataset.py --out datasets/toy"
_HINTS = {"toy": PREPARE_HINT, "toy_context": "python tools/make_toy_dataset.py --kind context --out datasets/toy_context"}


def toy_root(folder="toy"):
    """A toy dataset folder, $DETECTRON2_DATASETS/toy (or /toy_context), read at call time."""
    return os.path.join(datasets_root(), folder)


def _split_dirs(folder, split):
    root = toy_root(folder)
    return os.path.join(root, "images", split), os.path.join(root, "annotations", split)


def load_toy(name):
    """Dataset dicts of the toy split registered as ``name`` (zero label reduced by the mapper)."""
    folder = "toy_context" if name in TOY_CONTEXT_SPLITS else "toy"
    image_dir, label_dir = _split_dirs(folder, {**TOY_SPLITS, **TOY_CONTEXT_SPLITS}[name])
    update_dataset_roots(name, image_root=image_dir, sem_seg_root=label_dir)
    return load_sem_seg_pairs(
        image_dir, label_dir, ".png", ".png", reduce_zero_label=True, prepare_hint=_HINTS[folder]
    )


def _register_all_toy():
    for folder, splits, classes, colors in (("toy", TOY_SPLITS, TOY_CLASSES, TOY_COLORS),
                                            ("toy_context", TOY_CONTEXT_SPLITS, TOY_CONTEXT_CLASSES,
                                             TOY_CONTEXT_COLORS)):
        for name, split in splits.items():
            image_dir, label_dir = _split_dirs(folder, split)
            register_sem_seg_dataset(
                name,
                functools.partial(load_toy, name),
                stuff_classes=list(classes),
                stuff_colors=[list(c) for c in colors],
                ignore_label=255,
                image_root=image_dir,
                sem_seg_root=label_dir,
            )


_register_all_toy()
