"""The transformer feed-forward block: Linear, activation, dropout, Linear, dropout."""
from typing import Optional, Type

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from .dropout import Dropout
from .linear import Linear, _dense, _takes_onednn, onednn_weight_gradient

__all__ = ["Mlp"]


class Mlp(nn.Module):
    """``fc2(act(fc1(x)))`` with dropout after each, on the last dim; parameter names as timm's ``Mlp``
    (``fc1``, ``fc2``), so checkpoints of either load into the other. Its linear layers are ``Linear``
    (oneDNN matmuls on the CPU, see ``ctxseg.layers.linear``).

    In float32 CPU training with the exact GELU and no active dropout, the block runs as one autograd
    function (:class:`_GeluMlpFunction`) that keeps the hidden pre-activation for the backward pass but not
    the activation as well, and computes the activation's gradient in place: 4x the input's size less
    memory held per block at the usual ratio of 4, for one more GELU in the backward pass.
    """

    def __init__(self, in_features: int, hidden_features: Optional[int] = None, out_features: Optional[int] = None,
                 act_layer: Type[nn.Module] = nn.GELU, drop: float = 0.0):
        super().__init__()
        hidden_features = hidden_features or in_features
        self.fc1 = Linear(in_features, hidden_features)
        self.act = act_layer()
        self.drop1 = Dropout(drop)
        self.fc2 = Linear(hidden_features, out_features or in_features)
        self.drop2 = Dropout(drop)

    def _fused_applies(self, x: torch.Tensor) -> bool:
        if not torch.is_grad_enabled() or type(self.act) is not nn.GELU or self.act.approximate != "none":
            return False
        if self.training and (self.drop1.p > 0 or self.drop2.p > 0):
            return False
        return _takes_onednn(x, self.fc1.weight, self.fc1.bias) and _takes_onednn(x, self.fc2.weight, self.fc2.bias)

    def forward(self, x):
        if self._fused_applies(x):
            return _GeluMlpFunction.apply(x, self.fc1.weight, self.fc1.bias, self.fc2.weight, self.fc2.bias)
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))


class _GeluMlpFunction(torch.autograd.Function):
    """``fc2(gelu(fc1(x)))`` on oneDNN; the same GEMMs, GELU and sums as the three separate layers, so the
    results are theirs bit for bit. Saved: the input and the pre-activation; the activation is computed
    again for fc2's weight gradient."""

    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2):
        hidden = _dense(x, w1, b1)
        ctx.save_for_backward(x, hidden, w1, w2)
        return _dense(F.gelu(hidden), w2, b2)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, hidden, w1, w2 = ctx.saved_tensors
        need_x, need_w1, need_b1, need_w2, need_b2 = ctx.needs_input_grad
        rows = grad.reshape(-1, grad.shape[-1])
        grad_w2 = grad_b2 = grad_x = grad_w1 = grad_b1 = None
        if need_w2:
            grad_w2 = onednn_weight_gradient(rows, F.gelu(hidden).reshape(-1, hidden.shape[-1]))
        if need_b2:
            grad_b2 = rows.sum(0)
        if need_x or need_w1 or need_b1:
            grad_hidden = _dense(grad, w2.t().contiguous(), None)
            torch.ops.aten.gelu_backward.grad_input(grad_hidden, hidden, grad_input=grad_hidden)  # in place
            hidden_rows = grad_hidden.reshape(-1, grad_hidden.shape[-1])
            if need_w1:
                grad_w1 = onednn_weight_gradient(hidden_rows, x.reshape(-1, x.shape[-1]))
            if need_b1:
                grad_b1 = hidden_rows.sum(0)
            if need_x:
                grad_x = _dense(grad_hidden, w1.t().contiguous(), None)
        return grad_x, grad_w1, grad_b1, grad_w2, grad_b2
