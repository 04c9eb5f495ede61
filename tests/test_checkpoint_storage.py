"""The one checkpoint loader (weights only, errors that name the file and the problem, checksums) and writer."""
import errno
import hashlib
import os
import pickle
import zipfile

import numpy as np
import pytest
import torch

from ctxseg.checkpoint import CheckpointReadError, PickleRefusedError, checksum_path, load_checkpoint, write_checkpoint
from ctxseg.utils import DiskFullError, UserError

WEIGHTS = {"model": {"w": torch.arange(10000, dtype=torch.float32)}}


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.pth"
    write_checkpoint(WEIGHTS, str(path))
    return path


def test_write_checkpoint_stores_its_sha256_beside_it(saved):
    digest = hashlib.sha256(saved.read_bytes()).hexdigest()
    assert (saved.parent / "model.pth.sha256").read_text() == f"{digest}  model.pth\n"  # sha256sum's format
    assert torch.equal(load_checkpoint(str(saved))["model"]["w"], WEIGHTS["model"]["w"])


def test_a_flipped_byte_fails_the_checksum(saved):
    data = bytearray(saved.read_bytes())
    data[len(data) // 2] ^= 0x01  # inside the tensor's bytes: torch itself loads such a file silently
    saved.write_bytes(bytes(data))
    with pytest.raises(CheckpointReadError, match=f"{saved} does not match its checksum"):
        load_checkpoint(str(saved))
    os.remove(checksum_path(str(saved)))
    assert not torch.equal(load_checkpoint(str(saved))["model"]["w"], WEIGHTS["model"]["w"])


def _truncated_zip(tmp_path):
    path = tmp_path / "cut.pth"
    torch.save(WEIGHTS, path)
    path.write_bytes(path.read_bytes()[:20000])
    return path


def _truncated_legacy(tmp_path):
    path = tmp_path / "cut_legacy.pth"
    torch.save(WEIGHTS, path, _use_new_zipfile_serialization=False)
    path.write_bytes(path.read_bytes()[:20000])
    return path


def _empty(tmp_path):
    path = tmp_path / "empty.pth"
    path.write_bytes(b"")
    return path


def _text(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("these are not weights\n")
    return path


def _foreign_zip(tmp_path):
    path = tmp_path / "archive.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    return path


def _bare_tensor(tmp_path):
    path = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), path)
    return path


@pytest.mark.parametrize("make,problem", [
    (lambda tmp: tmp / "absent.pth", "checkpoint not found"),
    (lambda tmp: tmp, "is a directory"),
    (_empty, r"is empty \(0 bytes\)"),
    (_truncated_zip, "is truncated or damaged"),
    (_truncated_legacy, "is truncated"),
    (_text, "is not a PyTorch checkpoint"),
    (_foreign_zip, "is a zip archive but not a PyTorch checkpoint"),
    (_bare_tensor, "is not a checkpoint: it holds a Tensor"),
])
def test_load_errors_name_the_file_and_the_problem(tmp_path, make, problem):
    path = make(tmp_path)
    with pytest.raises(CheckpointReadError, match=problem) as info:
        load_checkpoint(str(path))
    assert str(path) in str(info.value) and isinstance(info.value, UserError)


def test_a_legacy_pickle_is_read_only_when_allowed_with_a_warning(tmp_path, caplog):
    path = tmp_path / "model_zoo.pkl"  # the layout of a Detectron2 model-zoo file: numpy arrays in a plain pickle
    with open(path, "wb") as f:
        pickle.dump({"model": {"w": np.ones((2, 2), np.float32)}, "__author__": "zoo"}, f)
    with pytest.raises(PickleRefusedError, match="train.allow_pickle=True"):
        load_checkpoint(str(path))
    loaded = load_checkpoint(str(path), allow_pickle=True)
    assert loaded["__author__"] == "zoo" and (loaded["model"]["w"] == 1).all()
    assert any(str(path) in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)


@pytest.mark.parametrize("value", ["1", "true", "YES"])
def test_torch_force_no_weights_only_load_refuses_every_load(saved, monkeypatch, value):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", value)
    for allow_pickle in (False, True):
        with pytest.raises(PickleRefusedError, match=f"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD={value}.*{saved}|"
                                                     f"{saved}.*TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD={value}"):
            load_checkpoint(str(saved), allow_pickle=allow_pickle)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "0")
    assert "model" in load_checkpoint(str(saved))


def test_a_full_disk_keeps_the_previous_checkpoint_and_checksum(saved, monkeypatch):
    before = {name: (saved.parent / name).read_bytes() for name in os.listdir(saved.parent)}

    def disk_full(obj, f, *args, **kwargs):  # what torch does when the file system is full
        f.write(b"x" * 1000)
        try:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(DiskFullError, match=f"cannot write {saved}: no space left on device") as info:
        write_checkpoint({"model": {"w": torch.zeros(3)}}, str(saved))
    assert info.value.errno == errno.ENOSPC and isinstance(info.value, OSError)
    assert {name: (saved.parent / name).read_bytes() for name in os.listdir(saved.parent)} == before
