#!/usr/bin/env python
"""ATen's float32 CPU linear (the BLAS PyTorch was built with, MKL in the official wheels) against oneDNN's,
on the dense-layer shapes of a Swin-S IIWA training step: why ``ctxseg.layers.Linear`` routes float32 CPU
matmuls through oneDNN (``ctxseg/layers/linear.py``).

    python tools/bench/gemm.py --threads 2 --repeats 5

Both run in this process, interleaved shape by shape and round by round; the median of the rounds is
reported as GFLOP/s with the ratio oneDNN / ATen (above 1: oneDNN is faster). "forward" is ``x @ W.T + b``,
"input grad" ``g @ W`` and "weight grad" ``g.T @ x`` (for oneDNN: as ``Linear``'s backward calls it, 1024
tokens at a time on transposed views, the narrower operand first).
"""
import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from ctxseg.layers.linear import onednn_weight_gradient  # noqa: E402
from ctxseg_cli.runner import positive_int  # noqa: E402

# (tokens, in, out): Swin-S stage 3 at 512x512 in IIWA's dilated layout (64x64 tokens, C=384): qkv, proj,
# MLP in and out; the IIWA decoder (2 x 64x64 tokens, C=256): qkv and MLP in.
SHAPES = [(4096, 384, 1152), (4096, 384, 384), (4096, 384, 1536), (4096, 1536, 384), (8192, 256, 768),
          (8192, 256, 1024)]


def _seconds(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=positive_int, default=2, help="torch.set_num_threads")
    parser.add_argument("--repeats", type=positive_int, default=5, help="timed rounds per shape and pass")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    onednn = torch.ops.mkldnn._linear_pointwise
    print(f"torch {torch.__version__}, {args.threads} threads, float32, median of {args.repeats}; GFLOP/s")
    print("| tokens x in -> out | pass | ATen | oneDNN | oneDNN / ATen |")
    print("|---|---|---:|---:|---:|")
    for tokens, fan_in, fan_out in SHAPES:
        g = torch.Generator().manual_seed(0)
        x, grad = torch.randn(tokens, fan_in, generator=g), torch.randn(tokens, fan_out, generator=g)
        weight, bias = torch.randn(fan_out, fan_in, generator=g), torch.randn(fan_out, generator=g)
        weight_t = weight.t().contiguous()
        passes = {
            "forward": (lambda: F.linear(x, weight, bias), lambda: onednn(x, weight, bias, "none", [], "")),
            "input grad": (lambda: grad @ weight, lambda: onednn(grad, weight_t, None, "none", [], "")),
            "weight grad": (lambda: grad.t() @ x, lambda: onednn_weight_gradient(grad, x)),
        }
        flop = 2 * tokens * fan_in * fan_out
        for name, (aten, dnn) in passes.items():
            rounds = {"aten": [], "onednn": []}
            for _ in range(args.repeats):  # interleaved, so that load changes hit both alike
                rounds["aten"] += _seconds(aten, 1)
                rounds["onednn"] += _seconds(dnn, 1)
            rate = {k: flop / statistics.median(v) / 1e9 for k, v in rounds.items()}
            print(f"| {tokens} x {fan_in} -> {fan_out} | {name} | {rate['aten']:.0f} | {rate['onednn']:.0f} | "
                  f"{rate['onednn'] / rate['aten']:.2f}x |")


if __name__ == "__main__":
    main()
