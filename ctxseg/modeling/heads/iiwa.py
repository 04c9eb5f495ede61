"""The IIWA head modules of spec iiwa.md 6 in one import: the Cross-IIWA fusion neck (6.1, ``iiwa_fusion``)
and the IIWA decoder (6.2, ``iiwa_decoder``)."""
from .iiwa_decoder import IIWADecoderBlock, IIWADecoderHead
from .iiwa_fusion import FusionFFN, IIWAFusionNeck

__all__ = ["IIWAFusionNeck", "FusionFFN", "IIWADecoderHead", "IIWADecoderBlock"]
