"""Pascal Context 459 classes (uint16 labels, ignore 65535): the 59-class pipeline on the full label set.

Same augmentations, sizes and batch as ``pascal_context_59.py``, with ignore label 65535 everywhere:
a model config must set ``model.ignore_label = IGNORE_LABEL`` and its loss's ``ignore_label`` too.
Needs ``tools/prepare_pascal_context.py``.
"""
from .pascal_context_59 import BASE_SCALE, CROP_SIZE, SLIDE_STRIDE, TTA_RATIOS, dataloader  # noqa: F401

NUM_CLASSES = 459
IGNORE_LABEL = 65535

dataloader.train.dataset.name = "pascal_context_459_sem_seg_train"
dataloader.test.dataset.name = "pascal_context_459_sem_seg_val"
for _mapper in (dataloader.train.mapper, dataloader.test.mapper):
    _mapper.num_classes = NUM_CLASSES
    _mapper.ignore_label = IGNORE_LABEL
for _aug in dataloader.train.mapper.augmentations:
    if "ignore_label" in _aug:
        _aug.ignore_label = IGNORE_LABEL
