"""ctxseg: context-aware semantic segmentation (IIWA, Context Cluster) as a Detectron2 extension.

Importing ``ctxseg`` makes the installed Detectron2 usable (see ``ctxseg.compat``) and registers every
backbone, meta-architecture and dataset of the project.
"""
from . import compat

compat.apply()

from . import data, modeling  # noqa: E402,F401  (registration side effects)

__version__ = "0.1.0"
