"""Linear layers whose float32 CPU matmuls run on oneDNN instead of ATen's default BLAS.

On the CPU, ``F.linear`` calls the BLAS PyTorch was built with (MKL in the official wheels). On some
processors (the AMD EPYC machines this project is developed on among them) MKL's single-precision GEMM
reaches only about half of what oneDNN, also inside every PyTorch build, gets from the same cores; the
dense layers are three quarters of a Swin or IIWA training step there (``tools/bench/README.md`` has the
figures, ``tools/bench/gemm.py`` measures both). ``linear`` sends the three GEMMs of a float32 CPU linear
layer (forward, input gradient, weight gradient) through oneDNN's linear kernel. The result is the same
products summed in another order: equal to ``F.linear`` to float32 rounding (tests check 1e-5 relative).

Everything else takes ``F.linear`` unchanged: other devices and dtypes (float64, so the golden tests are
untouched), autocast, graph capture (tracing, ``torch.export``, ONNX, ``torch.compile``), and builds
without oneDNN. ``CTXSEG_CPU_LINEAR=aten`` in the environment, or ``set_cpu_linear_backend("aten")``,
turns the route off.
"""
import contextlib
import os
import warnings
from typing import Iterator, Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from .tracing import building_graph

__all__ = ["Linear", "linear", "cpu_linear_backend", "set_cpu_linear_backend", "get_cpu_linear_backend",
           "onednn_weight_gradient", "WeightGradient", "token_blocks", "TOKEN_BLOCK"]

CPU_LINEAR_BACKENDS = ("onednn", "aten")
_ENV = "CTXSEG_CPU_LINEAR"


def _backend_from_environment() -> str:
    value = os.environ.get(_ENV, "onednn").strip().lower()
    if value not in CPU_LINEAR_BACKENDS:
        warnings.warn(f"{_ENV}={value!r} is not one of {', '.join(CPU_LINEAR_BACKENDS)}; using 'onednn'",
                      stacklevel=2)
        return "onednn"
    return value


_backend = _backend_from_environment()
# oneDNN's linear kernel, or None where this PyTorch build cannot run it (decided once, not per call).
_onednn_linear = (getattr(getattr(torch.ops, "mkldnn", None), "_linear_pointwise", None)
                  if torch.backends.mkldnn.is_available() else None)


def get_cpu_linear_backend() -> str:
    """The backend float32 CPU linear layers use now: ``"onednn"`` or ``"aten"``."""
    return _backend


def set_cpu_linear_backend(name: str) -> None:
    """Use ``"onednn"`` (the default) or ``"aten"`` (plain ``F.linear``) for float32 CPU linear layers."""
    global _backend
    if name not in CPU_LINEAR_BACKENDS:
        raise ValueError(f"unknown CPU linear backend {name!r}; choose one of {', '.join(CPU_LINEAR_BACKENDS)}")
    _backend = name


@contextlib.contextmanager
def cpu_linear_backend(name: str) -> Iterator[None]:
    """Use backend ``name`` inside the ``with`` block, then the previous one again."""
    previous = _backend
    set_cpu_linear_backend(name)
    try:
        yield
    finally:
        set_cpu_linear_backend(previous)


def _dense(x, weight, bias):
    return _onednn_linear(x, weight, bias, "none", [], "")


# Tokens per block of the backward GEMMs that contract over tokens (weight gradients), and of the GELU MLP's
# hidden layer: a block of the narrower operand, transposed for oneDNN, or of the hidden activation stays
# in the cache (at most 1024 x 1024 floats, 4 MiB) instead of being written to a fresh map-sized tensor.
TOKEN_BLOCK = 1024


def token_blocks(count: int) -> list:
    """Slices of ``TOKEN_BLOCK`` rows covering ``count`` rows."""
    return [slice(start, start + TOKEN_BLOCK) for start in range(0, count, TOKEN_BLOCK)]


class WeightGradient:
    """``grad_rows.T @ inputs`` (a linear layer's weight gradient; rows are tokens) summed over row blocks,
    on oneDNN.

    oneDNN's ``a @ b.T`` on transposed views, faster than ATen's GEMM here. oneDNN reads a transposed
    second operand in place but copies a transposed first one, so the narrower of the two goes first:
    ``(inputs.T @ grad_rows).T`` when the layer widens, ``grad_rows.T @ inputs`` when it narrows.
    """

    def __init__(self):
        self._total = None
        self._transposed = False

    def add(self, grad_rows: torch.Tensor, inputs: torch.Tensor) -> None:
        """Add the product of one block of rows."""
        self._transposed = inputs.shape[1] < grad_rows.shape[1]
        if self._transposed:
            part = _dense(inputs.t(), grad_rows.t(), None)
        else:
            part = _dense(grad_rows.t(), inputs.t(), None)
        self._total = part if self._total is None else self._total.add_(part)

    def result(self) -> torch.Tensor:
        """The sum, (out_features, in_features), contiguous."""
        return self._total.t().contiguous() if self._transposed else self._total


def onednn_weight_gradient(grad_rows: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """``grad_rows.T @ inputs`` on oneDNN, ``TOKEN_BLOCK`` rows at a time (see :class:`WeightGradient`)."""
    if grad_rows.shape[0] == 0:
        return grad_rows.new_zeros(grad_rows.shape[1], inputs.shape[1])
    gradient = WeightGradient()
    for block in token_blocks(grad_rows.shape[0]):
        gradient.add(grad_rows[block], inputs[block])
    return gradient.result()


class _OneDNNLinear(torch.autograd.Function):
    """``x @ weight.T + bias`` with oneDNN's GEMMs forward and backward (input and weight gradients)."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _dense(x, weight, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = _dense(grad, weight.t().contiguous(), None)
        rows = grad.reshape(-1, grad.shape[-1])
        if ctx.needs_input_grad[1]:
            grad_weight = onednn_weight_gradient(rows, x.reshape(-1, x.shape[-1]))
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = rows.sum(0)
        return grad_x, grad_weight, grad_bias


def _takes_onednn(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> bool:
    if _backend != "onednn" or _onednn_linear is None:
        return False
    if x.device.type != "cpu" or x.dtype != torch.float32 or weight.dtype != torch.float32:
        return False
    if bias is not None and bias.dtype != torch.float32:
        return False
    if torch.is_autocast_enabled("cpu"):
        return False
    # A captured graph must hold standard operators (ONNX and TorchScript know no oneDNN linear).
    if building_graph():
        return False
    return x.dim() >= 2 and x.numel() > 0 and weight.is_contiguous()


def linear(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``F.linear(x, weight, bias)``, through oneDNN for float32 CPU tensors (see the module docstring)."""
    if not _takes_onednn(x, weight, bias):
        return F.linear(x, weight, bias)
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad
                                    or (bias is not None and bias.requires_grad)):
        return _OneDNNLinear.apply(x, weight, bias)
    return _dense(x, weight, bias)


class Linear(nn.Linear):
    """``nn.Linear`` (same parameters, same checkpoints) computed by ``linear``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)
