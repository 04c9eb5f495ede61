"""The transformer feed-forward block: Linear, activation, dropout, Linear, dropout."""
from typing import Optional, Type

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from .dropout import Dropout
from .linear import Linear, WeightGradient, _dense, _takes_onednn, token_blocks

__all__ = ["Mlp"]


class Mlp(nn.Module):
    """``fc2(act(fc1(x)))`` with dropout after each, on the last dim; parameter names as timm's ``Mlp``
    (``fc1``, ``fc2``), so checkpoints of either load into the other. Its linear layers are ``Linear``
    (oneDNN matmuls on the CPU, see ``ctxseg.layers.linear``).

    In float32 CPU training with the exact GELU and no active dropout, the block runs as one autograd
    function (:class:`_GeluMlpFunction`) that keeps the hidden pre-activation for the backward pass but not
    the activation, and handles the rest of the hidden layer in cache-sized blocks of tokens: of the four
    hidden-sized tensors (4x the input at the usual ratio) the layers make and free, it makes one, for one
    more GELU in the backward pass.
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
    """``fc2(gelu(fc1(x)))`` on oneDNN with the hidden activation handled ``TOKEN_BLOCK`` tokens at a time.

    Forward: fc1 over all tokens (its output, the pre-activation, is kept for the backward pass), then GELU
    and fc2 block by block, so the activation never exists as a whole. Backward, block by block: the GELU
    again for fc2's weight gradient, then fc2's input gradient, the GELU gradient in place, fc1's weight,
    bias and input gradients. The only hidden-sized tensor is the kept pre-activation; the blocks stay in
    the cache. The same GEMMs and element-wise functions as the separate layers, summed in blocks: equal to
    them to float32 rounding.
    """

    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2):
        hidden = _dense(x, w1, b1)
        hidden_rows = hidden.view(-1, hidden.shape[-1])
        out = hidden.new_empty(hidden_rows.shape[0], w2.shape[0])
        for block in token_blocks(hidden_rows.shape[0]):
            out[block] = _dense(F.gelu(hidden_rows[block]), w2, b2)
        ctx.save_for_backward(x, hidden, w1, w2)
        return out.view(*x.shape[:-1], w2.shape[0])

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, hidden, w1, w2 = ctx.saved_tensors
        need_x, need_w1, need_b1, need_w2, need_b2 = ctx.needs_input_grad
        grad_rows = grad.reshape(-1, grad.shape[-1])
        hidden_rows = hidden.view(-1, hidden.shape[-1])
        x_rows = x.reshape(-1, x.shape[-1])
        blocks = token_blocks(grad_rows.shape[0])
        grad_x = grad_w1 = grad_b1 = grad_w2 = grad_b2 = None

        if need_w2:
            fc2_weight = WeightGradient()
            for block in blocks:
                fc2_weight.add(grad_rows[block], F.gelu(hidden_rows[block]))
            grad_w2 = fc2_weight.result()
        if need_b2:
            grad_b2 = grad_rows.sum(0)

        if need_x or need_w1 or need_b1:
            w2_t, w1_t = w2.t().contiguous(), w1.t().contiguous()
            fc1_weight = WeightGradient()
            grad_x = x_rows.new_empty(x_rows.shape) if need_x else None
            grad_b1 = hidden_rows.new_zeros(hidden_rows.shape[1]) if need_b1 else None
            for block in blocks:
                grad_hidden = _dense(grad_rows[block], w2_t, None)
                torch.ops.aten.gelu_backward.grad_input(grad_hidden, hidden_rows[block], grad_input=grad_hidden)
                if need_w1:
                    fc1_weight.add(grad_hidden, x_rows[block])
                if need_b1:
                    grad_b1 += grad_hidden.sum(0)
                if need_x:
                    grad_x[block] = _dense(grad_hidden, w1_t, None)
            grad_w1 = fc1_weight.result() if need_w1 else None
            grad_x = grad_x.view(x.shape) if need_x else None
        return grad_x, grad_w1, grad_b1, grad_w2, grad_b2
