"""``tiny_swin_toy`` whose training samples take 0.25 s each to load (the same samples), 8 iterations.

Subprocess tests send signals to such a run while it trains; ``dataloader.train.mapper.seconds=0``
gives the same run at full speed.
"""
from detectron2.config import LazyCall as L

from tests.slow_mapper import SlowMapper

from .tiny_swin_toy import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

dataloader.train.mapper = L(SlowMapper)(mapper=dataloader.train.mapper, seconds=0.25)
train.max_iter = 8
