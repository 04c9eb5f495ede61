"""Argument checks shared by the model constructors.

A size of zero or less in a config (``window_size=0``, ``num_classes=0``) otherwise fails much later,
inside a layer, with a division by zero or an empty weight. Constructors raise ``ValueError`` naming
the argument; built from a config, that becomes a ``ConfigError`` naming the config section.
"""

__all__ = ["check_positive"]


def check_positive(owner: str, **values) -> None:
    """Raise ``ValueError`` unless every value (an int or a sequence of ints) is a positive int."""
    for name, value in values.items():
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        if not items or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in items):
            raise ValueError(f"{owner}: {name} must be {'positive ints' if len(items) != 1 else 'a positive int'}, "
                             f"got {value!r}")
