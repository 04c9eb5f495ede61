"""The transformer feed-forward block: Linear, activation, dropout, Linear, dropout."""
from typing import Optional, Type

from torch import nn

from .linear import Linear

__all__ = ["Mlp"]


class Mlp(nn.Module):
    """``fc2(act(fc1(x)))`` with dropout after each, on the last dim; parameter names as timm's ``Mlp``
    (``fc1``, ``fc2``), so checkpoints of either load into the other. Its linear layers are ``Linear``
    (oneDNN matmuls on the CPU, see ``ctxseg.layers.linear``)."""

    def __init__(self, in_features: int, hidden_features: Optional[int] = None, out_features: Optional[int] = None,
                 act_layer: Type[nn.Module] = nn.GELU, drop: float = 0.0):
        super().__init__()
        hidden_features = hidden_features or in_features
        self.fc1 = Linear(in_features, hidden_features)
        self.act = act_layer()
        self.drop1 = nn.Dropout(drop)
        self.fc2 = Linear(hidden_features, out_features or in_features)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x):
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))
