"""Checkpoints are written atomically: a crash while saving leaves the previous state intact."""
import os

import pytest
import torch
import torch.nn as nn

from ctxseg.engine import AtomicCheckpointer


def test_crash_while_saving_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    model = nn.Linear(3, 2)
    ckpt = AtomicCheckpointer(model, str(tmp_path))
    ckpt.save("model_0000009")
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000009.pth"
    good = (tmp_path / "model_0000009.pth").read_bytes()

    real_save = torch.save

    def crash_midway(obj, f, *args, **kwargs):
        f.write(b"partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        ckpt.save("model_0000019")
    monkeypatch.setattr(torch, "save", real_save)

    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_0000009.pth", "model_0000009.pth.sha256"]
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000009.pth"
    assert (tmp_path / "model_0000009.pth").read_bytes() == good
    restored = nn.Linear(3, 2)
    AtomicCheckpointer(restored, str(tmp_path)).resume_or_load("", resume=True)
    torch.testing.assert_close(restored.weight, model.weight)
