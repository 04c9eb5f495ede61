"""ADE20K (SceneParsing, ADEChallengeData2016): 150 classes, catalog entries.

Layout under ``$DETECTRON2_DATASETS``::

    ADEChallengeData2016/images/{training,validation}/ADE_*.jpg
    ADEChallengeData2016/annotations/{training,validation}/ADE_*.png            raw: 0 unlabelled, 1..150
    ADEChallengeData2016/annotations_detectron2/{training,validation}/ADE_*.png  0..149, 255 (prepared)

``ade20k_sem_seg_train/val`` are Detectron2's own names, re-registered here with the palette and the
ctxseg loader; they read ``annotations_detectron2/`` (``tools/prepare_ade20k.py``).
``ade20k_raw_sem_seg_train/val`` read the raw ``annotations/`` and reduce the zero label on load.
``ade20k_sem_seg_test`` lists the 3,352 test images of the separate test release
(``ADEChallengeData2016/release_test/testing/*.jpg``, no labels): evaluate it with
``dataloader.evaluator.submission_format = "ade20k"`` to write the server's PNGs.
"""
import functools
import os

from detectron2.data.datasets.builtin_meta import ADE20K_SEM_SEG_CATEGORIES

from .common import datasets_root, load_sem_seg_pairs, register_sem_seg_dataset, update_dataset_roots
from .palette import bit_palette

__all__ = ["ADE20K_CLASSES", "ADE20K_COLORS", "ADE20K_SPLITS", "PREPARE_HINT", "ade20k_root", "load_ade20k",
           "load_ade20k_test"]

ADE20K_CLASSES = list(ADE20K_SEM_SEG_CATEGORIES)
ADE20K_COLORS = bit_palette(len(ADE20K_CLASSES))
PREPARE_HINT = "python tools/prepare_ade20k.py"
# name -> (split folder, annotation folder, reduce the zero label on load)
ADE20K_SPLITS = {
    "ade20k_sem_seg_train": ("training", "annotations_detectron2", False),
    "ade20k_sem_seg_val": ("validation", "annotations_detectron2", False),
    "ade20k_raw_sem_seg_train": ("training", "annotations", True),
    "ade20k_raw_sem_seg_val": ("validation", "annotations", True),
}


def ade20k_root():
    """The ADE20K folder, $DETECTRON2_DATASETS/ADEChallengeData2016, read at call time."""
    return os.path.join(datasets_root(), "ADEChallengeData2016")


def _split_dirs(name):
    split, annotations, _ = ADE20K_SPLITS[name]
    root = ade20k_root()
    return os.path.join(root, "images", split), os.path.join(root, annotations, split)


def load_ade20k(name):
    """Dataset dicts of the ADE20K entry ``name`` (raw entries reduce the zero label in the mapper)."""
    image_dir, label_dir = _split_dirs(name)
    reduce_zero_label = ADE20K_SPLITS[name][2]
    update_dataset_roots(name, image_root=image_dir, sem_seg_root=label_dir)
    hint = None if reduce_zero_label else PREPARE_HINT
    return load_sem_seg_pairs(image_dir, label_dir, ".jpg", ".png", reduce_zero_label=reduce_zero_label,
                              prepare_hint=hint)


def load_ade20k_test():
    """Dataset dicts of the unlabelled test release (images only)."""
    image_dir = os.path.join(ade20k_root(), "release_test", "testing")
    update_dataset_roots("ade20k_sem_seg_test", image_root=image_dir)
    return load_sem_seg_pairs(image_dir, None, ".jpg", None,
                              prepare_hint="unzip release_test.zip into ADEChallengeData2016/")


def _register_all_ade20k():
    for name in ADE20K_SPLITS:
        image_dir, label_dir = _split_dirs(name)
        # Replaces Detectron2's own registration of ade20k_sem_seg_* (same folders, plus the palette).
        register_sem_seg_dataset(
            name,
            functools.partial(load_ade20k, name),
            stuff_classes=list(ADE20K_CLASSES),
            stuff_colors=[list(c) for c in ADE20K_COLORS],
            ignore_label=255,
            image_root=image_dir,
            sem_seg_root=label_dir,
        )
    register_sem_seg_dataset(
        "ade20k_sem_seg_test",
        load_ade20k_test,
        stuff_classes=list(ADE20K_CLASSES),
        stuff_colors=[list(c) for c in ADE20K_COLORS],
        ignore_label=255,
        image_root=os.path.join(ade20k_root(), "release_test", "testing"),
    )


_register_all_ade20k()
