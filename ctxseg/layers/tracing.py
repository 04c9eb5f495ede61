"""Where a traced or exported graph would be wrong: host code that depends on the data.

A graph records tensor operations only. Code that leaves the graph (a NumPy/SciPy call on the values, as
IIWA's Hungarian window matching) runs once while tracing, and its result is frozen into the graph as a
constant: the graph then gives the traced image's matching to every other image. Such code calls
``refuse_graph_capture`` first. Counting operations (FLOPs) traces the model too, and a frozen result is
harmless there: ``counting_operations()`` allows it.
"""
import contextlib
import threading
from typing import ContextManager

import torch

__all__ = ["NotExportableError", "capturing_graph", "building_graph", "counting_operations", "refuse_graph_capture",
           "rehearsing_capture"]

_state = threading.local()


class NotExportableError(RuntimeError):
    """A model holds data-dependent host code that no traced or exported graph can represent."""


def capturing_graph() -> bool:
    """Whether a graph is being traced or exported (TorchScript tracing, ``torch.export``, ONNX export).

    ``torch.compile`` is not among them: it runs host code eagerly between its graphs.
    """
    return (getattr(_state, "rehearsing", False) or torch.jit.is_tracing() or torch.compiler.is_exporting()
            or torch.onnx.is_in_onnx_export())


def building_graph() -> bool:
    """Whether any graph is being built: scripting, ``torch.compile`` or a capture (:func:`capturing_graph`).

    CPU fast paths built on PyTorch internals step aside then, so that graphs hold standard operators.
    """
    return torch.jit.is_scripting() or torch.compiler.is_compiling() or capturing_graph()


@contextlib.contextmanager
def _raised(flag):
    previous = getattr(_state, flag, False)
    setattr(_state, flag, True)
    try:
        yield
    finally:
        setattr(_state, flag, previous)


def rehearsing_capture() -> ContextManager[None]:
    """Run eagerly as if a graph were captured: code that refuses capture raises at once, before a long trace."""
    return _raised("rehearsing")


def counting_operations() -> ContextManager[None]:
    """Allow tracing through host code while operations are counted (the traced graph is thrown away)."""
    return _raised("counting")


def refuse_graph_capture(what: str) -> None:
    """Raise ``NotExportableError`` if a graph is being captured outside ``counting_operations()``."""
    if capturing_graph() and not getattr(_state, "counting", False):
        raise NotExportableError(
            f"{what} is data-dependent host code (it runs on the CPU with SciPy, outside the tensor graph): "
            "tracing or exporting would freeze the result of the traced image into the graph, and other images "
            "would get wrong predictions. This model cannot be exported; run it in PyTorch (ctxseg.Predictor).")
