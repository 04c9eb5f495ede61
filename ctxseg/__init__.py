"""ctxseg: context-aware semantic segmentation (IIWA, Context Cluster) as a Detectron2 extension.

Importing ``ctxseg`` makes the installed Detectron2 usable (see ``ctxseg.compat``) and registers every
backbone, meta-architecture and dataset of the project. ``ctxseg.Predictor`` applies a trained model to images.
"""
import warnings

from . import compat

compat.apply()
# Detectron2 0.6 scripts a few helpers at import time; today's torch warns about each one.
warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)

from . import data, modeling  # noqa: E402,F401  (registration side effects)
from .inference import Predictor  # noqa: E402,F401

__version__ = "0.1.0"
