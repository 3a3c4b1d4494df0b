"""Loader for the FAIR Universe HiggsML challenge format (parquet + metadata JSON).

The challenge stores one row per event with the 16 ``PRI_*`` and 12 ``DER_*``
features, ``weights`` (expected events at the stated luminosity), ``labels``
(1 = signal) and ``detailed_labels`` (htautau, ztautau, ttbar, diboson), next to
a ``<stem>_metadata.json`` with the row and column counts, the sum of weights
and the luminosity in fb^-1 (DESIGN.md §1).  :func:`load_challenge` validates
the columns, checks the metadata against the data and recomputes every DER
feature from the PRI ones, reporting the largest deviation per feature.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from unbinned.data.derived import compute_derived
from unbinned.data.events import EventSet
from unbinned.data.schema import (
    DER_FEATURES,
    FEATURES,
    LABEL_COLUMN,
    PRI_FEATURES,
    PROCESS_COLUMN,
    PROCESSES,
    SIGNAL_PROCESSES,
    WEIGHT_COLUMN,
)
from unbinned.exceptions import DataError, SchemaError

__all__ = [
    "CHALLENGE_COLUMNS",
    "SAMPLE_DATA_ENV",
    "SAMPLE_FILE",
    "ChallengeData",
    "ConsistencyCheck",
    "find_sample_data",
    "load_challenge",
    "to_challenge_frame",
]

SAMPLE_DATA_ENV: Final = "UNBINNED_SAMPLE_DATA"
"""Environment variable naming the folder of the real sample."""

SAMPLE_FILE: Final = "FAIR_Universe_HiggsML_sample.parquet"
"""File name of the real 1000-event sample."""

CHALLENGE_COLUMNS: Final[tuple[str, ...]] = (
    *PRI_FEATURES,
    WEIGHT_COLUMN,
    PROCESS_COLUMN,
    LABEL_COLUMN,
    *DER_FEATURES,
)
"""The 31 columns in the order the challenge stores them."""

_REQUIRED: Final[tuple[str, ...]] = (*FEATURES, WEIGHT_COLUMN, LABEL_COLUMN, PROCESS_COLUMN)
_REL_TOL: Final = 1e-5


def find_sample_data() -> Path | None:
    """Locate the folder holding the real FAIR Universe sample.

    Looks, in order, in ``$UNBINNED_SAMPLE_DATA``, in ``<repo>/../shared/data``
    next to the package source (a source checkout) and in ``../shared/data``
    relative to the working directory.

    Returns
    -------
    pathlib.Path or None
        The first folder containing ``FAIR_Universe_HiggsML_sample.parquet``, or
        None when there is none.
    """
    candidates: list[Path] = []
    env = os.environ.get(SAMPLE_DATA_ENV)
    if env:
        candidates.append(Path(env).expanduser())
    here = Path(__file__).resolve()
    if len(here.parents) > 3:  # src/unbinned/data/challenge.py -> repository root
        candidates.append(here.parents[3].parent / "shared" / "data")
    candidates.append(Path.cwd().parent / "shared" / "data")
    for folder in candidates:
        if (folder / SAMPLE_FILE).is_file():
            return folder
    return None


@dataclass(frozen=True)
class ConsistencyCheck:
    """One comparison of the metadata (or the labels) with the data."""

    name: str
    passed: bool
    detail: str

    def __repr__(self) -> str:
        return f"[{'ok' if self.passed else 'FAILED'}] {self.name}: {self.detail}"


@dataclass(frozen=True, repr=False)
class ChallengeData:
    """A challenge-format file, validated, with its metadata and DER cross-check.

    Attributes
    ----------
    frame
        The data as stored (31 columns, dtypes unchanged).
    metadata
        The metadata JSON as a dict (empty when no file was found).
    checks
        Consistency of metadata and labels with the data; failures are reported
        here rather than raised (see :attr:`problems`).
    der_max_deviation
        Per DER feature, the largest absolute difference between the stored value
        and the one recomputed from the PRI features.
    der_worst
        The DER feature with the largest deviation, and that deviation.
    path
        The parquet file read.
    """

    frame: pd.DataFrame
    metadata: dict[str, Any]
    checks: tuple[ConsistencyCheck, ...]
    der_max_deviation: dict[str, float]
    der_worst: tuple[str, float]
    path: Path

    @property
    def problems(self) -> tuple[ConsistencyCheck, ...]:
        """The failed checks."""
        return tuple(c for c in self.checks if not c.passed)

    @property
    def luminosity(self) -> float | None:
        """Integrated luminosity in fb^-1 from the metadata, if stated."""
        value = self.metadata.get("luminosity")
        return float(value) if isinstance(value, int | float) else None

    @property
    def events(self) -> EventSet:
        """The data as an :class:`~unbinned.data.events.EventSet` (28 features)."""
        known = set(self.frame[PROCESS_COLUMN].astype(str)) <= set(PROCESSES)
        return EventSet.from_pandas(
            self.frame,
            feature_columns=FEATURES,
            weight_column=WEIGHT_COLUMN,
            process_column=PROCESS_COLUMN,
            extra_columns=(LABEL_COLUMN,),
            process_names=PROCESSES if known else None,
        )

    def _summary_lines(self) -> list[str]:
        name, dev = self.der_worst
        lumi = self.luminosity
        head = (
            f"ChallengeData({len(self.frame)} events from {self.path.name}"
            + (f", {lumi:g} fb^-1" if lumi is not None else "")
            + f", sum of weights {float(self.frame[WEIGHT_COLUMN].sum()):.7g})"
        )
        counts = self.frame[PROCESS_COLUMN].astype(str).value_counts()
        procs = ", ".join(f"{p} {int(n)}" for p, n in counts.items())
        failed = self.problems
        checks = (
            f"all {len(self.checks)} metadata checks passed"
            if not failed
            else f"{len(failed)} of {len(self.checks)} checks FAILED: "
            + "; ".join(f"{c.name} ({c.detail})" for c in failed)
        )
        return [
            head,
            f"  events per process: {procs}",
            f"  DER recomputed from PRI: worst {name}, max |deviation| {dev:.3g}",
            f"  {checks}",
        ]

    def __repr__(self) -> str:
        lines = self._summary_lines()
        lines.append("  max |stored - recomputed| per DER feature:")
        lines += [f"    {k:<30}{v:.3g}" for k, v in self.der_max_deviation.items()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "<br>".join(self._summary_lines())
        rows = "".join(
            f"<tr><td>{k}</td><td>{v:.3g}</td></tr>" for k, v in self.der_max_deviation.items()
        )
        return (
            f"<p>{head}</p><table><tr><th>DER feature</th><th>max |deviation|</th></tr>"
            f"{rows}</table>"
        )


def _validate(frame: pd.DataFrame, path: Path) -> None:
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{path.name} lacks the challenge column(s) {missing}; expected the 28 features, "
            f"{WEIGHT_COLUMN!r}, {LABEL_COLUMN!r} and {PROCESS_COLUMN!r}. Fix: point to a "
            "FAIR Universe HiggsML file or add the columns"
        )
    for c in (*FEATURES, WEIGHT_COLUMN, LABEL_COLUMN):
        values = frame[c].to_numpy()
        if values.dtype.kind not in "biuf":
            raise SchemaError(
                f"column {c!r} of {path.name} has dtype {frame[c].dtype}; expected numbers"
            )
        bad = ~np.isfinite(values.astype(np.float64, copy=False))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"column {c!r} of {path.name} has {int(bad.sum())} NaN or infinite value(s), "
                f"first at row {row} ({values[row]!r}); expected finite numbers. Fix: drop "
                "or repair those events"
            )


def _checks(frame: pd.DataFrame, metadata: dict[str, Any]) -> tuple[ConsistencyCheck, ...]:
    out: list[ConsistencyCheck] = []

    def add(name: str, passed: bool, detail: str) -> None:
        out.append(ConsistencyCheck(name, bool(passed), detail))

    labels = frame[PROCESS_COLUMN].astype(str).to_numpy()
    unknown = sorted(set(labels.tolist()) - set(PROCESSES))
    add(
        "known processes",
        not unknown,
        f"unknown detailed_labels {unknown}" if unknown else f"all in {list(PROCESSES)}",
    )
    signal = np.isin(labels, list(SIGNAL_PROCESSES))
    wrong = int(np.count_nonzero((frame[LABEL_COLUMN].to_numpy() == 1) != signal))
    add(
        "labels match detailed_labels",
        wrong == 0,
        f"{wrong} event(s) with labels != (detailed_labels == htautau)" if wrong else "consistent",
    )
    if not metadata:
        add("metadata", False, "no metadata file found")
        return tuple(out)
    if "total_rows" in metadata:
        rows = metadata["total_rows"]
        add("total_rows", rows == len(frame), f"metadata {rows}, data {len(frame)}")
    if "total_columns" in metadata:
        cols = metadata["total_columns"]
        add("total_columns", cols == frame.shape[1], f"metadata {cols}, data {frame.shape[1]}")
    if "columns" in metadata:
        listed = [str(c) for c in metadata["columns"]]
        have = [str(c) for c in frame.columns]
        same = listed == have
        detail = "same names and order"
        if not same:
            detail = (
                f"only in metadata {sorted(set(listed) - set(have))}, only in data "
                f"{sorted(set(have) - set(listed))}"
                + ("; order differs" if set(listed) == set(have) else "")
            )
        add("columns", same, detail)
    if "sum_weights" in metadata:
        stated = float(metadata["sum_weights"])
        actual = float(frame[WEIGHT_COLUMN].to_numpy(dtype=np.float64).sum())
        ok = math.isclose(stated, actual, rel_tol=_REL_TOL)
        add("sum_weights", ok, f"metadata {stated:.9g}, data {actual:.9g} (rel. tol. {_REL_TOL})")
    if "detailed_labels" in metadata:
        stated_set = {str(p) for p in metadata["detailed_labels"]}
        have_set = set(labels.tolist())
        add(
            "detailed_labels",
            stated_set == have_set,
            f"metadata {sorted(stated_set)}, data {sorted(have_set)}",
        )
    return tuple(out)


def _der_deviation(frame: pd.DataFrame) -> dict[str, float]:
    recomputed = compute_derived({c: frame[c].to_numpy() for c in PRI_FEATURES})
    out: dict[str, float] = {}
    for name in DER_FEATURES:
        stored = frame[name].to_numpy(dtype=np.float64)
        diff = np.abs(stored - recomputed[name])
        out[name] = float(diff.max()) if diff.size else 0.0
    return out


def load_challenge(
    parquet_path: str | os.PathLike[str],
    metadata_path: str | os.PathLike[str] | None = None,
) -> ChallengeData:
    """Read a challenge-format parquet file and its metadata, validated.

    Parameters
    ----------
    parquet_path
        The parquet file (31 columns, one row per event).
    metadata_path
        The metadata JSON; by default ``<stem>_metadata.json`` next to the parquet
        file, silently absent if it does not exist (a failed ``metadata`` check).

    Returns
    -------
    ChallengeData

    Raises
    ------
    FileNotFoundError
        The parquet file, or an explicitly given metadata file, does not exist.
    SchemaError
        Required columns are missing or not numeric.
    DataError
        The file cannot be read, a value is NaN or infinite, or the metadata is not
        a JSON object.

    Examples
    --------
    >>> from unbinned.data.challenge import find_sample_data, load_challenge
    >>> real = load_challenge(find_sample_data() / "FAIR_Universe_HiggsML_sample.parquet")
    ... # doctest: +SKIP
    >>> real.der_worst  # doctest: +SKIP
    """
    path = Path(parquet_path)
    if not path.is_file():
        raise FileNotFoundError(f"no challenge parquet file at {str(path)!r}")
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise DataError(f"cannot read {str(path)!r} as parquet: {exc}") from exc
    _validate(frame, path)

    explicit = metadata_path is not None
    meta_path = (
        Path(metadata_path)
        if metadata_path is not None
        else path.with_name(f"{path.stem}_metadata.json")
    )
    metadata: dict[str, Any] = {}
    if meta_path.is_file():
        try:
            loaded = json.loads(meta_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"metadata {str(meta_path)!r} is not valid JSON: {exc}") from exc
        if not isinstance(loaded, dict):
            raise DataError(
                f"metadata {str(meta_path)!r} holds a {type(loaded).__name__}; "
                "expected a JSON object"
            )
        metadata = loaded
    elif explicit:
        raise FileNotFoundError(f"no metadata file at {str(meta_path)!r}")

    deviation = _der_deviation(frame)
    worst = max(deviation, key=lambda k: deviation[k])
    return ChallengeData(
        frame=frame,
        metadata=metadata,
        checks=_checks(frame, metadata),
        der_max_deviation=deviation,
        der_worst=(worst, deviation[worst]),
        path=path,
    )


def to_challenge_frame(events: EventSet, *, dtype: npt.DTypeLike = np.float64) -> pd.DataFrame:
    """Write an :class:`~unbinned.data.events.EventSet` as a 31-column challenge frame.

    Parameters
    ----------
    events
        Events whose features include the 16 ``PRI_*`` columns.  ``DER_*``
        features are taken as they are, or computed when absent.
    dtype
        Float dtype of the numeric columns (the challenge stores float32).

    Returns
    -------
    pandas.DataFrame
        The columns of :data:`CHALLENGE_COLUMNS`, in that order: features,
        ``weights``, ``detailed_labels`` (the process names) and ``labels`` =
        1 for signal (htautau), 0 otherwise.
    """
    if not isinstance(events, EventSet):
        raise TypeError(f"events must be an EventSet, got {type(events).__name__}")
    feats = events.features
    missing = [c for c in PRI_FEATURES if c not in feats.columns]
    if missing:
        raise SchemaError(
            f"the events lack the PRI feature(s) {missing}; a challenge frame needs all 16. "
            "Fix: build the EventSet from challenge-format data"
        )
    float_dtype = np.dtype(dtype)
    if float_dtype.kind != "f":
        raise TypeError(f"dtype {float_dtype} is not a float dtype; use float32 or float64")
    derived: dict[str, npt.NDArray[np.float64]] = {}
    if any(c not in feats.columns for c in DER_FEATURES):
        derived = compute_derived({c: feats[c].to_numpy() for c in PRI_FEATURES})
    labels = events.process_labels
    signal = np.isin(labels, list(SIGNAL_PROCESSES))
    columns: dict[str, Any] = {}
    for name in CHALLENGE_COLUMNS:
        if name == WEIGHT_COLUMN:
            columns[name] = events.weights.astype(float_dtype)
        elif name == PROCESS_COLUMN:
            columns[name] = labels.astype(object)
        elif name == LABEL_COLUMN:
            columns[name] = signal.astype(float_dtype)
        elif name in feats.columns:
            columns[name] = feats[name].to_numpy(dtype=float_dtype)
        else:
            columns[name] = derived[name].astype(float_dtype)
    return pd.DataFrame(columns)
