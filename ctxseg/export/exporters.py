"""Export a segmentor's whole-image forward (``SegmentationGraph``) with dynamic height and width, and check it.

Formats: ``onnx`` (``torch.onnx.export`` through ``torch.export``; run with onnxruntime, the ``[export]``
extra), ``torchscript`` (``torch.jit.trace``), ``torch-export`` (``torch.export``, saved as ``.pt2``). Every
export is run on images of other sizes than the traced one and compared with PyTorch: a graph that froze
something of the traced image (a size computed in Python, a data-dependent decision) is refused, never
written. Models with data-dependent host code (IIWA's window matching) refuse to be traced at all.
"""
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import torch

from ..layers.tracing import NotExportableError, rehearsing_capture
from ..utils import atomic_write
from ..utils.errors import UserError
from .module import SegmentationGraph

__all__ = ["FORMATS", "ExportError", "SizeCheck", "export_graph", "load_exported", "check_exported",
           "export_model", "describe_checks"]

FORMATS = {"onnx": ".onnx", "torchscript": ".ts", "torch-export": ".pt2"}
MAX_LOGIT_DIFFERENCE = 1e-4


class ExportError(UserError):
    """A model that cannot be exported in a format, or whose export does not reproduce it."""


@dataclass
class SizeCheck:
    """The comparison of the exported graph with PyTorch on one (height, width)."""

    size: Tuple[int, int]
    max_abs_difference: float
    labels_equal: bool

    @property
    def passed(self):
        """Logits within ``MAX_LOGIT_DIFFERENCE`` and the same label at every pixel."""
        return self.max_abs_difference <= MAX_LOGIT_DIFFERENCE and self.labels_equal


def _example(size, seed=0):
    """A (1, 3, H, W) float32 image on 0..255 with some structure (smooth colours plus noise)."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, max(1, size[0] // 16), max(1, size[1] // 16), generator=generator)
    smooth = torch.nn.functional.interpolate(coarse, size=size, mode="bilinear", align_corners=False)
    return (smooth * 200 + torch.rand(1, 3, *size, generator=generator) * 55).clamp(0, 255)


def _dynamic_shapes():
    return {"image": {2: torch.export.Dim.DYNAMIC, 3: torch.export.Dim.DYNAMIC}}


def export_graph(graph, format, path, size):
    """Trace ``graph`` on a ``size`` image and write it to ``path`` in ``format``."""
    example = _example(size)
    try:
        with torch.no_grad():
            with rehearsing_capture():
                graph(example)  # a model that cannot be captured says so now, not after minutes of tracing
            if format == "torchscript":
                traced = torch.jit.trace(graph, (example,), check_trace=False)
                with atomic_write(path) as f:
                    torch.jit.save(traced, f)
            elif format in ("torch-export", "onnx"):
                # ONNX goes through torch.export too; exporting here first keeps the reason of a refusal,
                # which the ONNX exporter would wrap away.
                program = torch.export.export(graph, (example,), dynamic_shapes=_dynamic_shapes())
                if format == "onnx":
                    torch.onnx.export(program, (example,), input_names=["image"], output_names=["logits"],
                                      dynamo=True, verbose=False).save(path)
                else:
                    with atomic_write(path) as f:
                        torch.export.save(program, f)
            else:
                raise ValueError(f"unknown export format '{format}' (one of {', '.join(FORMATS)})")
    except Exception as e:  # noqa: BLE001  (the exporters raise many kinds; the cause stays chained for --debug)
        refusal = _not_exportable_cause(e)
        if refusal is not None:
            raise ExportError(str(refusal)) from e
        message = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ExportError(f"{format} export failed: {type(e).__name__}: {message}") from e
    return path


def _not_exportable_cause(error):
    """The ``NotExportableError`` behind ``error`` (the ONNX exporter wraps what torch.export raised), or None."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, NotExportableError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def load_exported(path, format):
    """A function running the exported graph: (1, 3, H, W) float32 tensor -> (1, K, H, W) logits tensor."""
    if format == "onnx":
        try:
            import onnxruntime
        except ImportError:
            raise ExportError("checking an ONNX export needs onnxruntime: pip install 'ctxseg[export]'") from None
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        return lambda image: torch.from_numpy(session.run(None, {"image": image.numpy()})[0])
    if format == "torchscript":
        module = torch.jit.load(path, map_location="cpu")
    elif format == "torch-export":
        module = torch.export.load(path).module()
    else:
        raise ValueError(f"unknown export format '{format}' (one of {', '.join(FORMATS)})")
    return lambda image: module(image)


def check_exported(graph, run, sizes: Sequence[Tuple[int, int]]) -> List[SizeCheck]:
    """Compare ``run`` (an exported graph) with ``graph`` in PyTorch on one image of each size."""
    checks = []
    for index, size in enumerate(sizes):
        image = _example(tuple(size), seed=index + 1)
        with torch.no_grad():
            expected = graph(image)
            try:
                got = run(image)
            except Exception as e:  # noqa: BLE001  (a graph that cannot run at this size fails the check)
                raise ExportError(f"the exported graph fails on a {size[0]}x{size[1]} image: "
                                  f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from e
        if got.shape != expected.shape:
            raise ExportError(f"the exported graph gives logits of shape {tuple(got.shape)} on a {size[0]}x{size[1]} "
                              f"image, PyTorch {tuple(expected.shape)}: the traced image's size was frozen")
        difference = float((got.float() - expected).abs().max())
        checks.append(SizeCheck(tuple(size), difference, bool(torch.equal(got.argmax(1), expected.argmax(1)))))
    return checks


def export_model(model, format, path, size=(512, 512), check_sizes=((384, 448), (608, 544))):
    """Export ``model`` (an ``EncoderDecoderSegmentor``) to ``path``; check it on ``check_sizes``; return the checks.

    The file is written only when every check passes (max abs logit difference <= 1e-4, identical labels).
    """
    if format not in FORMATS:
        raise ExportError(f"unknown export format '{format}' (one of {', '.join(FORMATS)})")
    if any(tuple(s) == tuple(size) for s in check_sizes):
        raise ExportError(f"check the export on sizes other than the traced one ({size[0]}x{size[1]})")
    graph = SegmentationGraph(model.eval().cpu()).eval()
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    # Written and checked in a folder of its own (an ONNX export may come with an external data file),
    # moved beside ``path`` only once checked.
    draft_dir = tempfile.mkdtemp(prefix=".unchecked-export-", dir=directory)
    try:
        draft = os.path.join(draft_dir, os.path.basename(path))
        export_graph(graph, format, draft, size)
        checks = check_exported(graph, load_exported(draft, format), check_sizes)
        failed = [c for c in checks if not c.passed]
        if failed:
            raise ExportError("the exported graph does not reproduce the model: " + "; ".join(
                f"{c.size[0]}x{c.size[1]}: max abs logit difference {c.max_abs_difference:.3g}"
                f"{'' if c.labels_equal else ', labels differ'}" for c in failed))
        for name in os.listdir(draft_dir):
            os.replace(os.path.join(draft_dir, name), os.path.join(directory, name))
    finally:
        shutil.rmtree(draft_dir, ignore_errors=True)
    return checks


def describe_checks(checks):
    """One line per checked size, for the command line."""
    return "\n".join(f"  {c.size[0]}x{c.size[1]}: max abs logit difference {c.max_abs_difference:.2e}, labels "
                     f"{'identical' if c.labels_equal else 'DIFFER'}" for c in checks)

