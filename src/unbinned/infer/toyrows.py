"""The row a toy task returns: its required columns, its checks, and the frame of rows.

A task (:data:`ToyTask`) returns one flat row per seed: a mapping of names to JSON
scalars that holds at least :data:`REQUIRED_COLUMNS`; ``error`` is reserved for the
failure rows :func:`unbinned.infer.toys.run_toys` records when a task raises.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from unbinned.exceptions import DataError

__all__ = [
    "FLOAT_COLUMNS",
    "REQUIRED_COLUMNS",
    "ToyTask",
    "check_row",
    "failure_row",
    "rows_frame",
]

ToyTask = Callable[[int], Mapping[str, Any]]
"""One pseudo-experiment: ``task(seed) -> row`` (see :mod:`unbinned.infer.toys`)."""

REQUIRED_COLUMNS = ("seed", "mu_true", "mu_hat", "p16", "p84", "valid")
"""The keys every row of a task must have."""

FLOAT_COLUMNS = ("mu_true", "mu_hat", "p16", "p84")
"""The required columns that hold floats (NaN in a failure row)."""

_MAX_ERROR_CHARS = 2000


def _scalar(key: str, value: Any) -> Any:
    """A JSON scalar from a task's value (numpy scalars unwrapped), or TypeError."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(
        f"toy task returned {type(value).__name__} for {key!r}; rows must be flat: "
        "every value a number, bool, string or None (store arrays in separate columns)"
    )


def check_row(out: Any, seed: int) -> dict[str, Any]:
    """Check what a task returned for ``seed`` against the row contract; return the row.

    Numpy scalars are unwrapped, the float columns made floats and ``error`` set to
    None.  A mapping that breaks the contract raises (TypeError for a wrong type,
    :class:`~unbinned.exceptions.DataError` for a missing or reserved key or a wrong
    seed).
    """
    if not isinstance(out, Mapping):
        raise TypeError(
            f"toy task returned {type(out).__name__} for seed {seed}; it must return a mapping "
            f"with at least the keys {list(REQUIRED_COLUMNS)}"
        )
    missing = [k for k in REQUIRED_COLUMNS if k not in out]
    if missing:
        raise DataError(
            f"toy task row for seed {seed} lacks {missing}; a row needs {list(REQUIRED_COLUMNS)}"
        )
    if "error" in out:
        raise DataError("toy task rows must not use the key 'error': it is reserved for failures")
    row: dict[str, Any] = {}
    for key, value in out.items():
        if not isinstance(key, str):
            raise TypeError(f"toy task row keys must be strings, got {key!r}")
        row[key] = _scalar(key, value)
    if row["seed"] != seed or isinstance(row["seed"], bool):
        raise DataError(f"toy task for seed {seed} returned seed {row['seed']!r}; return the seed")
    if not isinstance(row["valid"], bool):
        raise TypeError(f"toy task 'valid' must be a bool, got {row['valid']!r}")
    for key in FLOAT_COLUMNS:
        v = row[key]
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise TypeError(f"toy task {key!r} must be a number, got {v!r}")
        row[key] = float(v)
    row["error"] = None
    return row


def failure_row(seed: int, exc: Exception) -> dict[str, Any]:
    """The row recording that the task of ``seed`` raised ``exc`` (``valid`` false, NaNs)."""
    message = f"{type(exc).__name__}: {exc}"
    if len(message) > _MAX_ERROR_CHARS:
        message = message[: _MAX_ERROR_CHARS - 3] + "..."
    row: dict[str, Any] = {"seed": seed, **dict.fromkeys(FLOAT_COLUMNS, math.nan)}
    row.update(valid=False, error=message)
    return row


def rows_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The rows as a DataFrame: :data:`REQUIRED_COLUMNS`, the tasks' own columns, ``error``.

    Without rows the required columns still have their dtypes.
    """
    columns = list(REQUIRED_COLUMNS)
    for row in rows:
        columns += [k for k in row if k not in columns and k != "error"]
    columns.append("error")
    df = pd.DataFrame.from_records(list(rows), columns=columns)
    if not rows:
        df = df.astype({"seed": "int64", "valid": "bool", **dict.fromkeys(FLOAT_COLUMNS, "f8")})
    return df
