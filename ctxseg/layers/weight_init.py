"""Weight initialisation shared by the transformer modules (Swin backbone, IIWA decoder)."""
import torch.nn as nn
from timm.layers import trunc_normal_

__all__ = ["init_linear_and_layernorm"]


def init_linear_and_layernorm(module: nn.Module) -> None:
    """Swin's init, for ``Module.apply``: Linear weights N(0, 0.02) truncated, biases 0; LayerNorm 1 / 0."""
    if isinstance(module, nn.Linear):
        trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
