"""The encoder-decoder segmentor registered in Detectron2's META_ARCH_REGISTRY."""
from .segmentor import EncoderDecoderSegmentor, sliding_windows

__all__ = ["EncoderDecoderSegmentor", "sliding_windows"]
