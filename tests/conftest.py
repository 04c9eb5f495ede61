"""Test set-up: ``ctxseg`` is imported first so that Detectron2 is patched before any test imports it."""
import os

import torch

import ctxseg  # noqa: F401

# Two cores on the CI machines; more threads only add contention.
torch.set_num_threads(min(2, os.cpu_count() or 1))

import subprocess  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_TOY_CONFIG = os.path.join(ROOT, "tests", "configs", "tiny_toy.py")
# A Swin toy with checkpoints of a few MB, drop-path and dropout: for resume, signal and checkpoint tests.
TINY_SWIN_CONFIG = os.path.join(ROOT, "tests", "configs", "tiny_swin_toy.py")


def assert_rel(actual, expected, rel):
    """Largest absolute difference within ``rel`` times the largest magnitude of the expected tensor."""
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    err = (actual - expected).abs().max().item()
    assert err <= rel * expected.abs().max().item(), f"max abs error {err:.3e}, scale {expected.abs().max():.3e}"


def pytest_configure(config):
    """Register the ``slow`` marker: ``pytest -m "not slow"`` (the quick check, under a minute on two cores)
    skips the tests that take more than a few seconds; ``make test`` runs them all."""
    config.addinivalue_line("markers", "slow: a test that takes more than a few seconds")


@pytest.fixture(scope="session")
def toy_root(tmp_path_factory):
    """A DETECTRON2_DATASETS folder holding a small toy dataset (8 train, 3 val images of 64x80)."""
    root = tmp_path_factory.mktemp("datasets")
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_toy_dataset.py"), "--out", str(root / "toy"),
                    "--train", "8", "--val", "3", "--size", "64", "80"], check=True, capture_output=True)
    return str(root)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """Weights of the tiny toy model with its classifier scaled up, so that predictions vary over an image."""
    from ctxseg.config import instantiate_config, load_config

    torch.manual_seed(0)
    model = instantiate_config(load_config(TINY_TOY_CONFIG).model, "model")
    model.sem_seg_head.predictor.weight.data.normal_(0, 1.0)
    path = tmp_path_factory.mktemp("weights") / "model.pth"
    torch.save({"model": model.state_dict()}, path)
    return str(path)
