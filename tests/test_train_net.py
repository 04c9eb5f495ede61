"""The training entry point: train + eval-only, resume after a crash, bad input (2 processes: test_resume.py)."""
import argparse
import json
import os
import subprocess
import sys

import pytest
import torch
from detectron2.config import LazyConfig

from ctxseg.engine import SegTrainer, WarmupPolyScheduler, do_train, eval_only

from .conftest import ROOT
from .conftest import TINY_SWIN_CONFIG as CONFIG  # checkpoints of a few MB


def load_cfg(output_dir, *overrides):
    cfg = LazyConfig.load(CONFIG)
    return LazyConfig.apply_overrides(cfg, [f"train.output_dir={output_dir}", *overrides])


def run_args(resume=False):
    return argparse.Namespace(resume=resume, eval_only=False)


def read_metrics(output_dir):
    with open(os.path.join(output_dir, "metrics.json")) as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.mark.slow
def test_train_then_eval_only_reproduces_the_final_miou(toy_root, tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", toy_root)
    out = str(tmp_path / "run")
    do_train(run_args(), load_cfg(out))
    with open(os.path.join(out, "inference", "sem_seg_evaluation.json")) as f:
        final = json.load(f)["mIoU"]
    results = eval_only(load_cfg(str(tmp_path / "eval"), f"train.init_checkpoint={out}/model_final.pth"))
    assert results["sem_seg"]["mIoU"] == pytest.approx(final, abs=0.01)
    assert os.path.isfile(os.path.join(out, "last_checkpoint"))
    assert not [f for f in os.listdir(out) if f.startswith(".tmp-")]


@pytest.mark.slow
def test_resume_after_a_crash_continues_with_the_same_learning_rate(toy_root, tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", toy_root)
    out = str(tmp_path / "run")
    overrides = ("train.max_iter=8", "train.eval_period=0", "train.checkpointer.period=2")
    original_step = SegTrainer.run_step

    def crash_at_iteration_5(self):
        if self.iter == 5:
            raise RuntimeError("simulated crash")
        original_step(self)

    monkeypatch.setattr(SegTrainer, "run_step", crash_at_iteration_5)
    with pytest.raises(RuntimeError, match="simulated crash"):
        do_train(run_args(), load_cfg(out, *overrides))
    with open(os.path.join(out, "last_checkpoint")) as f:
        assert f.read() == "model_0000003.pth"
    monkeypatch.setattr(SegTrainer, "run_step", original_step)

    trainer = do_train(run_args(resume=True), load_cfg(out, *overrides))
    assert trainer.iter == 8  # Detectron2 leaves iter at max_iter after a completed run
    cfg = load_cfg(out, *overrides)
    schedule = WarmupPolyScheduler(max_iter=8, power=cfg.lr_multiplier.power,
                                   warmup_iters=cfg.lr_multiplier.warmup_iters,
                                   warmup_ratio=cfg.lr_multiplier.warmup_ratio)
    lrs = {}
    for record in read_metrics(out):
        if "lr" in record:
            lrs.setdefault(record["iteration"], []).append(record["lr"])
    # iteration 4 ran before the crash and again after the resume: same learning rate both times
    assert len(lrs[4]) == 2 and lrs[4][0] == pytest.approx(lrs[4][1])
    for iteration in range(4, 8):
        assert lrs[iteration][-1] == pytest.approx(cfg.optimizer.lr * schedule.value_at(iteration), rel=1e-6)


def _run_train_net(*args, env=None):
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", "train_net.py"), *args],
                          capture_output=True, text=True, env=env, cwd=ROOT)


@pytest.mark.slow
def test_missing_config_file_is_reported():
    result = _run_train_net("--config-file", "configs/nope.py")
    assert result.returncode != 0
    assert "config file not found: configs/nope.py" in result.stderr


@pytest.mark.slow
def test_unknown_dataset_name_is_reported(toy_root, tmp_path):
    env = dict(os.environ, DETECTRON2_DATASETS=toy_root)
    result = _run_train_net("--config-file", CONFIG, f"train.output_dir={tmp_path}",
                            "dataloader.train.dataset.name=no_such_dataset", env=env)
    assert result.returncode != 0
    assert "no_such_dataset" in result.stderr and "toy_sem_seg_train" in result.stderr


@pytest.mark.slow
def test_bf16_autocast_and_gradient_clipping(toy_root, tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", toy_root)
    out = str(tmp_path / "run")
    trainer = do_train(run_args(), load_cfg(out, "train.max_iter=2", "train.eval_period=0", "train.amp.enabled=True",
                                            "train.clip_grad.enabled=True", "train.clip_grad.max_norm=0.01"))
    assert trainer.amp_dtype == torch.bfloat16 and trainer.clip_grad == 0.01
    records = [r for r in read_metrics(out) if "grad_norm" in r]
    assert records and all(r["total_loss"] == r["total_loss"] for r in records)  # finite, not NaN
    # the pre-clipping norm is reported; the step itself used the clipped gradients
    assert all(r["grad_norm"] > 0.01 for r in records)
