"""Loading a trained model's weights for inference (the Predictor, the demo, the exporter)."""
import logging

__all__ = ["load_weights"]

logger = logging.getLogger(__name__)


def load_weights(model, path, allow_pickle=False):
    """Load the checkpoint ``path`` into ``model``; an empty path keeps the initial weights (with a warning).

    Every inference entry point reads weights through this one function: the weights must fit the
    model exactly, and the file is read safely (``allow_pickle``: also legacy pickles, which run code).
    """
    if not path:
        logger.warning("no weights given: the model keeps its initial (untrained) weights")
        return model
    from ..engine import AtomicCheckpointer

    AtomicCheckpointer(model, allow_pickle=allow_pickle).load(path)
    return model
