"""The checkpointer: atomic saves, no non-finite state, exact or init loads, resume with fallback and checks."""
import logging
import os

import pytest
import torch
import torch.nn as nn

from ctxseg.checkpoint import CheckpointReadError
from ctxseg.engine import AtomicCheckpointer, CheckpointMismatchError, TrainingDiverged
from ctxseg.utils import CheckpointError, ConfigError


def net(out=2):
    torch.manual_seed(out)
    return nn.Sequential(nn.Linear(3, 4), nn.Linear(4, out))


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


def test_non_finite_weights_or_optimizer_state_are_never_saved(tmp_path):
    model = net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    ckpt = AtomicCheckpointer(model, str(tmp_path), optimizer=optimizer)
    ckpt.save("model_0000001", iteration=1)
    files = sorted(os.listdir(tmp_path))

    with torch.no_grad():
        model[1].weight[0, 0] = float("nan")
    with pytest.raises(TrainingDiverged, match=r"model_0000002.pth \(after iteration 2\).*'model.1.weight'"):
        ckpt.save("model_0000002", iteration=2)
    with torch.no_grad():
        model[1].weight[0, 0] = 0.0
    optimizer.state[model[0].bias]["momentum_buffer"][1] = float("inf")
    with pytest.raises(TrainingDiverged, match=r"'optimizer.state.1.momentum_buffer'"):
        ckpt.save("model_0000003", iteration=3)
    assert sorted(os.listdir(tmp_path)) == files
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000001.pth"


def test_evaluation_loads_need_an_exact_fit_listing_the_differences(tmp_path):
    source = net(out=2)
    AtomicCheckpointer(source, str(tmp_path)).save("trained")
    path = str(tmp_path / "trained.pth")

    other = net(out=5)
    before = {k: v.clone() for k, v in other.state_dict().items()}
    with pytest.raises(CheckpointMismatchError, match=r"trained.pth does not fit the model: 2 weights of another shape "
                                                      r"\(1.weight: \(2, 4\) in the checkpoint, \(5, 4\) in the model"):
        AtomicCheckpointer(other).load(path)
    assert all(torch.equal(before[k], v) for k, v in other.state_dict().items())  # nothing went in

    deeper = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2), nn.Linear(2, 2))
    with pytest.raises(CheckpointMismatchError, match=r"2 model weights missing from it \(2.weight, 2.bias\)"):
        AtomicCheckpointer(deeper).load(path)
    shallower = nn.Sequential(nn.Linear(3, 4))
    with pytest.raises(CheckpointMismatchError, match=r"2 weights the model does not have \(1.weight, 1.bias\)"):
        AtomicCheckpointer(shallower).load(path)

    same = net(out=2)
    AtomicCheckpointer(same).load(path)
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in same.state_dict().items())


def test_init_checkpoints_may_lack_weights_but_not_change_shapes(tmp_path, caplog):
    backbone_only = nn.Sequential(nn.Linear(3, 4))
    AtomicCheckpointer(backbone_only, str(tmp_path)).save("backbone")
    model = net()
    with caplog.at_level(logging.WARNING):
        AtomicCheckpointer(model).load_init(str(tmp_path / "backbone.pth"))
    assert torch.equal(model[0].weight, backbone_only[0].weight)
    assert any("2 model weights are not in" in r.getMessage() and "start from their init: 1.weight, 1.bias"
               in r.getMessage() for r in caplog.records)
    with pytest.raises(CheckpointMismatchError, match=r"0.weight: \(4, 3\) in the checkpoint, \(4, 5\) in the model"):
        AtomicCheckpointer(nn.Sequential(nn.Linear(5, 4))).load_init(str(tmp_path / "backbone.pth"))


def _two_checkpoints(tmp_path):
    model = net()
    ckpt = AtomicCheckpointer(model, str(tmp_path))
    ckpt.save("model_0000001")
    first = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ckpt.save("model_0000003")
    return first


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "delete"])
def test_resume_falls_back_to_the_newest_intact_checkpoint(tmp_path, caplog, damage):
    first = _two_checkpoints(tmp_path)
    latest = tmp_path / "model_0000003.pth"
    data = bytearray(latest.read_bytes())
    if damage == "truncate":
        latest.write_bytes(bytes(data[: len(data) // 2]))
    elif damage == "flip":
        data[len(data) - 600] ^= 0xFF
        latest.write_bytes(bytes(data))
    elif damage == "empty":
        latest.write_bytes(b"")
    else:
        os.remove(latest)
    restored = net()
    with caplog.at_level(logging.WARNING):
        assert AtomicCheckpointer(restored, str(tmp_path)).resume() is not None
    assert all(torch.equal(v, first[k]) for k, v in restored.state_dict().items())
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert f"Cannot resume from {latest}" in messages
    assert "Resuming from" in messages and "model_0000001.pth" in messages


def test_resume_without_an_intact_checkpoint_lists_the_problems(tmp_path):
    _two_checkpoints(tmp_path)
    for name in ("model_0000001.pth", "model_0000003.pth"):
        (tmp_path / name).write_bytes(b"garbage")
    with pytest.raises(CheckpointReadError, match="no intact checkpoint.*model_0000003.pth.*model_0000001.pth"):
        AtomicCheckpointer(net(), str(tmp_path)).resume()


def test_resume_reads_only_files_inside_the_output_dir(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    AtomicCheckpointer(net(), str(outside)).save("model_0000009")
    run = tmp_path / "run"
    run.mkdir()
    for tag in (str(outside / "model_0000009.pth"), "../elsewhere/model_0000009.pth"):
        (run / "last_checkpoint").write_text(tag)
        with pytest.raises(CheckpointError, match="not a file in the output dir.*--resume only loads checkpoints"):
            AtomicCheckpointer(net(), str(run)).resume()
    os.remove(run / "last_checkpoint")
    os.symlink(outside / "model_0000009.pth", run / "model_0000009.pth")
    assert AtomicCheckpointer(net(), str(run)).resume() is None  # a link out of the output dir is ignored


def test_resume_refuses_a_changed_model_config(tmp_path):
    config = {"model.head.conv_dims": 16, "model.head._target_": "ctxseg.Head", "model.num_classes": 7}
    AtomicCheckpointer(net(), str(tmp_path), model_config=config).save("model_0000001")
    changed = dict(config, **{"model.head.conv_dims": 32})
    del changed["model.num_classes"]
    model = net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ConfigError, match=r"--resume refused.*model.head.conv_dims: 16 -> 32; "
                                          r"model.num_classes: 7 -> '<absent>'"):
        AtomicCheckpointer(model, str(tmp_path), model_config=changed).resume()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert AtomicCheckpointer(net(), str(tmp_path), model_config=dict(config)).resume() is not None
