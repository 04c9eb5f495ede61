"""Export of a segmentor's whole-image forward to ONNX, TorchScript and torch.export, checked against PyTorch."""
from .exporters import (
    FORMATS,
    ExportError,
    SizeCheck,
    check_exported,
    describe_checks,
    export_graph,
    export_model,
    load_exported,
)
from .module import SegmentationGraph

__all__ = ["FORMATS", "ExportError", "SizeCheck", "SegmentationGraph", "check_exported", "describe_checks",
           "export_graph", "export_model", "load_exported"]
