"""Optimizer parameter groups by MMCV's name rule (``custom_keys``), for any torch optimizer.

For each parameter, the keys are tried in the order "alphabetical, then longest first"; the **first**
key that is a substring of the parameter's full name sets its ``lr_mult`` and ``decay_mult``, and no
other key applies (MMCV 1.x ``DefaultOptimizerConstructor``, which the IIWA and Context Cluster recipes
were trained with). Parameters no key matches get the base values.
"""
from typing import Dict, Optional

import torch.nn as nn

__all__ = ["param_groups_by_name"]


def _ordered_keys(custom_keys):
    return sorted(sorted(custom_keys), key=len, reverse=True)


def param_groups_by_name(model: nn.Module, base_lr: float, weight_decay: float,
                         custom_keys: Optional[Dict[str, Dict[str, float]]] = None):
    """Parameter groups (one per distinct (lr, weight_decay)) for ``torch.optim`` optimizers.

    Args:
        model: the model (not DDP-wrapped: names must not start with "module.").
        base_lr, weight_decay: the optimizer's base values.
        custom_keys: ``{substring: {"lr_mult": m, "decay_mult": d}}``; either entry defaults to 1.
    """
    custom_keys = dict(custom_keys or {})
    for key, value in custom_keys.items():
        unknown = set(value) - {"lr_mult", "decay_mult"}
        if unknown:
            raise KeyError(f"custom_keys['{key}'] has unknown entries {sorted(unknown)}; "
                           "allowed: lr_mult, decay_mult")
    order = _ordered_keys(custom_keys)
    groups = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        lr_mult, decay_mult = 1.0, 1.0
        for key in order:
            if key in name:
                lr_mult = custom_keys[key].get("lr_mult", 1.0)
                decay_mult = custom_keys[key].get("decay_mult", 1.0)
                break
        lr, wd = base_lr * lr_mult, weight_decay * decay_mult
        group = groups.setdefault((lr, wd), {"params": [], "param_names": [], "lr": lr, "weight_decay": wd})
        group["params"].append(param)
        group["param_names"].append(name)
    return list(groups.values())
