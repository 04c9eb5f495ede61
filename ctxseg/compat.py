"""Make the registry's Detectron2 0.6 snapshot run on today's stack; a no-op on an upstream build.

Two things break in that snapshot, and only these are patched, each only when needed:

1. ``from detectron2 import _C`` at import time: the sdist ships no compiled extension. A placeholder
   module is registered whose functions raise a clear error naming the op. Semantic segmentation
   needs none of them.
2. ``PIL.Image.LINEAR`` was removed in Pillow 10: it is aliased to ``PIL.Image.BILINEAR``.

``apply()`` runs before ``ctxseg`` imports anything from Detectron2 and returns the names of the
patches it applied (also logged at debug level).
"""
import importlib.util
import logging
import sys
import types

__all__ = ["apply", "MissingCompiledOps", "install_compiled_ops_placeholder", "alias_pil_linear"]

logger = logging.getLogger(__name__)
_applied = []


# Queries Detectron2 itself makes about the extension (environment report): answered, not raised.
_INFO_QUERIES = {
    "get_compiler_version": lambda: "not built (ctxseg placeholder)",
    "get_cuda_version": lambda: "not built (ctxseg placeholder)",
    "has_cuda": lambda: False,
}


class MissingCompiledOps(types.ModuleType):
    """Stands in for ``detectron2._C``: any op looked up on it raises when called, naming the op.

    Only the build-information queries of ``_INFO_QUERIES`` answer (that no extension was built).
    """

    def __init__(self):
        super().__init__("detectron2._C", "ctxseg placeholder for Detectron2's compiled ops")
        self.__file__ = __file__

    def __getattr__(self, op):
        if op.startswith("__"):
            raise AttributeError(op)
        if op in _INFO_QUERIES:
            return _INFO_QUERIES[op]

        def unavailable(*args, **kwargs):
            raise RuntimeError(
                f"Detectron2's compiled op '_C.{op}' is not available: this Detectron2 was built "
                "without its C++/CUDA extension. Semantic segmentation in ctxseg does not need it; "
                "install Detectron2 from source to use this op."
            )

        unavailable.__name__ = op
        return unavailable


def install_compiled_ops_placeholder(modules=sys.modules, find_spec=importlib.util.find_spec):
    """Register the ``detectron2._C`` placeholder if Detectron2 lacks its extension; True if done."""
    if "detectron2._C" in modules:
        return False
    if find_spec("detectron2") is None or find_spec("detectron2._C") is not None:
        return False
    placeholder = MissingCompiledOps()
    modules["detectron2._C"] = placeholder
    parent = modules.get("detectron2")
    if parent is not None:
        setattr(parent, "_C", placeholder)
    return True


def alias_pil_linear(image_module=None):
    """Alias ``Image.LINEAR`` to ``Image.BILINEAR`` where Pillow >= 10 removed it; True if done."""
    if image_module is None:
        from PIL import Image as image_module
    if hasattr(image_module, "LINEAR"):
        return False
    image_module.LINEAR = image_module.BILINEAR
    return True


def apply():
    """Apply the patches this environment needs (idempotent); return the list of applied names."""
    if install_compiled_ops_placeholder():
        _applied.append("detectron2._C placeholder")
    if alias_pil_linear():
        _applied.append("PIL.Image.LINEAR alias")
    if _applied:
        logger.debug("ctxseg.compat applied: %s", ", ".join(_applied))
    return list(_applied)
