"""IIWA (the ``iiwa_swin_toy.py`` model and recipe) on the context toy.

    python tools/make_toy_dataset.py --kind context --out datasets/toy_context
    python tools/train_net.py --config-file configs/toy/iiwa_swin_context_toy.py
"""
from ..common.data.toy_context import MAX_ITER, NUM_CLASSES, dataloader  # noqa: F401
from .iiwa_swin_toy import lr_multiplier, model, optimizer, train  # noqa: F401

model.num_classes = NUM_CLASSES
train.max_iter = MAX_ITER
train.eval_period = MAX_ITER
train.output_dir = "./output/iiwa_swin_context_toy"
