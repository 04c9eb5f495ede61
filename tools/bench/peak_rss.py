"""Peak resident memory of a process on Linux, for the benchmarks: reset the peak mark, read it back.

The kernel keeps the peak resident set (``VmHWM``) of each process; writing "5" to
``/proc/self/clear_refs`` resets it to the current resident set, so ``VmHWM`` after a run minus
``VmRSS`` before it is the extra memory the run needed at its peak, whatever allocated it (the CPU
allocator, oneDNN scratch). Where the mark cannot be reset (not Linux), the lifetime peak is all there is.
"""
import resource
import sys

__all__ = ["status_kib", "reset_peak_rss", "max_rss_kib"]


def status_kib(field):
    """A field of ``/proc/self/status`` in KiB (``VmRSS``: resident now, ``VmHWM``: peak since the reset)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(f"/proc/self/status has no {field}")


def reset_peak_rss():
    """Reset the peak mark to the current resident set; False where that is impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def max_rss_kib():
    """The process's lifetime peak resident set in KiB (``ru_maxrss``: bytes on macOS, KiB on Linux)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 if sys.platform == "darwin" else rss
