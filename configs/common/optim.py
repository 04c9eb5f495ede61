"""Optimizers. Parameter groups follow MMCV's name rule (first longest matching key decides)."""
import copy

import torch
from detectron2.config import LazyCall as L

from ctxseg.engine import param_groups_by_name

# ``params.model`` is filled in by the training loop.
AdamW = L(torch.optim.AdamW)(
    params=L(param_groups_by_name)(base_lr="${..lr}", weight_decay="${..weight_decay}", custom_keys={}),
    lr=6e-5,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0.01,
)

# The Swin / IIWA keys of MMSegmentation's configs (no decay for norms and position tables).
SWIN_CUSTOM_KEYS = {
    "norm": {"decay_mult": 0.0},
    "absolute_pos_embed": {"decay_mult": 0.0},
    "relative_position_bias_table": {"decay_mult": 0.0},
}

# MMSegmentation's Swin recipe, which the IIWA configs use : AdamW 6e-5, decay 0.01,
# none on norms and position tables. Configs add their backbone ``lr_mult`` key to ``params.custom_keys``.
SwinAdamW = copy.deepcopy(AdamW)
SwinAdamW.params.custom_keys = SWIN_CUSTOM_KEYS
