"""IIWA (dilated Swin + Cross-IIWA fusion neck + IIWA decoder) at toy scale, trained from scratch on the CPU:
the model ``make demo`` trains.

    python tools/make_toy_dataset.py --out datasets/toy
    python tools/train_net.py --config-file configs/toy/iiwa_swin_toy.py

The Swin-S ADE20K model shrunk: Swin E=32 (depths 1,1,2,1, window 4) with strides (4, 2, 1, 1), so a
128x128 crop gives 32x32 and 16x16 maps. Neck windows (4,4) on the 1/8 keys and (8,8) on the 1/4
query: a 4x4 window grid, as 16x16 is at 512x512. Decoder: one Self-IIWA + MS Cross-IIWA block of
width 64, windows (4,4) at 1/8: 16 query windows matched among 64 + 16 + 16 key windows.
0.50 GFLOPs at 128x128.

The recipe differs from the ADE20K one because the toy model starts from random weights and has
minutes, not 160k iterations: AdamW 1e-3 for the head with the Swin at 0.3x (upstream configs also give
the backbone its own lr_mult), plain cross-entropy, no drop-path, 50 warm-up steps, 1600 steps.

* OHEM is not what held the toy back: with ``min_kept=100000`` it keeps all but a handful of the pixels of
  a batch of 128x128 crops, so it is plain cross-entropy here; it is switched off only to say so.
* The decoder's embeddings are BatchNorm ones (``embed_norm="bn"``): with the LayerNorm ones and the
  upstream-like recipe (AdamW 5e-4, one lr) the Swin falls into "all tokens alike" and only background
  is predicted (``projects/IIWA/README.md``, "Decoder embeddings"; ``tests/test_iiwa_collapse.py``).
* Backbone lr (one seed, 600 steps): 0.1x 37.6 mIoU, 0.3x 47.4, 1x (head 5e-4) 44.3. 1000 steps at 0.1x
  reached 58.3 (48.7 to 54.5 in earlier runs); at 0.3x, 1200 steps gave 68.5-76.5 over 3 seeds and
  1600 steps 80.3-81.3 (the spread closes as the slow classes, dots and grid, catch up). The README
  gives the 3-seed results and the time per step.
"""
from ..common.data.toy import NUM_CLASSES, dataloader  # noqa: F401
from ..common.models.iiwa import model
from ..common.optim import SWIN_CUSTOM_KEYS
from ..common.optim import AdamW as optimizer
from ..common.schedule import lr_multiplier
from ..common.train import train

model.backbone.bottom_up.update(embed_dim=32, depths=[1, 1, 2, 1], num_heads=[1, 2, 4, 8], window_size=4,
                                drop_path_rate=0.0)
model.backbone.n_head = (2, 4, 8)
model.backbone.patch_sizes = [(4, 4), (8, 8), (4, 4), (4, 4), (4, 4), (4, 4)]
model.head.update(embed_dim=64, query_dim=64, memory_dims=(32, 64, 128), depths=(1,), num_heads=4,
                  window_size_q=(4, 4), window_size_k=(4, 4), drop_path_rate=0.0)
# OHEM with upstream's min_kept (100000) keeps nearly every pixel of 8 crops of 128x128: plain CE, said so.
model.head.ohem_min_kept = None
model.num_classes = NUM_CLASSES
model.test_mode = "whole"
model.crop_size = None
model.stride = None

optimizer.lr = 1e-3
optimizer.weight_decay = 0.01
# MMCV's first-longest-key rule: "backbone.bottom_up" decides for every backbone weight.
optimizer.params.custom_keys = {**SWIN_CUSTOM_KEYS, "backbone.bottom_up": {"lr_mult": 0.3}}

train.max_iter = 1600
train.eval_period = 1600
train.checkpointer.period = 200
train.output_dir = "./output/iiwa_swin_toy"
lr_multiplier.warmup_iters = 50
lr_multiplier.power = 1.0
