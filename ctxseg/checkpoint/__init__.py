"""Checkpoint converters (official / timm / mmseg Swin, official / mmseg Context Cluster)."""
from .convert import (ConversionResult, convert_file, converter_names, load_checkpoint,
                      register_converter, save_checkpoint)

__all__ = ["ConversionResult", "convert_file", "converter_names", "load_checkpoint", "register_converter",
           "save_checkpoint"]
from . import coc  # noqa: F401
from . import swin  # noqa: F401
