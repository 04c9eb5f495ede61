"""The IIWA head modules in one import: the Cross-IIWA fusion neck (``iiwa_fusion``) and the IIWA decoder
(``iiwa_decoder``), both reconstructed (docs/iiwa_reconstruction.md)."""
from .iiwa_decoder import IIWADecoderBlock, IIWADecoderHead
from .iiwa_fusion import FusionFFN, IIWAFusionNeck

__all__ = ["IIWAFusionNeck", "FusionFFN", "IIWADecoderHead", "IIWADecoderBlock"]
