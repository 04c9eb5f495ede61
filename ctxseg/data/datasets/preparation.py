"""Helpers shared by the dataset preparation tools: safe reads, atomic idempotent writes, a parallel loop.

Every tool converts one input file into one output file per task. A task is skipped when its output
is newer than its inputs, and an output is rewritten only when its bytes change, so a second run
changes nothing. Outputs are written atomically: an interrupted run never leaves a partial file.
"""
import io
import logging
import multiprocessing
import os

import numpy as np
from PIL import Image
from tqdm import tqdm

from ...utils import atomic_write
from ...utils.errors import DataError

__all__ = [
    "PreparationError",
    "checked_source_name",
    "checked_outputs",
    "read_label_png",
    "encode_label",
    "is_up_to_date",
    "write_if_changed",
    "check_count",
    "run_tasks",
    "summarize",
]

logger = logging.getLogger(__name__)


class PreparationError(DataError):
    """An input file is missing, truncated or holds unexpected values; the message names it."""


def checked_source_name(name, source):
    """``name`` (a file name read from ``source``, e.g. a JSON) if it stays inside the folder it is joined to.

    An absolute name or one that climbs out with ``..`` would make a tool read or write outside the
    dataset root: it is refused, naming the entry and where it came from.
    """
    normal = os.path.normpath(name) if isinstance(name, str) else ""
    if not normal or normal == "." or os.path.isabs(name) or normal == ".." or normal.startswith(".." + os.sep):
        raise PreparationError(f"{source}: file name {name!r} is absolute or leaves the dataset folder; "
                               "refusing to read or write outside it")
    return name


def checked_outputs(root, outputs):
    """``outputs`` if every one lies inside ``root`` once symbolic links are resolved; else ``PreparationError``.

    A folder of the tree that is a symbolic link pointing elsewhere (or an output that is one) would
    make the tool write outside the dataset root.
    """
    real_root = os.path.realpath(root)
    checked_dirs = {}
    for output in outputs:
        folder = os.path.dirname(os.path.abspath(output))
        if folder not in checked_dirs:
            checked_dirs[folder] = _inside(os.path.realpath(folder), real_root)
        inside = checked_dirs[folder] and (not os.path.islink(output) or _inside(os.path.realpath(output), real_root))
        if not inside:
            raise PreparationError(f"{output} resolves to {os.path.realpath(output)}, outside the dataset root "
                                   f"{real_root} (a symbolic link?): refusing to write there")
    return outputs


def _inside(path, root):
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def read_label_png(path):
    """Read a single-channel label PNG as stored (uint8/uint16); a missing or truncated file names itself."""
    if not os.path.isfile(path):
        raise PreparationError(f"Missing input file: {path}")
    try:
        with Image.open(path) as image:
            image.load()
            return np.array(image)
    except (OSError, ValueError) as e:
        raise PreparationError(f"Cannot read {path} (truncated or corrupt?): {e}") from e


def encode_label(label, fmt="png"):
    """Encode an HxW label array as PNG (uint8) or TIFF (uint16) bytes, deterministically."""
    label = np.ascontiguousarray(label)
    buffer = io.BytesIO()
    if fmt == "png":
        Image.fromarray(label.astype(np.uint8), mode="L").save(buffer, format="PNG")
    elif fmt == "tif":
        Image.fromarray(label.astype(np.uint16)).save(buffer, format="TIFF")
    else:
        raise ValueError(f"Unknown label format '{fmt}' (expected 'png' or 'tif')")
    return buffer.getvalue()


def is_up_to_date(output, inputs):
    """Whether ``output`` exists and is at least as new as every file in ``inputs``."""
    if not os.path.isfile(output):
        return False
    newest_input = max((os.path.getmtime(p) for p in inputs if os.path.exists(p)), default=0.0)
    return os.path.getmtime(output) >= newest_input


def write_if_changed(path, data):
    """Write ``data`` (bytes) to ``path`` atomically unless it already holds exactly these bytes."""
    if os.path.isfile(path):
        with open(path, "rb") as f:
            if f.read() == data:
                os.utime(path)  # newer than its inputs now: the next run skips it without decoding
                return False
    with atomic_write(path) as f:
        f.write(data)
    return True


def check_count(what, actual, expected, allow_partial):
    """Compare a file count with the official one: raise, or only warn when ``allow_partial``."""
    if expected is None or actual == expected:
        return
    message = f"{what}: found {actual} files, the official release has {expected}."
    if not allow_partial:
        raise PreparationError(message + " Complete the download, or pass --allow-partial to convert what is there.")
    logger.warning("%s Converting them anyway (--allow-partial).", message)


def _call(task_and_fn):
    fn, task = task_and_fn
    try:
        return fn(task)
    except PreparationError as e:
        return "error", str(e)
    except Exception as e:  # noqa: BLE001  (one bad file must not hide the others)
        return "error", f"{task!r}: {type(e).__name__}: {e}"


def run_tasks(fn, tasks, workers=1, desc="converting"):
    """Run ``fn(task)`` -> (status, message) over ``tasks`` with a progress bar; ``workers`` > 1 uses a pool.

    ``fn`` returns ("written" | "unchanged" | "up-to-date", output path); a failure becomes ("error", message).
    """
    jobs = [(fn, task) for task in tasks]
    if workers <= 1 or len(jobs) < 2:
        return [_call(job) for job in tqdm(jobs, desc=desc, unit="file")]
    with multiprocessing.Pool(workers) as pool:
        iterator = pool.imap_unordered(_call, jobs, chunksize=max(1, min(64, len(jobs) // (4 * workers))))
        return list(tqdm(iterator, total=len(jobs), desc=desc, unit="file"))


def summarize(title, results):
    """Print a summary of ``run_tasks`` results and every error; return 0 if none failed, else 1."""
    counts = {}
    for status, _ in results:
        counts[status] = counts.get(status, 0) + 1
    parts = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("written", "unchanged", "up-to-date", "error"))
    print(f"{title}: {len(results)} files: {parts}")
    errors = [message for status, message in results if status == "error"]
    for message in errors:
        print(f"  ERROR {message}")
    return 1 if errors else 0
