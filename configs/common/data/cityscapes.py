"""Cityscapes (19 trainIds), the seed papers' pipeline: 512x1024 crops from a (2048, 1024) base scale.

Train: ratio-range resize (0.5, 2.0) of (2048, 1024), 512x1024 crop with cat_max_ratio 0.75, flip,
photometric distortion, pad to the crop. Test: keep-ratio resize to (2048, 1024) (the full 1024x2048 image).
16 images per iteration in all (2 per GPU on 8 GPUs). Needs ``tools/prepare_cityscapes.py`` (``--coarse``
for IIWA's first stage, which trains on ``COARSE_TRAIN`` + fine train). Model settings for configs:
``CITYSCAPES_CLASS_WEIGHTS`` (the loss's class weights), slide inference over windows of ``CROP_SIZE`` at
``SLIDE_STRIDE``, and the multi-scale test's ``TTA_RATIOS``.
For the test server set ``dataloader.test.dataset.name = "cityscapes_fine_sem_seg_test"`` and
``dataloader.evaluator.submission_format = "cityscapes"``.
"""
from .semseg_pipeline import semseg_dataloader

NUM_CLASSES = 19
IGNORE_LABEL = 255
CROP_SIZE = (512, 1024)
BASE_SCALE = (2048, 1024)  # (long, short)
SLIDE_STRIDE = (256, 512)
TTA_RATIOS = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)
COARSE_TRAIN = "cityscapes_coarse_sem_seg_train_extra"
# Loss weights per trainId, those of the released IIWA Cityscapes configs.
CITYSCAPES_CLASS_WEIGHTS = [0.8373, 0.918, 0.866, 1.0345, 1.0166, 0.9969, 0.9754, 1.0489, 0.8786, 1.0023, 0.9539,
                            0.9843, 1.1116, 0.9037, 1.0865, 1.0955, 1.0865, 1.1529, 1.0507]

dataloader = semseg_dataloader("cityscapes_fine_sem_seg_train", "cityscapes_fine_sem_seg_val",
                               NUM_CLASSES, CROP_SIZE, BASE_SCALE, ratio_range=(0.5, 2.0),
                               ignore_label=IGNORE_LABEL, batch_size=16, num_workers=4)  # 16 in all: 2 per GPU x 8 GPUs
