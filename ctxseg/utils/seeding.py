"""Random streams that are pure functions of a seed and a position.

Training resumes exactly because no random draw depends on what ran before it in the process: the
sample at global position p of the data stream, its augmentations, and the dropout of iteration i on
rank r each draw from RNGs seeded with ``derive_seed(seed, stream, ...)``.
"""
import contextlib
import random

import numpy as np
import torch

__all__ = ["Stream", "derive_seed", "seeded_rng", "random_seed"]


class Stream:
    """The independent random streams of a run (the second key of ``derive_seed``)."""

    DATA_ORDER = 0  # the permutation of the dataset in each epoch
    AUGMENTATION = 1  # the augmentation draws of one sample
    TRAINING_STEP = 2  # dropout, drop-path and any other draw of one iteration on one rank
    MODEL_INIT = 3  # the initial weights


def derive_seed(*keys):
    """A well-mixed seed in [0, 2**63) determined by non-negative integer ``keys`` (NumPy's SeedSequence)."""
    words = np.random.SeedSequence([int(k) for k in keys]).generate_state(2, dtype=np.uint64)
    return int(words[0] >> np.uint64(1))


def random_seed():
    """A fresh seed in [0, 2**31) from the operating system's entropy."""
    return int(np.random.SeedSequence().generate_state(1, dtype=np.uint32)[0] >> np.uint32(1))


@contextlib.contextmanager
def seeded_rng(seed, devices=()):
    """Seed Python's, NumPy's and torch's global RNGs (CPU and ``devices``) inside; restore their states after.

    Code inside draws from streams that depend only on ``seed``; code outside does not see them.
    """
    python_state = random.getstate()
    numpy_state = np.random.get_state()
    with torch.random.fork_rng(devices=list(devices)):
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)
