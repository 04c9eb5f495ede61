"""Checkpoint conversion: a registry of converters from other projects' formats to ctxseg's.

Each converter turns a loaded checkpoint (any dict) into a ``ConversionResult``: the state dict under
the key names the ctxseg model expects, plus what it did not use and what the target lacks. The
result is saved as a Detectron2 checkpoint ``{"model": state_dict}``. Input checkpoints are read with
``load_checkpoint`` (weights only, unless ``allow_pickle``), like every checkpoint ctxseg reads.
"""
import dataclasses
import os
from typing import Any, Callable, Dict, List, Union

import torch

from .storage import load_checkpoint, write_checkpoint

__all__ = ["ConversionResult", "register_converter", "converter_names", "convert_file", "load_checkpoint",
           "save_checkpoint"]

_CONVERTERS: Dict[str, Callable] = {}


@dataclasses.dataclass
class ConversionResult:
    """What a converter produced and what it could not map."""

    state_dict: Dict[str, torch.Tensor]
    unused_keys: List[str] = dataclasses.field(default_factory=list)
    missing_keys: List[str] = dataclasses.field(default_factory=list)
    notes: List[str] = dataclasses.field(default_factory=list)

    def report(self) -> str:
        """A human-readable report of the conversion."""
        lines = [f"converted {len(self.state_dict)} tensors"]
        lines += [f"note: {n}" for n in self.notes]
        lines.append(f"unused keys from the source ({len(self.unused_keys)}):")
        lines += [f"  {k}" for k in self.unused_keys]
        lines.append(f"missing keys in the result ({len(self.missing_keys)}):")
        lines += [f"  {k}" for k in self.missing_keys]
        return "\n".join(lines)


def register_converter(name: str) -> Callable[[Callable], Callable]:
    """Decorator: register ``fn(checkpoint: dict, **options) -> ConversionResult`` under ``name``."""

    def decorator(fn):
        if name in _CONVERTERS:
            raise KeyError(f"converter '{name}' is registered twice")
        _CONVERTERS[name] = fn
        return fn

    return decorator


def converter_names() -> List[str]:
    """Names of the registered converters (the ``--source`` choices)."""
    return sorted(_CONVERTERS)


def save_checkpoint(state_dict: Dict[str, torch.Tensor], path: Union[str, os.PathLike]) -> None:
    """Write ``{"model": state_dict}`` atomically, with its SHA-256 beside it (``<path>.sha256``)."""
    write_checkpoint({"model": state_dict, "__author__": "ctxseg"}, path)


def convert_file(source: str, in_path: Union[str, os.PathLike], out_path: Union[str, os.PathLike],
                 allow_pickle: bool = False, **options: Any) -> ConversionResult:
    """Convert the checkpoint at ``in_path`` with converter ``source``; write ``out_path``."""
    if source not in _CONVERTERS:
        raise KeyError(f"unknown converter source '{source}'; choose one of {converter_names()}")
    checkpoint = load_checkpoint(in_path, allow_pickle=allow_pickle)
    result = _CONVERTERS[source](checkpoint, **options)
    save_checkpoint(result.state_dict, out_path)
    return result
