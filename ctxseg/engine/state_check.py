"""Checks on saved state before it is used: finite values, and names and shapes that fit the model."""
import dataclasses
from collections.abc import Mapping
from typing import List, Tuple

import torch

__all__ = ["first_non_finite", "StateMismatch", "compare_with_model"]

_SHOWN = 5  # how many names an error lists of each kind


def first_non_finite(state, prefix=""):
    """The dotted name of the first floating-point tensor in ``state`` (nested dicts and lists) holding NaN or inf."""
    if isinstance(state, torch.Tensor):
        if state.is_floating_point() or state.is_complex():
            return None if bool(torch.isfinite(state).all()) else prefix or "<tensor>"
        return None
    if isinstance(state, Mapping):
        items = state.items()
    elif isinstance(state, (list, tuple)):
        items = enumerate(state)
    else:
        return None
    for key, value in items:
        found = first_non_finite(value, f"{prefix}.{key}" if prefix else str(key))
        if found:
            return found
    return None


def _listing(names):
    shown = ", ".join(names[:_SHOWN])
    return shown + (f", ... ({len(names)} in all)" if len(names) > _SHOWN else "")


@dataclasses.dataclass
class StateMismatch:
    """How a checkpoint's weights differ from a model's: names missing from it, names it has in excess,
    and names whose shapes differ as (name, shape in the checkpoint, shape in the model)."""

    missing: List[str]
    unexpected: List[str]
    shapes: List[Tuple[str, tuple, tuple]]

    def __bool__(self):
        return bool(self.missing or self.unexpected or self.shapes)

    def describe_shapes(self):
        """'name: (a, b) in the checkpoint, (c, d) in the model', for the first ones."""
        return _listing([f"{name}: {tuple(saved)} in the checkpoint, {tuple(wanted)} in the model"
                         for name, saved, wanted in self.shapes])

    def describe_missing(self):
        """The first names the model has and the checkpoint lacks."""
        return _listing(self.missing)

    def describe_unexpected(self):
        """The first names the checkpoint has and the model lacks."""
        return _listing(self.unexpected)

    def describe(self):
        """One sentence listing the first names of every kind of difference."""
        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} model weights missing from it ({self.describe_missing()})")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} weights the model does not have ({self.describe_unexpected()})")
        if self.shapes:
            parts.append(f"{len(self.shapes)} weights of another shape ({self.describe_shapes()})")
        return "; ".join(parts)


def compare_with_model(checkpoint_state, model_state):
    """The ``StateMismatch`` between a checkpoint's state dict and a model's."""
    missing = [k for k in model_state if k not in checkpoint_state]
    unexpected = [k for k in checkpoint_state if k not in model_state]
    shapes = [(k, tuple(v.shape), tuple(model_state[k].shape)) for k, v in checkpoint_state.items()
              if k in model_state and not isinstance(model_state[k], torch.nn.parameter.UninitializedParameter)
              and tuple(v.shape) != tuple(model_state[k].shape)]
    return StateMismatch(missing, unexpected, shapes)
