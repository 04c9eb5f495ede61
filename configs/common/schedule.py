"""LR multiplier: linear warm-up on poly decay (MMCV semantics), over ``train.max_iter``."""
from detectron2.config import LazyCall as L

from ctxseg.engine import WarmupPolyScheduler

lr_multiplier = L(WarmupPolyScheduler)(max_iter="${train.max_iter}", power=1.0, warmup_iters=1500,
                                       warmup_ratio=1e-6)
