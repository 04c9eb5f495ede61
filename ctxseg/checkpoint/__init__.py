"""Checkpoint files (safe loading, integrity) and converters (official / timm / mmseg Swin, official / mmseg CoC)."""
from .convert import ConversionResult, convert_file, converter_names, register_converter, save_checkpoint
from .storage import (
    CheckpointReadError,
    PickleRefusedError,
    checksum_path,
    load_checkpoint,
    verify_checksum,
    write_checkpoint,
)

__all__ = ["ConversionResult", "convert_file", "converter_names", "load_checkpoint", "register_converter",
           "save_checkpoint", "write_checkpoint", "checksum_path", "verify_checksum", "CheckpointReadError",
           "PickleRefusedError"]
from . import coc, swin  # noqa: F401  (register the converters)
