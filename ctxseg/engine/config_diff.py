"""A config section as flat ``{"model.a.b": value}``, and the differences between two of them.

Resuming compares the ``model`` section a checkpoint was trained with (stored in the checkpoint) with
the current one: a changed model cannot continue from those weights and optimizer state.
"""
from collections.abc import Mapping, Sequence

from omegaconf import DictConfig, ListConfig

__all__ = ["flatten_config", "config_differences"]

_MISSING = "<absent>"


def _leaf(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if callable(value):  # a LazyCall target or any function or class
        return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', repr(value))}"
    return f"<{type(value).__module__}.{type(value).__qualname__}>"


def _items(node):
    if isinstance(node, (DictConfig, Mapping)):
        keys = list(node.keys())
    else:
        keys = range(len(node))
    for key in keys:
        try:
            yield key, node[key]
        except Exception:  # an unresolvable interpolation or a missing value ("???")
            yield key, "<unresolved>"


def flatten_config(node, prefix):
    """``{"prefix.key.sub": leaf}`` of a config node; leaves are numbers, strings, booleans or None."""
    flat = {}
    if isinstance(node, (DictConfig, ListConfig, Mapping, Sequence)) and not isinstance(node, str):
        for key, value in _items(node):
            flat.update(flatten_config(value, f"{prefix}.{key}"))
        if not flat:
            flat[prefix] = "{}" if isinstance(node, (DictConfig, Mapping)) else "[]"
        return flat
    return {prefix: _leaf(node)}


def config_differences(old, new):
    """``["key: old -> new", ...]`` for every key of two flat configs whose values differ, sorted."""
    return [f"{key}: {old.get(key, _MISSING)!r} -> {new.get(key, _MISSING)!r}"
            for key in sorted(set(old) | set(new)) if old.get(key, _MISSING) != new.get(key, _MISSING)]
