"""Building blocks with no registry and no config: plain ``nn.Module``s and tensor helpers."""
from .window import pad_to_multiple, window_merge, window_partition

__all__ = ["pad_to_multiple", "window_merge", "window_partition"]
