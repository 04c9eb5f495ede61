"""Cityscapes: 19 classes (trainIds), fine and coarse catalog entries.

Layout under ``$DETECTRON2_DATASETS``::

    cityscapes/leftImg8bit/{train,val,test,train_extra}/<city>/<city>_<seq>_<frame>_leftImg8bit.png
    cityscapes/gtFine/{train,val,test}/<city>/..._gtFine_labelTrainIds.png       (prepared)
    cityscapes/gtCoarse/train_extra/<city>/..._gtCoarse_labelTrainIds.png         (prepared)

``cityscapes_fine_sem_seg_train/val/test`` are Detectron2's own names, re-registered with the ctxseg
loader and evaluator type "sem_seg"; ``cityscapes_coarse_sem_seg_train_extra`` is the coarse set of
IIWA's first training stage. The ``*_labelTrainIds.png`` files come from ``tools/prepare_cityscapes.py``
(which needs cityscapesscripts, the ``[cityscapes]`` extra); reading and evaluating them does not.
"""
import functools
import os

from .common import datasets_root, load_sem_seg_pairs, register_sem_seg_dataset, update_dataset_roots

__all__ = ["CITYSCAPES_CLASSES", "CITYSCAPES_COLORS", "CITYSCAPES_LABEL_IDS", "CITYSCAPES_SPLITS", "PREPARE_HINT",
           "cityscapes_root", "load_cityscapes"]

# trainId -> (name, labelId, colour), the table of cityscapesscripts.helpers.labels (a test compares them),
# here so that registering the datasets needs no optional package.
_TRAIN_ID_LABELS = [
    ("road", 7, (128, 64, 128)), ("sidewalk", 8, (244, 35, 232)), ("building", 11, (70, 70, 70)),
    ("wall", 12, (102, 102, 156)), ("fence", 13, (190, 153, 153)), ("pole", 17, (153, 153, 153)),
    ("traffic light", 19, (250, 170, 30)), ("traffic sign", 20, (220, 220, 0)), ("vegetation", 21, (107, 142, 35)),
    ("terrain", 22, (152, 251, 152)), ("sky", 23, (70, 130, 180)), ("person", 24, (220, 20, 60)),
    ("rider", 25, (255, 0, 0)), ("car", 26, (0, 0, 142)), ("truck", 27, (0, 0, 70)), ("bus", 28, (0, 60, 100)),
    ("train", 31, (0, 80, 100)), ("motorcycle", 32, (0, 0, 230)), ("bicycle", 33, (119, 11, 32)),
]
CITYSCAPES_CLASSES = [name for name, _, _ in _TRAIN_ID_LABELS]
CITYSCAPES_COLORS = [list(color) for _, _, color in _TRAIN_ID_LABELS]
CITYSCAPES_LABEL_IDS = [label_id for _, label_id, _ in _TRAIN_ID_LABELS]  # what the test server reads
PREPARE_HINT = "python tools/prepare_cityscapes.py"
# name -> (split, annotation folder)
CITYSCAPES_SPLITS = {
    "cityscapes_fine_sem_seg_train": ("train", "gtFine"),
    "cityscapes_fine_sem_seg_val": ("val", "gtFine"),
    "cityscapes_fine_sem_seg_test": ("test", "gtFine"),
    "cityscapes_coarse_sem_seg_train_extra": ("train_extra", "gtCoarse"),
}


def cityscapes_root():
    """The Cityscapes folder, $DETECTRON2_DATASETS/cityscapes, read at call time."""
    return os.path.join(datasets_root(), "cityscapes")


def _split_dirs(name):
    split, annotations = CITYSCAPES_SPLITS[name]
    root = cityscapes_root()
    return os.path.join(root, "leftImg8bit", split), os.path.join(root, annotations, split)


def load_cityscapes(name):
    """Dataset dicts of the Cityscapes entry ``name`` (labels: the prepared trainId PNGs)."""
    image_dir, label_dir = _split_dirs(name)
    annotations = CITYSCAPES_SPLITS[name][1]
    update_dataset_roots(name, image_root=image_dir, sem_seg_root=label_dir)
    return load_sem_seg_pairs(image_dir, label_dir, "_leftImg8bit.png", f"_{annotations}_labelTrainIds.png",
                              prepare_hint=PREPARE_HINT)


def _register_all_cityscapes():
    for name in CITYSCAPES_SPLITS:
        image_dir, label_dir = _split_dirs(name)
        # Replaces Detectron2's cityscapes_fine_sem_seg_* (evaluator type "cityscapes_sem_seg", which
        # needs the official evaluation scripts) with ctxseg's loader and evaluator.
        register_sem_seg_dataset(
            name,
            functools.partial(load_cityscapes, name),
            stuff_classes=list(CITYSCAPES_CLASSES),
            stuff_colors=[list(c) for c in CITYSCAPES_COLORS],
            ignore_label=255,
            image_root=image_dir,
            sem_seg_root=label_dir,
        )


_register_all_cityscapes()
