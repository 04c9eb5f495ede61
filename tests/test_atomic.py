"""Atomic writes: the user's umask, a clear full-disk error, temporaries of killed writes removed."""
import errno
import os
import stat

import pytest

from ctxseg.checkpoint import write_checkpoint
from ctxseg.utils import DiskFullError, atomic_write, remove_temporaries


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_files_get_the_permissions_the_umask_allows(tmp_path, umask):
    previous = os.umask(umask)
    try:
        with atomic_write(tmp_path / "result.json", "w") as f:
            f.write("{}")
        write_checkpoint({"model": {}}, str(tmp_path / "model.pth"))
    finally:
        os.umask(previous)
    for name in ("result.json", "model.pth", "model.pth.sha256"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o666 & ~umask, name


def test_a_full_disk_names_the_file_and_keeps_the_old_content(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text("old")
    with pytest.raises(DiskFullError, match=f"cannot write {path}: no space left on device"):
        with atomic_write(path, "w") as f:
            f.write("new")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["metrics.json"]


def test_other_errors_pass_through_unchanged(tmp_path):
    with pytest.raises(PermissionError):
        with atomic_write(tmp_path / "x.bin"):
            raise PermissionError(errno.EACCES, "denied")
    assert os.listdir(tmp_path) == []


def test_temporaries_of_killed_writes_are_removed(tmp_path):
    (tmp_path / "inference").mkdir()
    leftovers = [tmp_path / ".tmp-model_0000003.pth-k2j4_9az", tmp_path / "inference" / ".tmp-sem_seg.json-x0x0x0x0"]
    kept = [tmp_path / "model_0000001.pth", tmp_path / ".tmp-notes", tmp_path / "inference" / ".tmp-a-b"]
    for path in leftovers + kept:
        path.write_bytes(b"partial")
    assert sorted(remove_temporaries(str(tmp_path))) == sorted(str(p) for p in leftovers)
    assert all(path.exists() for path in kept) and not any(path.exists() for path in leftovers)
