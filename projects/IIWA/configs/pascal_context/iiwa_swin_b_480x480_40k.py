"""IIWA Swin-B, Pascal Context-59 480x480, 40k iterations (upstream ..._pascal_context_59_type1): 62.9 mIoU.

Backbone from swin_base_patch4_window12_384_22k.pth; 8 GPUs x 3 images; no decoder dropout.
"""
from .....configs.common.models.iiwa import use_swin_b
from .base_iiwa_pascal_context_480x480_40k import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

use_swin_b(model)
model.head.drop_rate = 0.0

dataloader.train.total_batch_size = 24

# Upstream "backbone: lr_mult". Our neck lives under backbone.fusions, so the key names the Swin only;
# being longer than "norm", it still gives Swin norms lr x 0.2 with weight decay
# (MMCV's rule: only the longest matching key applies, ctxseg.engine.optimizer).
optimizer.params.custom_keys["backbone.bottom_up"] = {"lr_mult": 0.2}

train.output_dir = "./output/iiwa_swin_b_480x480_40k"
