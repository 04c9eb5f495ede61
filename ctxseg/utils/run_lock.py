"""One run per output dir: a lock file (``run.lock``) holding the PID and host of the run that uses it.

A second run on the same directory is refused with the holder's PID, host and command. A lock whose
process is gone (same host; the PID no longer runs, or now belongs to a process started later) is
taken over with a warning, so a run killed with ``kill -9`` does not block the next one. Checking
and taking the lock happen under an ``flock`` of the directory, so two runs starting at once cannot
both take it.
"""
import atexit
import contextlib
import json
import logging
import os
import socket
import sys
import time

from .errors import UserError

__all__ = ["LOCK_NAME", "OutputDirLocked", "lock_output_dir", "unlock_output_dir"]

logger = logging.getLogger(__name__)

LOCK_NAME = "run.lock"
_held = {}  # real path of a locked directory -> how many times this process entered it
_exit_handler_registered = False


class OutputDirLocked(UserError):
    """The output dir is in use by another run."""


def _process_start(pid):
    """The start time of process ``pid`` in clock ticks since boot (Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[19])  # field 22 of stat(5); the two before ")" are pid and comm
    except (OSError, IndexError, ValueError):
        return None


def _describe(holder):
    return (f"pid {holder.get('pid')} on host {holder.get('host')}, started {holder.get('started', '?')}: "
            f"{holder.get('command', '?')}")


def _is_running(holder):
    """Whether the process that wrote the lock ``holder`` may still run (another host: assume it does)."""
    if holder.get("host") != socket.gethostname():
        return True
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    started = holder.get("process_start")
    return started is None or _process_start(pid) in (None, started)


def _read_holder(path):
    try:
        with open(path) as f:
            holder = json.load(f)
        return holder if isinstance(holder, dict) else {}
    except FileNotFoundError:
        return None
    except (OSError, ValueError):  # cut short by a killed writer: nobody holds it
        return {}


@contextlib.contextmanager
def _exclusive(directory):
    """Hold an ``flock`` on ``directory`` (where the system has it) while checking and taking the lock."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX)
    except (ImportError, OSError):
        pass
    try:
        yield
    finally:
        os.close(fd)  # releases the flock


def lock_output_dir(directory):
    """Take the lock of ``directory`` for this process (again, if it holds it already).

    Raises ``OutputDirLocked`` while another running process holds it.
    """
    key = os.path.realpath(directory)
    if key in _held:
        _held[key] += 1
        return
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, LOCK_NAME)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "process_start": _process_start(os.getpid()),
          "started": time.strftime("%Y-%m-%d %H:%M:%S"), "command": " ".join(sys.argv)}
    with _exclusive(directory):
        holder = _read_holder(path)
        if holder is not None:
            if holder and _is_running(holder):
                raise OutputDirLocked(
                    f"output dir {directory} is in use by another run ({_describe(holder)}). Wait for it to end, "
                    f"or choose another train.output_dir; if that run is gone, delete {path}.")
            logger.warning("Taking over the lock %s of a run that is no longer running (%s)", path,
                           _describe(holder) if holder else "unreadable lock file")
            os.remove(path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
            f.flush()
            os.fsync(f.fileno())
    global _exit_handler_registered
    if not _exit_handler_registered:
        atexit.register(_release_all)
        _exit_handler_registered = True
    _held[key] = 1


def unlock_output_dir(directory):
    """Leave the lock of ``directory`` once; the last leave removes the lock file."""
    key = os.path.realpath(directory)
    if key not in _held:
        return
    _held[key] -= 1
    if _held[key] == 0:
        del _held[key]
        _remove_own_lock(key)


def _remove_own_lock(directory):
    path = os.path.join(directory, LOCK_NAME)
    holder = _read_holder(path)
    if holder and holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
        os.remove(path)


def _release_all():
    for key in list(_held):
        del _held[key]
        _remove_own_lock(key)
