"""A mapper that takes its time, so that a test can signal a training run while it is inside an iteration."""
import time

__all__ = ["SlowMapper"]


class SlowMapper:
    """``mapper`` after sleeping ``seconds`` (the samples are unchanged)."""

    def __init__(self, mapper, seconds):
        self.mapper = mapper
        self.seconds = seconds

    def __call__(self, record):
        time.sleep(self.seconds)
        return self.mapper(record)
