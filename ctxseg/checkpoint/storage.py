"""Checkpoint files: written atomically with their SHA-256 beside them, read without running code.

Every checkpoint ctxseg reads goes through ``load_checkpoint``, which calls
``torch.load(weights_only=True)`` for every extension (".pth", ".pkl", ...): a file may hold tensors,
numbers, strings and containers, never code. A legacy pickle (a Detectron2 model-zoo ".pkl", an old
checkpoint holding Python objects) is read only with ``allow_pickle=True``, with a warning naming the
file, because unpickling runs whatever code the file holds. While ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``
is set (it makes some torch versions ignore ``weights_only``), nothing is loaded at all.

``write_checkpoint`` stores the SHA-256 of the bytes it wrote in ``<file>.sha256`` (the format of
``sha256sum``); ``load_checkpoint`` verifies it whenever that file exists.
"""
import hashlib
import logging
import os
import pickle
import re
import struct
import warnings
import zipfile
from collections.abc import Mapping

import torch

from ..utils import CheckpointError, atomic_write

__all__ = ["load_checkpoint", "write_checkpoint", "checksum_path", "verify_checksum", "CheckpointReadError",
           "PickleRefusedError", "CHECKSUM_SUFFIX", "UNSAFE_LOAD_VARIABLE"]

logger = logging.getLogger(__name__)

CHECKSUM_SUFFIX = ".sha256"
UNSAFE_LOAD_VARIABLE = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"
_OPT_IN = "If you trust this file, opt in with train.allow_pickle=True (--allow-pickle on the command line)."
_ZIP_MAGIC = b"PK\x03\x04"
# torch's legacy (non-zip) format starts with its magic number 0x1950a86a20f9469cfc6c, pickled.
_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
_FALSE_VALUES = ("", "0", "false", "no", "n")


class CheckpointReadError(CheckpointError):
    """A checkpoint file that is missing, empty, truncated, damaged, not a checkpoint or fails its checksum."""


class PickleRefusedError(CheckpointError):
    """A checkpoint that is a legacy pickle (it may run code when loaded) and was not opted in."""


def checksum_path(path):
    """Where the SHA-256 of the checkpoint ``path`` is stored."""
    return path + CHECKSUM_SUFFIX


class _HashingWriter:
    """A write-only file object that hashes what it passes on (torch.save's zip writer only writes)."""

    def __init__(self, f):
        self._f = f
        self._sha = hashlib.sha256()

    def write(self, data):
        self._sha.update(data)
        return self._f.write(data)

    def flush(self):
        self._f.flush()

    def hexdigest(self):
        return self._sha.hexdigest()


def write_checkpoint(data, path):
    """``torch.save(data)`` to ``path`` atomically and its SHA-256 to ``path + ".sha256"``; return the digest.

    The old checksum file is removed once the new data is written and just before the new file
    replaces the old one, so a crash never pairs a checkpoint with another one's checksum, and a
    failed write (a full disk) leaves the old pair intact.
    """
    with atomic_write(path) as f:
        writer = _HashingWriter(f)
        torch.save(data, writer)
        f.flush()
        os.fsync(f.fileno())  # a full disk shows here at the latest, with the old pair still intact
        if os.path.exists(checksum_path(path)):
            os.remove(checksum_path(path))
    digest = writer.hexdigest()
    with atomic_write(checksum_path(path), "w") as f:
        f.write(f"{digest}  {os.path.basename(path)}\n")
    return digest


def _file_sha256(path):
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def verify_checksum(path):
    """Compare ``path`` with the SHA-256 in ``path + ".sha256"``; return False when there is none to check."""
    expected_file = checksum_path(path)
    if not os.path.isfile(expected_file):
        return False
    with open(expected_file) as f:
        fields = f.read().split()
    if not fields or not re.fullmatch(r"[0-9a-f]{64}", fields[0]):
        raise CheckpointReadError(f"cannot verify checkpoint {path}: its checksum file {expected_file} is damaged "
                                  "(expected a SHA-256 in hex)")
    actual = _file_sha256(path)
    if actual != fields[0]:
        raise CheckpointReadError(
            f"checkpoint {path} does not match its checksum ({expected_file}: expected SHA-256 {fields[0]}, "
            f"the file has {actual}): it was damaged or changed after it was saved")
    return True


