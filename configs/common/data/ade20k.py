"""ADE20K (150 classes), the seed papers' pipeline: 512x512 crops from a (2048, 512) base scale.

Train: ratio-range resize (0.5, 2.0) of (2048, 512), 512x512 crop with cat_max_ratio 0.75, flip, photometric
distortion, pad to the crop. Test: keep-ratio resize to (2048, 512). 16 images per iteration in all
(2 per GPU on 8 GPUs). ``ade20k_sem_seg_*`` need ``tools/prepare_ade20k.py``; set
``dataloader.train.dataset.name = "ade20k_raw_sem_seg_train"`` (and val) to read the raw labels instead.
Inference mode is a model setting (``model.test_mode``, ``model.crop_size``, ``model.stride``): each model
config chooses its own (IIWA: slide windows of the crop size, stride 384; MMSegmentation's ADE20K default
stride is 341). ``TTA_RATIOS`` are the scales of the multi-scale test.
"""
from .semseg_pipeline import semseg_dataloader

NUM_CLASSES = 150
IGNORE_LABEL = 255
CROP_SIZE = (512, 512)
BASE_SCALE = (2048, 512)  # (long, short)
TTA_RATIOS = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)

dataloader = semseg_dataloader("ade20k_sem_seg_train", "ade20k_sem_seg_val",
                               NUM_CLASSES, CROP_SIZE, BASE_SCALE, ratio_range=(0.5, 2.0),
                               ignore_label=IGNORE_LABEL, batch_size=16, num_workers=4)  # 16 in all: 2 per GPU x 8 GPUs
