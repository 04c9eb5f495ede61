"""Loading a trained model's weights for inference (the Predictor, the demo, the exporter)."""
import logging
import os

from ..utils.errors import CheckpointError

__all__ = ["load_weights"]

logger = logging.getLogger(__name__)


def load_weights(model, path):
    """Load the checkpoint ``path`` into ``model``; an empty path keeps the initial weights (with a warning).

    Every inference entry point reads weights through this one function.
    """
    if not path:
        logger.warning("no weights given: the model keeps its initial (untrained) weights")
        return model
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    from ..engine import AtomicCheckpointer

    AtomicCheckpointer(model).load(path)
    return model
