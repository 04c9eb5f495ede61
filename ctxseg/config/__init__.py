"""Config files: loading, checked ``key=value`` overrides, instantiation with clear errors, checks, and the
yacs keys of the registered classes (``add_ctxseg_config``)."""
from .defaults import add_ctxseg_config
from .loading import CONFIG_EXTENSIONS, instantiate_config, load_config
from .overrides import apply_overrides, config_keys, parse_override
from .validation import validate_train_config

__all__ = ["load_config", "instantiate_config", "apply_overrides", "config_keys", "parse_override",
           "validate_train_config", "CONFIG_EXTENSIONS", "add_ctxseg_config"]
