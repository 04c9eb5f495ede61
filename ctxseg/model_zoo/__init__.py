"""ctxseg's configs by name, like ``detectron2.model_zoo``: ``get_config("IIWA/ade20k/iiwa_swin_s_512x512_160k.py")``.

See :mod:`ctxseg.model_zoo.model_zoo` for the naming scheme.
"""
from .model_zoo import get, get_checkpoint_url, get_config, get_config_file, list_configs

__all__ = ["get", "get_checkpoint_url", "get_config", "get_config_file", "list_configs"]
