"""Residual additions with stochastic depth in one pass."""
import torch

__all__ = ["add_residual"]


def add_residual(x, branch, drop_path):
    """``x + drop_path(branch)`` for a timm ``DropPath`` (or ``nn.Identity``), in one pass over the tensors.

    In training, each sample's branch is kept with probability ``1 - drop_prob`` and scaled by its
    inverse, drawn exactly as timm's ``DropPath`` draws it (the same random stream), then added with
    ``addcmul`` instead of a multiplication followed by an addition.
    """
    drop_prob = getattr(drop_path, "drop_prob", 0.0)
    if not drop_path.training or drop_prob == 0.0:
        return x + branch
    keep_prob = 1.0 - drop_prob
    scale = branch.new_empty((branch.shape[0],) + (1,) * (branch.dim() - 1)).bernoulli_(keep_prob)
    if keep_prob > 0.0 and getattr(drop_path, "scale_by_keep", True):
        scale.div_(keep_prob)
    return torch.addcmul(x, branch, scale)
