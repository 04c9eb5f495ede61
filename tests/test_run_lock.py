"""One run per output dir: the lock file, refusal while its process runs, take-over when it is gone."""
import argparse
import json
import logging
import os
import socket
import subprocess
import sys
import time

import pytest
from detectron2.config import LazyConfig

from ctxseg.engine import do_train, eval_only
from ctxseg.utils import OutputDirLocked, lock_output_dir, unlock_output_dir
from ctxseg.utils.run_lock import LOCK_NAME

from .conftest import ROOT, TINY_SWIN_CONFIG


def write_lock(directory, pid, host=None):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / LOCK_NAME).write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(),
                                                   "command": "train_net.py --config-file other.py"}))


def test_the_lock_holds_pid_and_host_and_is_reentrant(tmp_path):
    lock_output_dir(str(tmp_path))
    lock_output_dir(str(tmp_path))
    holder = json.loads((tmp_path / LOCK_NAME).read_text())
    assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
    unlock_output_dir(str(tmp_path))
    assert (tmp_path / LOCK_NAME).exists()
    unlock_output_dir(str(tmp_path))
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_running_holder_makes_a_second_run_refuse_before_writing(tmp_path, toy_root, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", toy_root)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        write_lock(tmp_path, holder.pid)
        cfg = LazyConfig.apply_overrides(LazyConfig.load(TINY_SWIN_CONFIG), [f"train.output_dir={tmp_path}"])
        for run in (lambda: do_train(argparse.Namespace(resume=False), cfg), lambda: eval_only(cfg)):
            with pytest.raises(OutputDirLocked, match=f"output dir {tmp_path} is in use by another run "
                                                      rf"\(pid {holder.pid} on host {socket.gethostname()}"):
                run()
        assert os.listdir(tmp_path) == [LOCK_NAME]
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_on_another_host_is_respected(tmp_path):
    write_lock(tmp_path, 1, host="some-other-node")
    with pytest.raises(OutputDirLocked, match="on host some-other-node.*delete .*run.lock"):
        lock_output_dir(str(tmp_path))


def test_the_lock_of_a_finished_process_is_taken_over_with_a_warning(tmp_path, caplog):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    write_lock(tmp_path, gone.pid)
    with caplog.at_level(logging.WARNING):
        lock_output_dir(str(tmp_path))
    try:
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
        assert any("no longer running" in r.getMessage() and str(gone.pid) in r.getMessage() for r in caplog.records)
    finally:
        unlock_output_dir(str(tmp_path))


@pytest.mark.slow
def test_two_command_line_runs_on_one_output_dir(tmp_path, toy_root):
    env = dict(os.environ, DETECTRON2_DATASETS=toy_root,
               PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    out = tmp_path / "run"
    command = [sys.executable, os.path.join(ROOT, "tools", "train_net.py"), "--config-file",
               os.path.join(ROOT, "tests", "configs", "tiny_swin_slow.py"), f"train.output_dir={out}",
               "train.max_iter=40"]
    first = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not (out / "metrics.json").exists() and time.time() < deadline:
            time.sleep(0.2)
        config = (out / "config.yaml").read_text()
        second = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert second.returncode != 0 and first.poll() is None
        assert f"output dir {out} is in use by another run (pid {first.pid}" in second.stderr
        assert (out / "config.yaml").read_text() == config
    finally:
        first.kill()
        first.wait()
    # kill -9 leaves the lock behind; the next run takes it over (test_the_lock_of_a_finished_process_...)
    assert json.loads((out / LOCK_NAME).read_text())["pid"] == first.pid
