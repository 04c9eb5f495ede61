"""Test set-up: ``ctxseg`` is imported first so that Detectron2 is patched before any test imports it."""
import os

import ctxseg  # noqa: F401
import torch

# Two cores on the CI machines; more threads only add contention.
torch.set_num_threads(min(2, os.cpu_count() or 1))
