"""Semantic FPN on a ResNet-18 from scratch (the ``fpn_r18_toy.py`` recipe) on the context toy.

    python tools/make_toy_dataset.py --kind context --out datasets/toy_context
    python tools/train_net.py --config-file configs/toy/fpn_r18_context_toy.py
"""
from ..common.data.toy_context import MAX_ITER, NUM_CLASSES, dataloader  # noqa: F401
from .fpn_r18_toy import lr_multiplier, model, optimizer, train  # noqa: F401

model.num_classes = NUM_CLASSES
train.max_iter = MAX_ITER
train.eval_period = MAX_ITER
train.output_dir = "./output/fpn_r18_context_toy"