def _refuse_unsafe_environment(path):
    value = os.environ.get(UNSAFE_LOAD_VARIABLE)
    if value is not None and value.strip().lower() not in _FALSE_VALUES:
        raise PickleRefusedError(
            f"refusing to load checkpoint {path}: the environment variable {UNSAFE_LOAD_VARIABLE}={value} "
            "makes torch unpickle files, which runs any code they hold. Unset it; ctxseg loads weights "
            "safely without it.")


def _check_file(path):
    if not os.path.exists(path):
        raise CheckpointReadError(f"checkpoint not found: {path}")
    if os.path.isdir(path):
        raise CheckpointReadError(f"checkpoint {path} is a directory, not a file")
    if os.path.getsize(path) == 0:
        raise CheckpointReadError(f"checkpoint {path} is empty (0 bytes)")
    try:
        with open(path, "rb") as f:
            return f.read(len(_TORCH_LEGACY_MAGIC))
    except OSError as e:
        raise CheckpointReadError(f"cannot read checkpoint {path}: {e.strerror}") from None


def _unsupported_global(message):
    found = re.search(r"GLOBAL (\S+)", message)
    return found.group(1) if found else None


def _zip_problem(path):
    """What is wrong with the zip archive ``path`` as a torch checkpoint, or None when it looks like one."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return CheckpointReadError(f"checkpoint {path} is truncated or damaged: its zip archive has no "
                                   "readable directory (an interrupted copy or download?)")
    if not any(name.endswith("data.pkl") for name in names):
        return CheckpointReadError(f"{path} is a zip archive but not a PyTorch checkpoint (no data.pkl in it)")
    return None


def _explain_failure(path, head, error):
    """The ``CheckpointError`` that says what is wrong with ``path``, given torch's ``error``."""
    message = str(error)
    is_zip = head.startswith(_ZIP_MAGIC)
    problem = _zip_problem(path) if is_zip else None
    if problem:
        return problem
    if not is_zip and not head.startswith(b"\x80"):  # every pickle protocol >= 2 starts with PROTO
        return CheckpointReadError(f"{path} is not a PyTorch checkpoint (neither a zip archive nor a pickle; "
                                   f"it starts with {head[:8]!r})")
    if "Weights only load failed" in message:
        name = _unsupported_global(message)
        what = f"it holds Python objects ({name}) that loading would execute" if name else \
            "it is a legacy pickle (e.g. a Detectron2 model-zoo .pkl), which only an unpickler that may run code reads"
        return PickleRefusedError(f"refusing to load checkpoint {path}: {what}. {_OPT_IN}")
    if not is_zip and (isinstance(error, (EOFError, struct.error)) or "EOF" in message or "truncated" in message):
        return CheckpointReadError(f"checkpoint {path} is truncated: its data ends early "
                                   "(an interrupted save, copy or download?)")
    return CheckpointReadError(f"checkpoint {path} is damaged: {message.splitlines()[0] if message else error!r}")


def _load_pickle(path, head):
    logger.warning("Loading %s as a legacy pickle (train.allow_pickle=True): this runs any code the file "
                   "holds. Use it only for files you trust.", path)
    if head.startswith((_ZIP_MAGIC, _TORCH_LEGACY_MAGIC)):
        return torch.load(path, map_location="cpu", weights_only=False)
    with open(path, "rb") as f:  # a plain pickle, e.g. a Detectron2 model-zoo file written by Python 2
        return pickle.load(f, encoding="latin1")


def load_checkpoint(path, allow_pickle=False):
    """Load the checkpoint dict at ``path`` without running code from it; verify its SHA-256 when present.

    Args:
        path: a checkpoint file (".pth", ".pkl", ...).
        allow_pickle: read a legacy pickle that ``weights_only`` refuses (runs code: trusted files only).

    Raises ``CheckpointReadError`` (missing, empty, truncated, damaged, not a checkpoint, checksum
    mismatch) or ``PickleRefusedError``; both name the file.
    """
    path = os.fspath(path)
    _refuse_unsafe_environment(path)
    head = _check_file(path)
    verify_checksum(path)
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols just before refusing them
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a refused, truncated or foreign file
        problem = _explain_failure(path, head, e)
        if not (allow_pickle and isinstance(problem, PickleRefusedError)):
            raise problem from None
        try:
            checkpoint = _load_pickle(path, head)
        except Exception as e2:
            raise _explain_failure(path, head, e2) from e2
    if not isinstance(checkpoint, Mapping):
        raise CheckpointReadError(f"{path} is not a checkpoint: it holds a {type(checkpoint).__name__}, "
                                  "not a dict of weights")
    return checkpoint
