"""A validated columnar container of weighted, labelled events.

An :class:`EventSet` holds named float64 feature columns, one weight per event,
a process label per event and optional extra columns (truth information,
production modes, ...).  Every constructor validates its input at the boundary:
missing or unexpected columns, non-numeric dtypes, NaN or infinite values,
length mismatches and unknown process names raise a
:class:`~unbinned.exceptions.SchemaError` or :class:`~unbinned.exceptions.DataError`
that says what is wrong, where, and how to fix it.

Negative weights are legal (NLO generators produce them): they are kept,
counted and reported by :meth:`EventSet.summary`, never dropped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from unbinned._io import atomic_path
from unbinned.data.schema import PROCESS_COLUMN, WEIGHT_COLUMN
from unbinned.exceptions import DataError, SchemaError

__all__ = ["EventSet", "EventSummary", "ProcessSummary"]

_META_KEY = b"unbinned.eventset"


def _show(names: Iterable[str], limit: int = 8) -> str:
    names = list(names)
    text = ", ".join(repr(n) for n in names[:limit])
    return text + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _check_finite(values: npt.NDArray[np.float64], what: str, fix: str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise DataError(
            f"{what} has {rows.size} NaN or infinite value(s), first at row {int(rows[0])} "
            f"(value {values[rows[0]]!r}); expected finite numbers. Fix: {fix}"
        )


def _as_float_column(values: Any, name: str) -> npt.NDArray[np.float64]:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise SchemaError(f"column {name!r} has shape {arr.shape}; expected one value per event")
    if arr.dtype.kind not in "biuf":
        raise SchemaError(
            f"column {name!r} has dtype {arr.dtype}; expected a numeric (int, float or bool) "
            "column. Fix: convert it (e.g. df[col].astype(float)) or pass it as an extra column"
        )
    return arr.astype(np.float64, copy=False)


@dataclass(frozen=True)
class ProcessSummary:
    """Counts and weight sums of one process in an :class:`EventSet`."""

    name: str
    n_events: int
    sum_weights: float
    n_negative: int
    sum_negative: float


@dataclass(frozen=True)
class EventSummary:
    """Per-process event counts and weight sums, negative weights included."""

    n_events: int
    n_features: int
    sum_weights: float
    processes: tuple[ProcessSummary, ...]

    @property
    def n_negative(self) -> int:
        """Number of events with a negative weight."""
        return sum(p.n_negative for p in self.processes)

    def __repr__(self) -> str:
        lines = [
            f"EventSummary: {self.n_events} events, {self.n_features} features, "
            f"sum of weights {self.sum_weights:.6g}",
            f"  {'process':<14}{'events':>10}{'sum w':>14}{'neg. w':>9}{'sum neg. w':>13}",
        ]
        for p in self.processes:
            lines.append(
                f"  {p.name:<14}{p.n_events:>10}{p.sum_weights:>14.6g}"
                f"{p.n_negative:>9}{p.sum_negative:>13.4g}"
            )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{p.name}</td><td>{p.n_events}</td><td>{p.sum_weights:.6g}</td>"
            f"<td>{p.n_negative}</td><td>{p.sum_negative:.4g}</td></tr>"
            for p in self.processes
        )
        return (
            f"<p>{self.n_events} events, {self.n_features} features, "
            f"sum of weights {self.sum_weights:.6g}</p><table><tr><th>process</th>"
            "<th>events</th><th>sum w</th><th>neg. w</th><th>sum neg. w</th></tr>"
            f"{rows}</table>"
        )


@dataclass(frozen=True, eq=False, repr=False)
class EventSet:
    """Weighted events with named features and process labels.

    Parameters
    ----------
    features
        One float64 column per feature, one row per event.
    weights
        Per-event weights (float64); negative values are allowed.
    process_codes
        Per-event index into ``process_names``.
    process_names
        The names of the processes, in a fixed order.
    extras
        Optional other per-event columns (any dtype), carried along by
        :meth:`select` and :meth:`to_pandas` but never used as features.

    Examples
    --------
    >>> import numpy as np
    >>> from unbinned.data import EventSet
    >>> ev = EventSet.from_numpy(np.zeros((3, 2)), feature_names=("a", "b"),
    ...                          processes=np.array(["sig", "bkg", "bkg"]))
    >>> ev.yields()
    {'sig': 1.0, 'bkg': 2.0}
    """

    features: pd.DataFrame
    weights: npt.NDArray[np.float64]
    process_codes: npt.NDArray[np.int32]
    process_names: tuple[str, ...]
    extras: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __post_init__(self) -> None:
        n = len(self.features)
        names = list(self.features.columns)
        if len(set(names)) != len(names):
            dup = sorted({c for c in names if names.count(c) > 1})
            raise SchemaError(f"duplicate feature column(s) {_show(dup)}; names must be unique")
        for name in names:
            if not isinstance(name, str):
                raise SchemaError(f"feature column name {name!r} is not a string")
            _check_finite(
                self.features[name].to_numpy(),
                f"feature column {name!r}",
                "drop or impute those rows first (e.g. df.dropna()), or mark missing values "
                "with a finite sentinel such as -25",
            )
        for what, arr in (("weights", self.weights), ("process codes", self.process_codes)):
            if arr.shape != (n,):
                raise DataError(
                    f"{what} have shape {arr.shape} but there are {n} events; "
                    "expected one entry per event"
                )
        _check_finite(
            self.weights, "the weights", "remove those events or fix their weights upstream"
        )
        if len(self.extras.columns) and len(self.extras) != n:
            raise DataError(
                f"extra columns have {len(self.extras)} rows but there are {n} events; "
                "expected one row per event"
            )
        clash = set(self.extras.columns) & set(names)
        if clash:
            raise SchemaError(f"column(s) {_show(sorted(clash))} are both features and extras")
        if len(set(self.process_names)) != len(self.process_names):
            raise SchemaError(f"process names {self.process_names} are not unique")
        if n and (
            self.process_codes.min() < 0 or self.process_codes.max() >= len(self.process_names)
        ):
            raise DataError("process codes out of range of process_names")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_numpy(
        cls,
        features: npt.ArrayLike,
        weights: npt.ArrayLike | None = None,
        processes: npt.ArrayLike | None = None,
        *,
        feature_names: Sequence[str],
        process_names: Sequence[str] | None = None,
        extras: Mapping[str, npt.ArrayLike] | pd.DataFrame | None = None,
    ) -> EventSet:
        """Build from a 2D feature array.

        Parameters
        ----------
        features
            Array of shape (n_events, n_features).
        weights
            Per-event weights; ones when omitted.
        processes
            Per-event process names (strings) or integer codes into
            ``process_names``; a single process ``"data"`` when omitted.
        feature_names
            Names of the feature columns, in the order of ``features``' columns.
        process_names
            The allowed process names in a fixed order; inferred (order of first
            appearance) from string labels when omitted. Required with integer codes.
        extras
            Other per-event columns.
        """
        x = np.asarray(features)
        if x.ndim != 2:
            raise SchemaError(
                f"features have shape {x.shape}; expected a 2D array (n_events, n_features)"
            )
        names = tuple(feature_names)
        if x.shape[1] != len(names):
            raise SchemaError(
                f"features have {x.shape[1]} columns but {len(names)} feature names were given"
            )
        frame = pd.DataFrame(
            {name: _as_float_column(x[:, j], name) for j, name in enumerate(names)}
        )
        codes, pnames = cls._encode_processes(processes, len(frame), process_names)
        w = cls._weights(weights, len(frame))
        extra = extras if isinstance(extras, pd.DataFrame) else pd.DataFrame(dict(extras or {}))
        return cls(frame, w, codes, pnames, extra.reset_index(drop=True))

    @classmethod
    def from_pandas(
        cls,
        df: pd.DataFrame,
        *,
        feature_columns: Sequence[str] | None = None,
        weight_column: str | None = WEIGHT_COLUMN,
        process_column: str | None = PROCESS_COLUMN,
        extra_columns: Sequence[str] = (),
        process_names: Sequence[str] | None = None,
        strict: bool = False,
    ) -> EventSet:
        """Build from a ``pandas.DataFrame``.

        Parameters
        ----------
        df
            One row per event.
        feature_columns
            The feature columns, in order. Default: every column that is not the
            weight, process or an extra column (``labels`` is treated as extra).
        weight_column, process_column
            Names of the weight and process-label columns; ``None`` (or a column
            absent from ``df`` when it is the default name) gives unit weights /
            a single process ``"data"``.
        extra_columns
            Columns carried along but not used as features. Absent ones are an error.
        process_names
            Allowed process names in a fixed order; labels outside it are an error.
        strict
            If true, any column that is neither a feature, the weight, the
            process nor an extra column is an error instead of being ignored.
        """
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"expected a pandas.DataFrame, got {type(df).__name__}")
        columns = list(df.columns)
        special = {c for c in (weight_column, process_column) if c is not None}
        if feature_columns is None:
            auto_extra = {"labels"} if "labels" in columns and "labels" not in special else set()
            extras_set = set(extra_columns) | auto_extra
            extra_columns = [c for c in columns if c in extras_set]
            feature_columns = [c for c in columns if c not in special and c not in extras_set]
        wanted = list(feature_columns) + list(extra_columns)
        missing = [c for c in wanted if c not in df.columns]
        if weight_column is not None and weight_column != WEIGHT_COLUMN:
            missing += [weight_column] if weight_column not in df.columns else []
        if process_column is not None and process_column != PROCESS_COLUMN:
            missing += [process_column] if process_column not in df.columns else []
        if missing:
            raise SchemaError(
                f"missing column(s) {_show(missing)}; the frame has {_show(columns)}. "
                "Fix: add them, or pass feature_columns=/extra_columns= naming the ones present"
            )
        if strict:
            unexpected = [c for c in columns if c not in set(wanted) | special]
            if unexpected:
                raise SchemaError(
                    f"unexpected column(s) {_show(unexpected)}; expected only "
                    f"{_show(wanted + sorted(special))}. Fix: drop them or pass strict=False"
                )
        frame = pd.DataFrame({c: _as_float_column(df[c].to_numpy(), c) for c in feature_columns})
        n = len(frame) if len(feature_columns) else len(df)
        weights = (
            df[weight_column].to_numpy()
            if weight_column is not None and weight_column in df.columns
            else None
        )
        labels = (
            df[process_column].to_numpy()
            if process_column is not None and process_column in df.columns
            else None
        )
        codes, pnames = cls._encode_processes(labels, n, process_names)
        extras = df[list(extra_columns)].reset_index(drop=True)
        return cls(frame, cls._weights(weights, n), codes, pnames, extras)

    @classmethod
    def from_arrow(cls, table: pa.Table, **kwargs: Any) -> EventSet:
        """Build from a ``pyarrow.Table``; keyword arguments as :meth:`from_pandas`."""
        meta = (table.schema.metadata or {}).get(_META_KEY)
        if meta is not None and "process_names" not in kwargs:
            kwargs["process_names"] = json.loads(meta)["process_names"]
        return cls.from_pandas(table.to_pandas(), **kwargs)

    @classmethod
    def read_parquet(cls, path: str | os.PathLike[str], **kwargs: Any) -> EventSet:
        """Read a parquet file (pyarrow); keyword arguments as :meth:`from_pandas`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no parquet file at {str(path)!r}")
        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises several types for corrupt files
            raise DataError(f"cannot read {str(path)!r} as parquet: {exc}") from exc
        return cls.from_arrow(table, **kwargs)

    @classmethod
    def read_root(
        cls,
        path: str | os.PathLike[str],
        tree: str,
        *,
        branches: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> EventSet:
        """Read a flat ROOT TTree with uproot (the ``root`` extra).

        Parameters
        ----------
        path, tree
            File and tree name.
        branches
            Branches to read (default: all); keyword arguments as :meth:`from_pandas`.
        """
        try:
            import uproot
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise ImportError(
                "reading ROOT files needs uproot: pip install 'unbinned[root]'"
            ) from exc
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no ROOT file at {str(path)!r}")
        with uproot.open(path) as f:
            if tree not in f:
                raise SchemaError(
                    f"{str(path)!r} has no tree {tree!r}; it holds {_show(f.keys(cycle=False))}"
                )
            arrays = f[tree].arrays(branches, library="np")
        df = pd.DataFrame({k: np.asarray(v) for k, v in arrays.items()})
        for col in df.columns:
            if df[col].dtype.kind in "SO":
                df[col] = df[col].map(lambda v: v.decode() if isinstance(v, bytes) else v)
        return cls.from_pandas(df, **kwargs)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _weights(weights: npt.ArrayLike | None, n: int) -> npt.NDArray[np.float64]:
        if weights is None:
            return np.ones(n)
        w = np.asarray(weights)
        if w.dtype.kind not in "biuf":
            raise SchemaError(f"weights have dtype {w.dtype}; expected numbers")
        if w.shape != (n,):
            raise DataError(f"weights have shape {w.shape}; expected ({n},), one per event")
        return w.astype(np.float64, copy=True)

    @staticmethod
    def _encode_processes(
        labels: npt.ArrayLike | None, n: int, process_names: Sequence[str] | None
    ) -> tuple[npt.NDArray[np.int32], tuple[str, ...]]:
        if labels is None:
            names = tuple(process_names) if process_names is not None else ("data",)
            if len(names) != 1:
                raise SchemaError(
                    f"no process labels given but process_names={names}; "
                    "pass per-event labels or a single process name"
                )
            return np.zeros(n, dtype=np.int32), names
        arr = np.asarray(labels)
        if arr.shape != (n,):
            raise DataError(f"process labels have shape {arr.shape}; expected ({n},)")
        if arr.dtype.kind in "iu":
            if process_names is None:
                raise SchemaError("integer process codes need process_names=")
            names = tuple(process_names)
            if n and (arr.min() < 0 or arr.max() >= len(names)):
                raise DataError(
                    f"process codes span [{arr.min()}, {arr.max()}]; expected 0..{len(names) - 1}"
                )
            return arr.astype(np.int32), names
        arr = arr.astype(str)
        uniq, first = np.unique(arr, return_index=True)
        seen = tuple(str(u) for u in uniq[np.argsort(first)])
        if process_names is None:
            names = seen
        else:
            names = tuple(process_names)
            unknown = [s for s in seen if s not in names]
            if unknown:
                raise SchemaError(
                    f"unknown process name(s) {_show(unknown)}; expected one of {_show(names)}. "
                    "Fix: relabel them or extend process_names"
                )
        lookup = {name: i for i, name in enumerate(names)}
        inverse = np.searchsorted(uniq, arr)
        code_of_uniq = np.array([lookup[str(u)] for u in uniq], dtype=np.int32)
        return code_of_uniq[inverse] if n else np.zeros(0, np.int32), names

    # ------------------------------------------------------------------ accessors
    def __len__(self) -> int:
        return len(self.features)

    @property
    def n_events(self) -> int:
        """Number of events."""
        return len(self.features)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the feature columns, in order."""
        return tuple(self.features.columns)

    @property
    def process_labels(self) -> npt.NDArray[np.str_]:
        """Per-event process names."""
        return np.asarray(self.process_names, dtype=str)[self.process_codes]

    @property
    def sum_weights(self) -> float:
        """Sum of all weights."""
        return float(self.weights.sum())

    def process_mask(self, name: str) -> npt.NDArray[np.bool_]:
        """Boolean mask of the events of process ``name``."""
        if name not in self.process_names:
            raise SchemaError(f"unknown process {name!r}; this set has {_show(self.process_names)}")
        return np.asarray(self.process_codes == self.process_names.index(name))

    def feature_array(
        self, names: Sequence[str] | None = None, dtype: npt.DTypeLike = np.float64
    ) -> npt.NDArray[Any]:
        """Return the features as an (n_events, n_features) array in the order ``names``.

        A name that is not a feature column raises a :class:`SchemaError` naming it.
        """
        names = self.feature_names if names is None else tuple(names)
        missing = [c for c in names if c not in self.features.columns]
        if missing:
            raise SchemaError(
                f"missing feature column(s) {_show(missing)}; this set has "
                f"{_show(self.feature_names)}"
            )
        return self.features[list(names)].to_numpy(dtype=dtype)

    def yields(self) -> dict[str, float]:
        """Sum of weights per process."""
        sums = np.bincount(
            self.process_codes, weights=self.weights, minlength=len(self.process_names)
        )
        return {name: float(s) for name, s in zip(self.process_names, sums, strict=True)}

    def summary(self) -> EventSummary:
        """Counts and weight sums per process, negative weights reported separately."""
        procs = []
        for i, name in enumerate(self.process_names):
            w = self.weights[self.process_codes == i]
            neg = w[w < 0]
            procs.append(
                ProcessSummary(name, int(w.size), float(w.sum()), int(neg.size), float(neg.sum()))
            )
        return EventSummary(len(self), len(self.feature_names), self.sum_weights, tuple(procs))

    # ------------------------------------------------------------------ transforms
    def select(self, mask: npt.ArrayLike) -> EventSet:
        """Return the events where ``mask`` (booleans or integer indices) selects."""
        idx = np.asarray(mask)
        if idx.dtype == bool and idx.shape != (len(self),):
            raise DataError(f"mask has shape {idx.shape}; expected ({len(self)},)")
        extras = (
            self.extras.iloc[idx].reset_index(drop=True)
            if len(self.extras.columns)
            else self.extras
        )
        return EventSet(
            self.features.iloc[idx].reset_index(drop=True),
            self.weights[idx],
            self.process_codes[idx],
            self.process_names,
            extras,
        )

    def chunks(self, size: int) -> Iterator[EventSet]:
        """Consecutive slices of at most ``size`` events (to bound per-event memory)."""
        if not isinstance(size, int) or size < 1:
            raise DataError(f"chunk size {size!r}; expected a positive integer")
        for start in range(0, len(self), size):
            yield self.select(np.arange(start, min(start + size, len(self))))

    def for_process(self, name: str) -> EventSet:
        """The events of one process."""
        return self.select(self.process_mask(name))

    def with_weights(self, weights: npt.ArrayLike) -> EventSet:
        """A copy with new weights."""
        return EventSet(
            self.features, self._weights(weights, len(self)), self.process_codes,
            self.process_names, self.extras,
        )  # fmt: skip

    def with_features(self, features: pd.DataFrame) -> EventSet:
        """A copy with new feature columns (same events)."""
        frame = pd.DataFrame(
            {str(c): _as_float_column(features[c].to_numpy(), str(c)) for c in features}
        )
        return EventSet(frame, self.weights, self.process_codes, self.process_names, self.extras)

    @classmethod
    def concat(cls, sets: Sequence[EventSet]) -> EventSet:
        """Concatenate event sets with the same features; process names are merged."""
        if not sets:
            raise DataError("nothing to concatenate: pass at least one EventSet")
        names = sets[0].feature_names
        for s in sets[1:]:
            if s.feature_names != names:
                raise SchemaError(
                    f"feature columns differ: {_show(s.feature_names)} vs {_show(names)}"
                )
        pnames: list[str] = []
        for s in sets:
            pnames += [p for p in s.process_names if p not in pnames]
        labels = np.concatenate([s.process_labels for s in sets])
        codes, _ = cls._encode_processes(labels, len(labels), pnames)
        return cls(
            pd.concat([s.features for s in sets], ignore_index=True),
            np.concatenate([s.weights for s in sets]),
            codes,
            tuple(pnames),
            pd.concat([s.extras for s in sets], ignore_index=True),
        )

    # ------------------------------------------------------------------ output
    def to_pandas(self) -> pd.DataFrame:
        """Features, ``weights``, ``detailed_labels`` and the extra columns in one frame."""
        out = self.features.copy()
        out[WEIGHT_COLUMN] = self.weights
        out[PROCESS_COLUMN] = self.process_labels
        for c in self.extras.columns:
            out[c] = self.extras[c].to_numpy()
        return out

    def to_arrow(self) -> pa.Table:
        """A ``pyarrow.Table`` of :meth:`to_pandas`, with the process order in its metadata."""
        table = pa.Table.from_pandas(self.to_pandas(), preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[_META_KEY] = json.dumps({"process_names": list(self.process_names)}).encode()
        return table.replace_schema_metadata(meta)

    def to_parquet(self, path: str | os.PathLike[str]) -> Path:
        """Write to parquet atomically (a temporary file renamed into place)."""
        with atomic_path(path) as tmp:
            pq.write_table(self.to_arrow(), tmp)
        return Path(path)

    def __repr__(self) -> str:
        parts = ", ".join(f"{k} {v:.4g}" for k, v in self.yields().items())
        return (
            f"EventSet({len(self)} events, {len(self.feature_names)} features, "
            f"sum of weights per process: {parts})"
        )
