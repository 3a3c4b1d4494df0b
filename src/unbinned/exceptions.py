"""The exceptions of unbinned, in one place.

Every error raised for bad user input derives from :class:`UnbinnedError` and
from the matching builtin (``ValueError`` for a wrong value, ``TypeError`` for a
wrong type, ``OSError`` for files), so callers can catch either.  Messages name
the bad value, what was expected and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "FitError",
    "ModelFileError",
    "OutOfRangeWarning",
    "SchemaError",
    "TrainingWarning",
    "UnbinnedError",
]


class UnbinnedError(Exception):
    """Base class of every error raised by unbinned."""


class SchemaError(UnbinnedError, ValueError):
    """Event data lacks, duplicates or mislabels columns, or has the wrong dtype."""


class DataError(UnbinnedError, ValueError):
    """Event data has invalid values: NaN or infinite entries, length mismatch, no events."""


class ConfigError(UnbinnedError, ValueError):
    """A configuration or model declaration is invalid."""


class ModelFileError(UnbinnedError, OSError):
    """A model file is missing, corrupt, tampered with or from an incompatible version."""


class FitError(UnbinnedError, RuntimeError):
    """A fit failed to converge to a valid minimum after every retry."""


class OutOfRangeWarning(UserWarning):
    """A parameter lies outside the range a surrogate was trained on."""


class TrainingWarning(UserWarning):
    """A network was trained for too few optimiser steps to be trusted."""
