"""Building blocks with no registry and no config: plain ``nn.Module``s and tensor helpers."""
from .attention import fused_attention, multi_head_attention, relative_position_index
from .cross_iiwa import CrossIIWA
from .dropout import Dropout
from .linear import Linear
from .mlp import Mlp
from .ms_cross_iiwa import MultiScaleCrossIIWA
from .position import PositionEmbeddingSine, sine_position_embedding
from .residual import add_residual
from .self_iiwa import SelfIIWA
from .weight_init import init_linear_and_layernorm
from .window import (
    add_windows,
    pad_to_multiple,
    permute_tokens,
    shifted_window_order,
    shifted_window_position,
    upsample_window_grid,
    window_grid_size,
    window_merge,
    window_partition,
    window_pool,
)
from .window_matching import gather_windows, key_windows_from_memories, match_windows

__all__ = [
    "pad_to_multiple", "window_merge", "window_partition", "window_grid_size", "window_pool",
    "upsample_window_grid", "add_windows", "shifted_window_order", "shifted_window_position",
    "permute_tokens",
    "multi_head_attention", "fused_attention", "relative_position_index", "add_residual",
    "PositionEmbeddingSine", "sine_position_embedding",
    "SelfIIWA", "MultiScaleCrossIIWA", "CrossIIWA",
    "key_windows_from_memories", "match_windows", "gather_windows",
    "init_linear_and_layernorm", "Linear", "Mlp", "Dropout",
]
