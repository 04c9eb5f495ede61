"""Runs that stop and resume: exact resume, SIGINT/SIGTERM, divergence, a changed model, killed saves."""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from detectron2.config import LazyConfig
from detectron2.utils import comm

from ctxseg.checkpoint import load_checkpoint
from ctxseg.engine import SegTrainer, TrainingDiverged, TrainingInterrupted, do_train, eval_only, launch
from ctxseg.utils import ConfigError

from .conftest import ROOT, TINY_SWIN_CONFIG

SLOW_CONFIG = os.path.join(ROOT, "tests", "configs", "tiny_swin_slow.py")


def config(output_dir, *overrides, path=TINY_SWIN_CONFIG):
    return LazyConfig.apply_overrides(LazyConfig.load(path), [f"train.output_dir={output_dir}", *overrides])


def train(output_dir, *overrides, resume=False, path=TINY_SWIN_CONFIG):
    return do_train(argparse.Namespace(resume=resume), config(output_dir, *overrides, path=path))


def signal_at(monkeypatch, iteration, signum=signal.SIGTERM, times=1):
    """Make this process receive ``signum`` while it runs ``iteration``."""
    step = SegTrainer.run_step

    def run_step(self):
        step(self)
        if self.iter == iteration:
            for _ in range(times):
                os.kill(os.getpid(), signum)

    monkeypatch.setattr(SegTrainer, "run_step", run_step)


def losses(output_dir):
    """{iteration: the loss values of its last metrics.json record}."""
    records = {}
    with open(os.path.join(output_dir, "metrics.json")) as f:
        for line in f:
            record = json.loads(line)
            if "total_loss" in record:
                records[record["iteration"]] = {k: v for k, v in record.items() if "loss" in k}
    return records


def assert_same_end(straight, resumed):
    """Bitwise-equal final weights, optimizer state and logged losses."""
    a, b = (load_checkpoint(os.path.join(d, "model_final.pth")) for d in (straight, resumed))
    assert a["model"].keys() == b["model"].keys()
    for name, value in a["model"].items():
        assert torch.equal(value, b["model"][name]), name
    state_a, state_b = a["trainer"]["optimizer"]["state"], b["trainer"]["optimizer"]["state"]
    assert state_a and state_a.keys() == state_b.keys()  # the optimizer stepped (AdamW keeps state per weight)
    for index, entries in state_a.items():
        for key, value in entries.items():
            assert torch.equal(value, state_b[index][key]), (index, key)
    assert a["trainer"]["data_loader"] == b["trainer"]["data_loader"]
    assert losses(straight) == losses(resumed)


@pytest.mark.slow
def test_a_stopped_and_resumed_run_with_workers_ends_like_a_straight_run(toy_root, tmp_path, monkeypatch):
    """Exact resume with 2 loader workers (the command-line test below: without workers; 2 processes: further below)."""
    monkeypatch.setenv("DETECTRON2_DATASETS", toy_root)
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    train(straight, "train.eval_period=2")  # evaluations in between must not shift any random draw
    with monkeypatch.context() as patch:
        signal_at(patch, 1)
        with pytest.raises(TrainingInterrupted):
            train(stopped, "dataloader.train.num_workers=2")
    assert (stopped / "last_checkpoint").read_text() == "model_0000001.pth"
    train(stopped, "dataloader.train.num_workers=2", resume=True)
    assert_same_end(straight, stopped)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_after_the_iteration_with_a_checkpoint(toy_root, tmp_path, monkeypatch, caplog, signum):
    monkeypatch.setenv("DETECTRON2_DATASETS", toy_root)
    handler = signal.getsignal(signum)
    signal_at(monkeypatch, 0, signum, times=2)
    with pytest.raises(TrainingInterrupted) as info:
        train(tmp_path, "train.max_iter=3", "train.eval_period=0")
    error = info.value
    assert error.exit_code == 128 + signum
    name = signal.Signals(signum).name
    assert f"stopped by {name} after iteration 0; saved {tmp_path}/model_0000000.pth" in str(error)
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000000.pth"
    assert load_checkpoint(str(tmp_path / "model_0000000.pth"))["trainer"]["iteration"] == 0
    assert any("again" in r.getMessage() for r in caplog.records)  # a repeated signal changes nothing
    assert signal.getsignal(signum) == handler


