"""Errors that are the user's to fix.

Library code raises these for mistakes in what a user gave: a file (missing, unreadable, of another
model), a config key or value, a command-line option, a dataset tree. The command-line tools print
their message on one line and exit non-zero, without a traceback (``--debug`` shows it); any other
exception is a bug and keeps its traceback.
"""

__all__ = ["UserError", "ConfigError", "CheckpointError", "DataError", "UnreadableFileError"]


class UserError(Exception):
    """A mistake in what the user gave; the message says what is wrong and where."""


class ConfigError(UserError):
    """A config file, key, override or value that cannot be used."""


class CheckpointError(UserError):
    """A checkpoint that is missing, unreadable, refused, corrupt or of another model."""


class DataError(UserError):
    """A dataset or input file that is missing, incomplete or holds unexpected values."""


class UnreadableFileError(DataError, OSError):
    """An image or label file that exists but cannot be decoded (damaged, or not an image at all)."""
