"""Semantic FPN on a Context Cluster backbone, ADE20K 512x512, 80k iterations: the authors' recipe.

Shared by ``fpn_coc_{small,medium}_{4,25,49}_512x512_80k.py``, which only choose the backbone. The recipe
(the authors' released mmseg 0.19 configs): AdamW lr 1e-4, weight decay 1e-4 on every parameter, poly 0.9 with no
warm-up down to 0, batch 32, 512x512 crops padded to 512x512 (the position channels depend on the
padded size), test at short side 512 then resized (not padded) to multiples of 32, whole-image
inference, cross-entropy averaged over all pixels (mmseg 0.19). Commands: ``projects/ContextCluster/README.md``.
"""
from detectron2.config import LazyCall as L

from ctxseg.data import AlignResize, ResizeKeepRatio
from ctxseg.modeling.backbone.context_cluster import coc_small

from .....configs.common.data.ade20k import BASE_SCALE, NUM_CLASSES, dataloader
from .....configs.common.models.semantic_fpn import model
from .....configs.common.optim import AdamW as optimizer
from .....configs.common.schedule import lr_multiplier
from .....configs.common.train import train

# agg_norm "sim" (the current code) for training from the current ImageNet checkpoints; the authors'
# ADE20K checkpoints (first release) need "count": model.backbone.bottom_up.agg_norm=count.
model.backbone.bottom_up = L(coc_small)(proposals=4, agg_norm="sim")
model.num_classes = NUM_CLASSES
# Detectron2's get_norm name; a single-process run (one GPU, or the CPU) may use "BN" instead.
model.head.norm = "SyncBN"
model.head.loss.reduction = "all"  # mmseg 0.19: mean over all pixels, ignored ones count as 0
model.test_mode = "whole"

# 8 GPUs x 4 images, as the authors' README trains. PVT's recipe, which CoC says it follows, is
# 4 GPUs x 4 = 16 at the same lr and iterations: dataloader.train.total_batch_size=16.
dataloader.train.total_batch_size = 32
# Test, as the released configs: keep-ratio resize into (2048, 512), then stretch to the next multiples of 32.
dataloader.test.mapper.augmentations = [
    L(ResizeKeepRatio)(base_scale=BASE_SCALE),
    L(AlignResize)(size_divisor=32),
]

optimizer.lr = 1e-4
optimizer.weight_decay = 1e-4
optimizer.params.custom_keys = {}  # no paramwise_cfg: norms, biases, layer scales all decay

lr_multiplier.power = 0.9
lr_multiplier.warmup_iters = 0
lr_multiplier.min_value = 0.0

# Empty: train from scratch. For ImageNet init, convert the authors' timm checkpoint and pass it here:
#   python tools/convert_weights.py --source coc-imagenet model_best.pth.tar coc_small_in1k.pth
#   ... train.init_checkpoint=coc_small_in1k.pth   (norm0/2/4/6, FPN and head start fresh)
train.init_checkpoint = ""
train.max_iter = 80000
train.eval_period = 8000
train.checkpointer.period = 8000
train.output_dir = "./output/fpn_coc_512x512_80k"
