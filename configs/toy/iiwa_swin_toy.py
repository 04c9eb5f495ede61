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
minutes, not 160k iterations. Measured on the toy (lr is the head's; the backbone's is lr x mult):

* AdamW 5e-4, OHEM, backbone mult 1: predicts only background after 1000 steps. The Swin's deeper
  stages collapse to position-independent features early on (spatial std of res5 0.14 after 100
  steps, against 0.74 when a plain linear probe trains the same backbone), presumably because the
  randomly initialised decoder sends incoherent gradients that AdamW turns into full-size steps.
  The same at 1e-3 and 3e-4 without OHEM, and with the neck's attention fixes.
* AdamW 1e-4 everywhere, no OHEM: learns, but slowly (18.6 mIoU at 300 steps, 23.7 at 600).
* AdamW 1e-3 with the backbone at 0.1x (upstream configs also give the backbone its own lr_mult),
  no OHEM, no drop-path, 1000 steps: 37.3 mIoU at 500 steps, 54.4 at 1000.
* The same for 800 steps (the schedule ends sooner): 39.4 mIoU. Hence 1000 steps here, about 9 to 12
  minutes of training on 2 cores (0.54-0.71 s per step; fresh-clone `make demo`: 54.46).
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
# OHEM (upstream: keep >= 100000 pixels of a 512x512 crop) slows the start from scratch; plain CE here.
model.head.ohem_min_kept = None
model.num_classes = NUM_CLASSES
model.test_mode = "whole"
model.crop_size = None
model.stride = None

optimizer.lr = 1e-3
optimizer.weight_decay = 0.01
# MMCV's first-longest-key rule: "backbone.bottom_up" decides for every backbone weight.
optimizer.params.custom_keys = {**SWIN_CUSTOM_KEYS, "backbone.bottom_up": {"lr_mult": 0.1}}

train.max_iter = 1000
train.eval_period = 1000
train.checkpointer.period = 200
train.output_dir = "./output/iiwa_swin_toy"
lr_multiplier.warmup_iters = 50
lr_multiplier.power = 1.0
