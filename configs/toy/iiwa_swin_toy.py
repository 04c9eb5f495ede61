"""IIWA (dilated Swin + Cross-IIWA fusion neck + IIWA decoder) at toy scale, trained from scratch on the CPU.

    python tools/make_toy_dataset.py --out datasets/toy
    python tools/train_net.py --config-file configs/toy/iiwa_swin_toy.py

The Swin-S ADE20K model shrunk: Swin E=32 (depths 1,1,2,1, window 4) with strides (4, 2, 1, 1), so a
128x128 crop gives 32x32 and 16x16 maps. Neck windows (4,4) on the 1/8 keys and (8,8) on the 1/4
query: a 4x4 window grid, as 16x16 is at 512x512. Decoder: one Self-IIWA + MS Cross-IIWA block of
width 64, windows (4,4) at 1/8: 16 query windows matched among 64 + 16 + 16 key windows.
0.50 GFLOPs at 128x128; a step of 8 crops takes about 0.7 s on 2 idle cores (1000 steps: about 12 min).
"""
from ..common.data.toy import NUM_CLASSES, dataloader  # noqa: F401
from ..common.models.iiwa import model
from ..common.optim import SWIN_CUSTOM_KEYS
from ..common.optim import AdamW as optimizer
from ..common.schedule import lr_multiplier
from ..common.train import train

model.backbone.bottom_up.update(embed_dim=32, depths=[1, 1, 2, 1], num_heads=[1, 2, 4, 8], window_size=4,
                                drop_path_rate=0.1)
model.backbone.n_head = (2, 4, 8)
model.backbone.patch_sizes = [(4, 4), (8, 8), (4, 4), (4, 4), (4, 4), (4, 4)]
model.head.update(embed_dim=64, query_dim=64, memory_dims=(32, 64, 128), depths=(1,), num_heads=4,
                  window_size_q=(4, 4), window_size_k=(4, 4), drop_path_rate=0.1)
# Upstream keeps at least 100000 of each 512x512 crop's pixels; the same share of a 128x128 crop.
model.head.ohem_min_kept = 6250
model.num_classes = NUM_CLASSES
model.test_mode = "whole"
model.crop_size = None
model.stride = None

optimizer.lr = 5e-4
optimizer.weight_decay = 0.01
optimizer.params.custom_keys = SWIN_CUSTOM_KEYS

train.max_iter = 1000
train.eval_period = 500
train.checkpointer.period = 500
train.output_dir = "./output/iiwa_swin_toy"
lr_multiplier.warmup_iters = 100
lr_multiplier.power = 1.0
