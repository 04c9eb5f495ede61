"""Crafted checkpoints whose unpickling would run code never run it, through any entry point that loads one.

Each file's payload creates a marker file when unpickled. The entry points: training's
``train.init_checkpoint``, ``--resume``, ``--eval-only``, the demo, ``ctxseg.Predictor`` and the converters;
each with and without ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` (which makes torch ignore ``weights_only``
where the caller does not pass it).
"""
import argparse
import os
import pickle
import shutil
import subprocess
import sys

import pytest
import torch
from detectron2.config import LazyConfig

from ctxseg.checkpoint import convert_file, load_checkpoint
from ctxseg.engine import do_train, eval_only
from ctxseg.inference import Predictor
from ctxseg.utils import CheckpointError
from ctxseg_cli.demo import main as demo_main

from .conftest import ROOT, TINY_SWIN_CONFIG

KINDS = ("pkl", "legacy_pth", "zip_pth")


class Payload:
    """Unpickling this object creates ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').close()",)


def craft(directory, kind, marker):
    """A checkpoint-looking file of ``kind`` carrying a ``Payload``."""
    content = {"model": {"w": torch.zeros(2)}, "__author__": "ctxseg", "extra": Payload(str(marker))}
    if kind == "pkl":
        path = directory / "model.pkl"
        with open(path, "wb") as f:
            pickle.dump(content, f)
    elif kind == "legacy_pth":
        path = directory / "model_legacy.pth"
        torch.save(content, path, _use_new_zipfile_serialization=False)
    else:
        path = directory / "model_zip.pth"
        torch.save(content, path)
    return path


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "MARKER"
    yield path
    assert not path.exists(), "the crafted checkpoint ran its code"


@pytest.mark.parametrize("kind", KINDS)
def test_the_payloads_run_when_unpickled(tmp_path, kind):
    """The crafted files are live: opting in to pickles (trusted files only) runs them."""
    marker = tmp_path / "MARKER"
    load_checkpoint(str(craft(tmp_path, kind, marker)), allow_pickle=True)
    assert marker.exists()


def _config(output_dir, *overrides):
    return LazyConfig.apply_overrides(LazyConfig.load(TINY_SWIN_CONFIG), [f"train.output_dir={output_dir}", *overrides])


def _train_init(path, tmp_path, image):
    do_train(argparse.Namespace(resume=False), _config(tmp_path / "run", f"train.init_checkpoint={path}"))


def _resume(path, tmp_path, image):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(path, run / path.name)
    (run / "last_checkpoint").write_text(path.name)
    do_train(argparse.Namespace(resume=True), _config(run))


def _eval_only(path, tmp_path, image):
    eval_only(_config(tmp_path / "run", f"train.init_checkpoint={path}"))


def _demo(path, tmp_path, image):
    demo_main(["--debug", "--config-file", TINY_SWIN_CONFIG, "--input", str(image), "--output", str(tmp_path / "demo"),
               f"train.init_checkpoint={path}"])  # --debug: the error itself, not its one-line report


def _predictor(path, tmp_path, image):
    Predictor(TINY_SWIN_CONFIG, weights=str(path))


def _convert(path, tmp_path, image):
    convert_file("swin-official", str(path), str(tmp_path / "converted.pth"))


ENTRY_POINTS = {"init_checkpoint": _train_init, "resume": _resume, "eval_only": _eval_only, "demo": _demo,
                "predictor": _predictor, "convert": _convert}


@pytest.fixture(scope="module")
def toy_image(toy_root):
    folder = os.path.join(toy_root, "toy", "images", "validation")
    return os.path.join(folder, sorted(os.listdir(folder))[0])


@pytest.mark.parametrize("unsafe_env", [False, True], ids=["default", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_no_entry_point_runs_a_crafted_checkpoint(entry, kind, unsafe_env, tmp_path, marker, toy_root, toy_image,
                                                  monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", toy_root)
    if unsafe_env:
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    path = craft(tmp_path, kind, marker)
    with pytest.raises(CheckpointError) as info:
        ENTRY_POINTS[entry](path, tmp_path, toy_image)
    message = str(info.value)
    assert path.name in message
    assert ("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" in message) if unsafe_env else ("allow_pickle" in message)


@pytest.mark.slow
@pytest.mark.parametrize("kind,option", [("pkl", []), ("legacy_pth", ["--eval-only"]), ("zip_pth", ["--resume"])])
def test_the_command_line_runs_no_crafted_checkpoint(kind, option, tmp_path, marker, toy_root):
    path = craft(tmp_path, kind, marker)
    run = tmp_path / "run"
    overrides = [f"train.output_dir={run}"]
    if option == ["--resume"]:
        run.mkdir()
        shutil.copy(path, run / "model_0000001.pth")
        (run / "last_checkpoint").write_text("model_0000001.pth")
    else:
        overrides.append(f"train.init_checkpoint={path}")
    env = dict(os.environ, DETECTRON2_DATASETS=toy_root, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1")
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "train_net.py"), "--config-file",
                             TINY_SWIN_CONFIG, *option, *overrides], env=env, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" in result.stderr
