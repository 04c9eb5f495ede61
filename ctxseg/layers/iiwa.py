"""The released IIWA attention layers: Self-IIWA, MS Cross-IIWA (with window matching), Cross-IIWA fusion."""
from .cross_iiwa import CrossIIWA
from .ms_cross_iiwa import MultiScaleCrossIIWA
from .self_iiwa import SelfIIWA
from .window_matching import key_windows_from_memories, match_windows

__all__ = ["SelfIIWA", "MultiScaleCrossIIWA", "CrossIIWA", "key_windows_from_memories", "match_windows"]
