"""Models: backbones, heads and the encoder-decoder segmentor (imported to register them)."""
from . import backbone, heads, meta_arch  # noqa: F401
