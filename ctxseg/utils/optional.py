"""Optional dependencies: imported only where used, and their absence said in one line with the fix."""
import importlib
from types import ModuleType

from .errors import UserError

__all__ = ["MissingDependencyError", "import_optional"]


class MissingDependencyError(UserError):
    """An optional package that the requested feature needs is not installed."""


def import_optional(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` (part of the ``ctxseg[extra]`` extra); if it is missing, a ``MissingDependencyError``
    saying that ``purpose`` needs it and how to install it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        package = module.split(".")[0]
        raise MissingDependencyError(f"{purpose} needs the '{package}' package, which is not installed: "
                                     f"pip install 'ctxseg[{extra}]'") from e
