#!/usr/bin/env python
"""Forward time and peak memory of the Semantic FPN Context Cluster models, side by side on the CPU.

    python tools/bench/coc.py [--size 512 512] [--repeats 7] [--threads 2] [--models small-4 medium-49]

Each model is the ``configs/common/models/semantic_fpn.py`` model with a CoC-<size>-<proposals> bottom_up
and 150 classes, as in ``projects/ContextCluster/configs/ade20k``, with random weights, in eval mode.

Time: one forward of backbone + FPN + head (stride-4 logits), batch 1, under ``torch.inference_mode``,
``--warmup`` untimed runs each, then ``--repeats`` rounds in which every model runs once, in an order
rotated each round, so that load changes on a shared machine hit all models alike. The median and
range per model are printed, with ratios to the first model of ``--models`` measured in the same run.

Memory: for each model a fresh process builds it, runs one forward at 64x64 (to page in code and
one-time library state), resets the kernel's peak-RSS mark (``/proc/self/clear_refs``), runs one forward
at ``--size`` and reports the peak resident set minus the resident set just before that forward: the extra
memory the forward needs, whatever allocates it (the CPU allocator, oneDNN scratch). Python's tracemalloc
would see none of it. The child runs with glibc's ``MALLOC_MMAP_THRESHOLD_=65536``, so freed tensors go
back to the system at once: the figure is the peak of live memory, reproducible to well under 1 MiB.
Where the mark cannot be reset (not Linux), the process's lifetime peak (``ru_maxrss``) is used and
flagged with "*".
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import ctxseg  # noqa: F401  (patches Detectron2, registers models)

# isort: split
import torch
from detectron2.config import LazyCall as L
from detectron2.config import LazyConfig, instantiate
from fvcore.nn import parameter_count
from peak_rss import max_rss_kib, reset_peak_rss, status_kib  # tools/bench/peak_rss.py, beside this script
from tqdm import tqdm

from ctxseg.modeling.backbone.context_cluster import coc_medium, coc_small
from ctxseg_cli.runner import positive_int

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL_CONFIG = os.path.join(ROOT, "configs", "common", "models", "semantic_fpn.py")
MODELS = ["small-4", "small-25", "small-49", "medium-4", "medium-25", "medium-49"]
BACKBONES = {"small": coc_small, "medium": coc_medium}


def parse_args(argv=None):
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", nargs=2, type=positive_int, default=[512, 512], metavar=("H", "W"),
                        help="input size (multiples of 32)")
    parser.add_argument("--repeats", type=positive_int, default=7, help="timed rounds (each runs every model once)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed forwards per model first")
    parser.add_argument("--threads", type=positive_int, default=2, help="torch.set_num_threads")
    parser.add_argument("--models", nargs="+", default=MODELS, choices=MODELS,
                        help="models to compare; ratios are to the first one")
    parser.add_argument("--no-memory", action="store_true", help="skip the per-model memory processes")
    parser.add_argument("--memory-probe", choices=MODELS, help=argparse.SUPPRESS)  # internal: one child
    return parser.parse_args(argv)


def build_model(name):
    """The eval-mode Semantic FPN model CoC-<size>-<proposals> (random weights, 150 classes)."""
    size, proposals = name.split("-")
    cfg = LazyConfig.load(MODEL_CONFIG).model
    cfg.backbone.bottom_up = L(BACKBONES[size])(proposals=int(proposals))
    cfg.num_classes = 150
    return instantiate(cfg).eval()


def network_forward(model, images):
    """Backbone + FPN + head: the stride-4 logits."""
    return model.sem_seg_head(model.backbone(images))


def memory_probe(name, size):
    """In this (fresh) process: resident memory before one forward and its peak during it, in MiB."""
    model = build_model(name)
    images = torch.randn(1, 3, *size)
    with torch.inference_mode():
        # Page in the kernels' code and one-time library state on a tiny input, so the measured
        # forward shows the memory the input size needs rather than start-up costs.
        network_forward(model, torch.randn(1, 3, 64, 64))
    exact = reset_peak_rss()
    before = status_kib("VmRSS") if exact else max_rss_kib()
    with torch.inference_mode():
        network_forward(model, images)
    peak = status_kib("VmHWM") if exact else max_rss_kib()
    return {"before_mib": before / 1024, "peak_mib": peak / 1024, "exact": exact}


def measure_memory(name, args):
    """Run ``memory_probe`` for ``name`` in a child process; its result dict."""
    command = [sys.executable, os.path.abspath(__file__), "--memory-probe", name, "--threads", str(args.threads),
               "--size", *map(str, args.size)]
    # Every allocation above 64 KiB gets its own mapping, returned to the system when freed: without
    # this, glibc's heap reuse makes the figure vary by +-20 MiB from run to run.
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure_time(models, args):
    """{name: [seconds per forward]}, models interleaved and rotated across rounds."""
    images = torch.randn(1, 3, *args.size)
    names = list(models)
    times = {name: [] for name in names}
    with torch.inference_mode():
        for name in tqdm(names, desc="warm-up", file=sys.stderr):
            for _ in range(args.warmup):
                network_forward(models[name], images)
        for r in tqdm(range(args.repeats), desc="rounds", file=sys.stderr):
            for name in names[r % len(names):] + names[:r % len(names)]:
                start = time.perf_counter()
                network_forward(models[name], images)
                times[name].append(time.perf_counter() - start)
    return times


def main(argv=None):
    """Measure and print the table."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.memory_probe:
        print(json.dumps(memory_probe(args.memory_probe, args.size)))
        return
    load_start = os.getloadavg()
    memory = {}
    if not args.no_memory:
        for name in tqdm(args.models, desc="memory", file=sys.stderr):
            memory[name] = measure_memory(name, args)
    models = {name: build_model(name) for name in args.models}
    params = {name: parameter_count(model)[""] for name, model in models.items()}
    times = measure_time(models, args)
    load_end = os.getloadavg()

    base = args.models[0]
    base_time = statistics.median(times[base])
    print(f"Semantic FPN + CoC, {args.size[0]}x{args.size[1]}, batch 1, {args.threads} threads, eval, inference_mode; "
          f"torch {torch.__version__}; {args.warmup} warm-ups, median of {args.repeats} interleaved rounds")
    print(f"load average (1/5/15 min): start {'/'.join(f'{x:.2f}' for x in load_start)}, "
          f"end {'/'.join(f'{x:.2f}' for x in load_end)}; {os.cpu_count()} CPUs")
    header = f"| model | params | forward s, median (min-max) | time / {base} |"
    rule = "|---|---:|---:|---:|"
    if memory:
        header += f" forward peak, MiB | memory / {base} | RSS before, MiB |"
        rule += "---:|---:|---:|"
    print(header)
    print(rule)
    for name in args.models:
        median = statistics.median(times[name])
        row = (f"| SemFPN CoC-{name.capitalize()} | {params[name]:,} | "
               f"{median:.3f} ({min(times[name]):.3f}-{max(times[name]):.3f}) | {median / base_time:.2f} |")
        if memory:
            m, b = memory[name], memory[base]
            extra, base_extra = m["peak_mib"] - m["before_mib"], b["peak_mib"] - b["before_mib"]
            flag = "" if m["exact"] else "*"
            row += f" {extra:.0f}{flag} | {extra / base_extra:.2f} | {m['before_mib']:.0f} |"
        print(row)
    if memory and not all(m["exact"] for m in memory.values()):
        print("* lifetime peak RSS (the peak mark could not be reset): model construction may hide the forward")


if __name__ == "__main__":
    main()
