"""Which code a run used: ctxseg's version and git commit, and the versions of what it runs on."""
import json
import logging
import os
import platform
import subprocess
from typing import Dict, Optional

__all__ = ["version_info", "format_version_info", "record_version_info"]

VERSION_FILE = "version.json"


def _git(source_dir, *args) -> Optional[str]:
    try:
        result = subprocess.run(["git", "-C", source_dir, *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def _git_state(source_dir):
    """(commit, has uncommitted changes) of the checkout ``source_dir`` is the root of, else (None, None)."""
    top = _git(source_dir, "rev-parse", "--show-toplevel")
    # An installed package may sit inside some other repository (a virtual environment in a project):
    # only a checkout whose root holds the package describes its code.
    if top is None or os.path.realpath(top) != os.path.realpath(source_dir):
        return None, None
    commit = _git(source_dir, "rev-parse", "HEAD")
    status = _git(source_dir, "status", "--porcelain", "--untracked-files=no")
    return commit, (None if status is None else bool(status))


def version_info() -> Dict[str, Optional[str]]:
    """ctxseg's version, its git commit and whether the checkout has uncommitted changes (None when ctxseg
    is not run from a git checkout, e.g. installed from a wheel), and the Python, torch and Detectron2
    versions."""
    import detectron2
    import torch

    import ctxseg

    commit, dirty = _git_state(os.path.dirname(os.path.dirname(os.path.abspath(ctxseg.__file__))))
    return {"ctxseg": ctxseg.__version__, "git_commit": commit, "git_dirty": dirty,
            "python": platform.python_version(), "torch": torch.__version__, "detectron2": detectron2.__version__}


def format_version_info(info: Dict[str, Optional[str]]) -> str:
    """One line: ``ctxseg 0.1.0 (git 1a2b3c4d5e6f, uncommitted changes), torch ..., detectron2 ..., Python ...``."""
    if info["git_commit"]:
        source = f"git {info['git_commit'][:12]}" + (", uncommitted changes" if info["git_dirty"] else "")
    else:
        source = "not a git checkout"
    return (f"ctxseg {info['ctxseg']} ({source}), torch {info['torch']}, detectron2 {info['detectron2']}, "
            f"Python {info['python']}")


def record_version_info(output_dir: Optional[str], logger: Optional[logging.Logger] = None) -> Dict[str, Optional[str]]:
    """Log :func:`version_info` and write it to ``<output_dir>/version.json`` (beside the saved config).

    Call it once per run in the main process, at the start; ``output_dir`` None or empty only logs.
    """
    info = version_info()
    (logger or logging.getLogger("ctxseg")).info("Running %s", format_version_info(info))
    if output_dir:
        from .atomic import atomic_write

        with atomic_write(os.path.join(output_dir, VERSION_FILE), "w") as f:
            json.dump(info, f, indent=2)
    return info
