"""ctxseg.Predictor: the dataset test path for files, arrays and PIL images; equal to --eval-only; precisions."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import ctxseg
from ctxseg.config import load_config
from ctxseg.inference import Predictor, SegmentationResult, inference_precision
from ctxseg.utils.errors import ConfigError, DataError

from .conftest import ROOT
from .conftest import TINY_TOY_CONFIG as CONFIG

TTA = ["model.tta_scales=[0.75,1.0,1.5]", "model.tta_flip=True"]


@pytest.fixture(scope="module")
def checkpoint(tiny_checkpoint):
    return tiny_checkpoint


@pytest.fixture(scope="module")
def val_images(toy_root):
    folder = os.path.join(toy_root, "toy", "images", "validation")
    return [os.path.join(folder, f) for f in sorted(os.listdir(folder))]


@pytest.mark.slow
def test_files_arrays_and_pil_images_give_the_same_labels(checkpoint, val_images):
    predictor = ctxseg.Predictor(CONFIG, checkpoint)
    path = val_images[0]
    rgb = np.asarray(Image.open(path).convert("RGB"))
    results = [predictor(path), predictor(rgb), predictor(np.ascontiguousarray(rgb[:, :, ::-1]), format="BGR"),
               predictor(Image.open(path))]
    assert all(isinstance(r, SegmentationResult) for r in results)
    labels = results[0].labels
    assert labels.shape == rgb.shape[:2] and labels.dtype == np.uint8
    assert len(results[0].present_classes()) > 1  # a varied prediction, so the comparisons mean something
    for other in results[1:]:
        np.testing.assert_array_equal(other.labels, labels)
    assert results[0].class_names[0] == "background" and len(results[0].palette) == 7


def test_a_raw_array_gets_the_test_resize(checkpoint, val_images):
    # Feeding the model the array without the test mapper skips the resize: the Predictor must not.
    predictor = Predictor(CONFIG, checkpoint)
    rgb = np.asarray(Image.open(val_images[1]).convert("RGB").resize((160, 128)))  # the test resize: 64x80
    sample = predictor.sample(rgb)
    assert sample["image"].shape[-2:] == (64, 80) and (sample["height"], sample["width"]) == (128, 160)
    with torch.no_grad():
        unresized = predictor.model([{"image": torch.as_tensor(rgb.transpose(2, 0, 1).copy())}])[0]["sem_seg"]
    assert not np.array_equal(unresized.argmax(0).numpy(), predictor(rgb).labels)


@pytest.mark.slow
def test_batch_probabilities_and_overrides(checkpoint, val_images):
    predictor = Predictor(CONFIG, checkpoint, overrides=TTA)
    results = predictor.predict_batch(val_images[:2], probabilities=True)
    assert len(results) == 2
    for path, result in zip(val_images, results):
        assert result.probabilities.shape == (7, *result.labels.shape)
        np.testing.assert_allclose(result.probabilities.sum(0), 1, atol=1e-5)
        np.testing.assert_array_equal(result.probabilities.argmax(0), result.labels)
        np.testing.assert_array_equal(predictor(path).labels, result.labels)
    assert len(predictor.sample(val_images[0])["tta_views"]) == 3


def test_loaded_config_and_errors(checkpoint, tmp_path):
    cfg = load_config(CONFIG)
    predictor = Predictor(cfg, checkpoint, overrides=["model.tta_flip=True"])
    assert predictor.model.tta_flip and "tta_flip" not in cfg.model  # the caller's config is left alone
    with pytest.raises(ConfigError, match="nor is it a model-zoo name"):
        Predictor("no_such_model_name.py", checkpoint)
    assert Predictor("toy/fpn_r18_toy.py", None, overrides=["model.num_classes=7"]).model.num_classes == 7
    with pytest.raises(ConfigError, match="precision must be one of fp32, bf16, fp16"):
        Predictor(CONFIG, checkpoint, precision="int8")
    with pytest.raises(ctxseg.utils.errors.CheckpointError, match="checkpoint not found"):
        Predictor(CONFIG, str(tmp_path / "missing.pth"))
    with pytest.raises(DataError, match=r"HxWx3 \(or HxW\) uint8, got shape \(4, 5, 2\)"):
        predictor(np.zeros((4, 5, 2), np.uint8))
    with pytest.raises(TypeError, match="file path, a numpy array or a PIL image"):
        predictor(torch.zeros(3, 4, 5))


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_low_precision_inference_runs(checkpoint, val_images, precision):
    reference = Predictor(CONFIG, checkpoint)(val_images[0]).labels
    result = Predictor(CONFIG, checkpoint, precision=precision)(val_images[0], probabilities=True)
    assert result.probabilities.dtype == np.float32  # averaged in float32 whatever the precision
    assert (result.labels == reference).mean() > 0.9


def test_autocast_reaches_the_network_but_not_the_resize(checkpoint, val_images):
    predictor = Predictor(CONFIG, checkpoint, precision="bf16")
    seen = []
    predictor.model.sem_seg_head.predictor.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    with torch.no_grad(), inference_precision("bf16", "cpu"):
        out = predictor.model([predictor.sample(val_images[0])])[0]["sem_seg"]
    assert seen == [torch.bfloat16] and out.dtype == torch.float32


@pytest.mark.slow
def test_predictor_equals_eval_only_on_toy_val(checkpoint, val_images, toy_root, tmp_path):
    # --eval-only writes its predictions as ADE20K-style PNGs (class + 1); TTA on, as configured for both.
    env = dict(os.environ, DETECTRON2_DATASETS=toy_root, PYTHONPATH=ROOT)
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "train_net.py"), "--config-file", CONFIG,
                             "--eval-only", f"train.init_checkpoint={checkpoint}", f"train.output_dir={tmp_path}",
                             "dataloader.evaluator.submission_format=ade20k", *TTA],
                            capture_output=True, text=True, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    predictor = Predictor(CONFIG, checkpoint, overrides=TTA)
    for path in val_images:
        stem = os.path.splitext(os.path.basename(path))[0]
        evaluated = np.asarray(Image.open(tmp_path / "inference" / "submission" / f"{stem}.png")).astype(np.int64) - 1
        np.testing.assert_array_equal(predictor(path).labels, evaluated)
    assert os.path.isfile(tmp_path / "inference" / "sem_seg_confusion.png")


@pytest.mark.slow
def test_eval_only_takes_a_precision(checkpoint, toy_root, tmp_path):
    env = dict(os.environ, DETECTRON2_DATASETS=toy_root, PYTHONPATH=ROOT)
    command = [sys.executable, os.path.join(ROOT, "tools", "train_net.py"), "--config-file", CONFIG, "--eval-only",
               "--precision", "bf16", f"train.init_checkpoint={checkpoint}", f"train.output_dir={tmp_path}"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert os.path.isfile(tmp_path / "inference" / "sem_seg_evaluation.json")
    training = subprocess.run([c for c in command if c != "--eval-only"], capture_output=True, text=True, env=env,
                              cwd=ROOT)
    assert training.returncode == 2 and "--precision bf16 applies to --eval-only" in training.stderr
