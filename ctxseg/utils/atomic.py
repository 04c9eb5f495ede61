"""Atomic file writing: a crash while writing never leaves a half-written file under the final name.

Files get the permissions of an ordinary new file (``0o666`` minus the user's umask), not the
``0o600`` of a temporary file. A full disk is reported as such, with the path, whatever library was
writing (torch reports it as an ``enforce fail`` with the real cause deep in the chained exceptions).
"""
import contextlib
import errno
import logging
import os
import re
import tempfile

from .errors import UserError

__all__ = ["atomic_write", "remove_temporaries", "DiskFullError"]

# Temporary files are hidden siblings of their target: ".tmp-<name>-<8 characters from mkstemp>".
TEMPORARY_PREFIX = ".tmp-"
_TEMPORARY_NAME = re.compile(re.escape(TEMPORARY_PREFIX) + r".+-[a-z0-9_]{8}")
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(UserError, OSError):
    """A file could not be written because its file system is full (or the user's quota is)."""

    def __init__(self, path):
        super().__init__(errno.ENOSPC, f"cannot write {path}: no space left on device; the previous "
                                       "version of the file (if any) is intact. Free some space and run again.")
        self.path = path

    def __str__(self):
        return self.strerror

    def __reduce__(self):
        return type(self), (self.path,)


def current_umask():
    """The process's umask (read without changing it where the system allows)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _is_disk_full(exc):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _fsync_directory(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some systems cannot open a directory; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Yield a file object on a temporary file next to ``path``; rename it to ``path`` on success.

    On any exception the temporary file is removed and ``path`` keeps its previous content; a full
    disk raises ``DiskFullError`` naming ``path``. The new file's mode is ``0o666`` minus the umask.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=TEMPORARY_PREFIX + os.path.basename(path) + "-")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_directory(directory)
    except BaseException as e:
        if _is_disk_full(e):
            raise DiskFullError(path) from e
        raise
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def remove_temporaries(directory, depth=2):
    """Remove the temporary files that killed ``atomic_write`` calls left in ``directory``; return their paths.

    Looks ``depth`` folder levels deep (an output dir's ``inference/``, ``submission/``). Call it only
    while no other process writes there (e.g. holding the output dir's run lock).
    """
    removed = []
    base = os.path.abspath(directory)
    if not os.path.isdir(base):
        return removed
    for root, folders, files in os.walk(base):
        if root[len(base):].count(os.sep) >= depth:
            folders.clear()
        for name in files:
            if _TEMPORARY_NAME.fullmatch(name):
                path = os.path.join(root, name)
                try:
                    os.remove(path)
                except FileNotFoundError:
                    continue
                removed.append(path)
    if removed:
        logging.getLogger(__name__).warning(
            "Removed %d temporary file(s) left by an interrupted write: %s", len(removed), ", ".join(removed))
    return removed