@pytest.mark.slow
def test_a_diverging_run_stops_and_tags_no_non_finite_checkpoint(toy_root, tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", toy_root)
    with pytest.raises(TrainingDiverged, match=r"diverged at iteration 1: the loss.* became NaN or infinite.*"
                                               rf"last good checkpoint is {tmp_path}/model_0000000.pth"):
        train(tmp_path, "optimizer.lr=1e30", "train.checkpointer.period=1")
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000000.pth"
    assert [f for f in os.listdir(tmp_path) if f.endswith(".pth")] == ["model_0000000.pth"]
    saved = load_checkpoint(str(tmp_path / "model_0000000.pth"))
    assert all(torch.isfinite(v).all() for v in saved["model"].values() if v.is_floating_point())

    weights_blow_up = tmp_path / "inf"  # the step itself makes the weights infinite: nothing may be saved
    with pytest.raises(TrainingDiverged, match=r"refusing to save .*model_0000000.pth \(after iteration 0\).*"
                                               "No checkpoint was saved before"):
        train(weights_blow_up, "optimizer.lr=inf", "train.checkpointer.period=1")
    assert not [f for f in os.listdir(weights_blow_up) if f.endswith(".pth") or f == "last_checkpoint"]


@pytest.mark.slow
def test_a_changed_model_refuses_to_resume_listing_the_keys(toy_root, tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", toy_root)
    train(tmp_path, "train.max_iter=2", "train.eval_period=0")
    with pytest.raises(ConfigError, match=r"--resume refused: the model config differs .*model_final.pth.*"
                                          r"model.head.conv_dims: 16 -> 8; model.head.num_classes: 7 -> 8; "
                                          r"model.num_classes: 7 -> 8\. Restore"):
        train(tmp_path, "train.max_iter=4", "model.head.conv_dims=8", "model.num_classes=8", resume=True)
    trainer = train(tmp_path, "train.max_iter=3", "train.eval_period=0", "optimizer.lr=1e-4", resume=True)
    assert trainer.iter == 3  # the rest of the config may change


def test_temporaries_of_a_killed_save_are_removed_at_the_next_start(toy_root, tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", toy_root)
    left = tmp_path / ".tmp-model_0000003.pth-x8e2k1ab"
    left.write_bytes(b"the first bytes of a checkpoint")
    eval_only(config(tmp_path))
    assert not left.exists()


def _run_until_signalled(command, env, out, signum=signal.SIGTERM):
    """Start ``command``, signal it once it logged an iteration; return (exit status, stderr)."""
    with open(out.parent / f"{out.name}.log", "w+") as log:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.time() + 180
        while time.time() < deadline and process.poll() is None:
            if (out / "metrics.json").exists() and (out / "metrics.json").read_text().strip():
                break
            time.sleep(0.1)
        os.kill(process.pid, signum)
        process.wait(timeout=180)
        log.seek(0)
        return process.returncode, log.read()


@pytest.mark.slow
def test_sigterm_through_the_command_line_then_resume(toy_root, tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", toy_root)
    quick = "dataloader.train.mapper.seconds=0"  # the same samples, without the wait
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    train(straight, quick, path=SLOW_CONFIG)

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    tool = [sys.executable, os.path.join(ROOT, "tools", "train_net.py"), "--config-file", SLOW_CONFIG]
    status, stderr = _run_until_signalled([*tool, f"train.output_dir={stopped}"], env, stopped)
    assert status != 0
    assert "training stopped by SIGTERM after iteration" in stderr and f"saved {stopped}/model_" in stderr
    tagged = (stopped / "last_checkpoint").read_text()
    assert load_checkpoint(str(stopped / tagged))["trainer"]["iteration"] < 7
    result = subprocess.run([*tool, "--resume", f"train.output_dir={stopped}", quick], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert_same_end(straight, stopped)


def _train_in_a_launched_process(overrides, toy_root, resume, signal_launcher_at):
    os.environ["DETECTRON2_DATASETS"] = toy_root
    if signal_launcher_at is not None and comm.get_rank() == 1:
        step = SegTrainer.run_step

        def run_step(self):  # as if the job were pre-empted: SIGTERM to the launching process
            step(self)
            if self.iter == signal_launcher_at:
                os.kill(os.getppid(), signal.SIGTERM)

        SegTrainer.run_step = run_step
    trainer = do_train(argparse.Namespace(resume=resume), config(*overrides))
    model = trainer.model.module  # each process's own copy of the weights
    torch.save({k: v.detach() for k, v in model.state_dict().items()},
               os.path.join(overrides[0], f"weights_rank{comm.get_rank()}.pt"))


@pytest.mark.slow
def test_two_processes_stop_together_on_sigterm_and_resume_exactly(toy_root, tmp_path):
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    launch(_train_in_a_launched_process, 2, args=((straight,), toy_root, False, None))
    ranks = [torch.load(straight / f"weights_rank{r}.pt") for r in (0, 1)]
    params = dict(ranks[0]).keys() - {k for k in ranks[0] if "running_" in k or "num_batches" in k}
    assert all(torch.equal(ranks[0][k], ranks[1][k]) for k in params)  # DDP kept the processes' weights equal
    with pytest.raises(TrainingInterrupted, match=f"stopped by SIGTERM after iteration .; saved {stopped}") as info:
        launch(_train_in_a_launched_process, 2, args=((stopped,), toy_root, False, 1))
    assert info.value.exit_code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    launch(_train_in_a_launched_process, 2, args=((stopped,), toy_root, True, None))
    assert_same_end(straight, stopped)
