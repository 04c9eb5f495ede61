"""IIWA Swin-B, ADE20K 512x512, 160k iterations (upstream iiwa_swinb_512x512_160k_ade20k_type1): 51.85 mIoU.

Backbone from swin_base_patch4_window12_384_22k.pth. Upstream HEAD has Swin-L dimensions with that
Swin-B checkpoint, which cannot load (the shapes differ); ``use_swin_b`` takes the true Swin-B dimensions
of its earlier revision (E=128, neck 128/256/512, decoder 256/256) with HEAD's windows and schedule: the
only combination that loads the checkpoint (docs/iiwa_reconstruction.md).
"""
from .....configs.common.data.ade20k import TTA_RATIOS
from .....configs.common.models.iiwa import use_swin_b
from .base_iiwa_ade20k_512x512_160k import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

use_swin_b(model)
# The released data.test is 6 scales + flip, though the number is published as single scale;
# single scale: model.tta_scales=None model.tta_flip=False.
model.tta_scales = TTA_RATIOS
model.tta_flip = True

# Upstream "backbone: lr_mult". Our neck lives under backbone.fusions, so the key names the Swin only;
# being longer than "norm", it still gives Swin norms lr x 0.3 with weight decay
# (MMCV's rule: only the longest matching key applies, ctxseg.engine.optimizer).
optimizer.params.custom_keys["backbone.bottom_up"] = {"lr_mult": 0.3}

train.output_dir = "./output/iiwa_swin_b_512x512_160k"
