"""Command-line overrides of a LazyConfig (``key=value``), checked against the config they change.

Detectron2's ``LazyConfig.apply_overrides`` accepts any key (a typo silently adds a new one that
nothing reads) and any value (``optimizer.lr=fast`` fails much later, deep inside the optimizer).
Here:

* ``key=value`` must name a key the config has, or an argument of the class or function a config
  node calls (``model.backbone.bottom_up.use_checkpoint=True``). An unknown key is an error that
  lists the closest existing keys. ``+key=value`` adds a new key on purpose.
* The value must have the type of the value it replaces: an int for an int, a number for a float,
  ``true``/``false`` for a bool, a list for a list; a string key takes the text as written.
* ``None``, ``none`` and ``null`` mean None (quote them, ``key='None'``, for the string).

Values are parsed with Hydra's override grammar, as Detectron2 does: numbers, ``true``/``false``,
``[1, 2]`` lists, ``{a: 1}`` dicts, quoted strings.
"""
import difflib
import inspect
import numbers
from typing import Iterable, List

from omegaconf import DictConfig, ListConfig, OmegaConf

from ..utils.errors import ConfigError

__all__ = ["apply_overrides", "config_keys", "parse_override"]

_MISSING = object()
_NONE_WORDS = ("None", "none", "null")


def parse_override(text):
    """``(key, value, add)`` of one ``[+]key=value`` override; a malformed one raises ``ConfigError``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    if "=" not in text:
        raise ConfigError(f"override '{text}' is not of the form key=value")
    try:
        override = OverridesParser.create().parse_overrides([text])[0]
    except HydraException as e:
        raise ConfigError(f"cannot parse override '{text}': {e}") from None
    if override.is_delete() or override.is_force_add():
        raise ConfigError(f"override '{text}': only key=value and +key=value are supported")
    raw = text.split("=", 1)[1].strip()
    value = override.value()
    if isinstance(value, str):
        if raw in _NONE_WORDS:
            value = None
    elif value is not None and not isinstance(value, (list, dict)):
        value = _Scalar(value, raw)
    return override.key_or_group, value, override.is_add()


class _Scalar:
    """A parsed number or bool together with the text it was written as (for string keys)."""

    def __init__(self, value, text):
        self.value, self.text = value, text


def config_keys(cfg, prefix=""):
    """Every dotted key of ``cfg`` (nested dicts and lists; list items by index)."""
    keys = []
    items = cfg.items_ex(resolve=False) if isinstance(cfg, DictConfig) else enumerate(cfg)
    for name, _ in items:
        key = f"{prefix}{name}"
        keys.append(key)
        child = cfg._get_node(name)
        if isinstance(child, (DictConfig, ListConfig)) and not child._is_none():
            keys += config_keys(child, key + ".")
    return keys


def _select(cfg, key):
    """The value at ``key`` (interpolations resolved when possible), or ``_MISSING``."""
    try:
        value = OmegaConf.select(cfg, key, default=_MISSING, throw_on_resolution_failure=False)
    except Exception:  # noqa: BLE001  (a key through a non-container: treated as missing)
        return _MISSING
    if value is None:
        # select() also answers None for an unresolvable interpolation; look at the node itself.
        parent_key, _, name = key.rpartition(".")
        parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
        if isinstance(parent, DictConfig) and name not in parent:
            return _MISSING
    return value


def _call_parameters(node):
    """The keyword parameters of the class or function a config node calls ({} if it calls nothing)."""
    if not isinstance(node, DictConfig) or "_target_" not in node:
        return {}
    target = node._target_
    if isinstance(target, str):
        from detectron2.utils.registry import locate

        try:
            target = locate(target)
        except Exception:  # noqa: BLE001  (unknown target: the instantiation will say so)
            return {}
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {p.name: (None if p.default is p.empty else p.default) for p in parameters
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def _parent(cfg, key):
    parent_key, _, name = key.rpartition(".")
    parent = OmegaConf.select(cfg, parent_key, default=None) if parent_key else cfg
    return parent_key, name, parent


def _type_name(value):
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, numbers.Integral):
        return "an integer"
    if isinstance(value, numbers.Real):
        return "a number"
    if isinstance(value, (list, tuple, ListConfig)):
        return "a list"
    return type(value).__name__


def _checked_value(key, old, new, text):
    """``new`` converted to the type of ``old``; a mismatch raises ``ConfigError``."""
    if isinstance(old, DictConfig):
        if isinstance(new, dict) and "_target_" not in old:
            return new
        raise ConfigError(f"{key} is a config section, not a value: override its keys ({key}.<name>=value), "
                          f"not the section itself (got '{text}')")
    if new is None or old is None:
        return new.value if isinstance(new, _Scalar) else new
    value = new.value if isinstance(new, _Scalar) else new
    if isinstance(old, str):
        if isinstance(new, _Scalar):
            return new.text
        if isinstance(new, str):
            return new
    elif isinstance(old, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(old, numbers.Integral):
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
    elif isinstance(old, numbers.Real):
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
    elif isinstance(old, (list, tuple, ListConfig)):
        if isinstance(value, (list, tuple)):
            return list(value)
    else:
        return value
    raise ConfigError(f"{key} expects {_type_name(old)} (it is {old!r}), got '{text}'")


def _close_matches(cfg, key):
    """Existing keys (and call arguments) that ``key`` was probably meant to be, nearest first."""
    parent_key, name, parent = _parent(cfg, key)
    prefix = parent_key + "." if parent_key else ""
    siblings = list(_call_parameters(parent)) + (list(parent.keys()) if isinstance(parent, DictConfig) else [])
    matches = [prefix + m for m in difflib.get_close_matches(name, dict.fromkeys(siblings), n=3, cutoff=0.6)]
    if matches:
        return matches
    named = [k for k in config_keys(cfg) if not k.rsplit(".", 1)[-1].isdigit()]
    return difflib.get_close_matches(key, named, n=3, cutoff=0.75)


def apply_overrides(cfg, overrides: Iterable[str]):
    """Apply ``[+]key=value`` overrides to ``cfg`` in place, checked as the module docstring says; return ``cfg``."""
    overrides: List[str] = list(overrides or [])
    for text in overrides:
        key, value, add = parse_override(text)
        old = _select(cfg, key)
        raw = text.split("=", 1)[1].strip()
        if old is _MISSING:
            _, name, parent = _parent(cfg, key)
            parameters = _call_parameters(parent)
            if name in parameters:
                old = parameters[name]
            elif not add:
                hint = _close_matches(cfg, key)
                hint = f"; did you mean {', '.join(hint)}?" if hint else ""
                raise ConfigError(f"override '{text}': the config has no key '{key}'{hint} "
                                  f"(write +{key}=... to add a new key)")
            else:
                old = None
        elif add:
            raise ConfigError(f"override '{text}': '{key}' exists already; write {key}=... to change it")
        value = _checked_value(key, old, value, raw)
        try:
            OmegaConf.update(cfg, key, value, merge=False, force_add=add)
        except Exception as e:  # noqa: BLE001  (omegaconf raises several types for an impossible path)
            raise ConfigError(f"override '{text}': cannot set '{key}': {e}") from None
    return cfg
