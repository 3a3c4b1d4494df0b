"""Input preprocessing of the networks: standardisation and missing-value indicators.

A :class:`FeatureTransform` maps raw event features (float64, in the model's
feature order) to the network input (float32 by default):

1. Optional ``log1p`` of heavy-tailed non-negative columns (momenta, masses).
2. Standardisation ``(x - mean) / scale`` with mean and standard deviation
   estimated on the *present* values only (a -25 marker never enters them).
3. Missing values: each :class:`MissingGroup` (e.g. "has a leading jet") is
   decided by the marker in one key column; where the group is absent, every
   column of the group (pt, eta, phi, and for the subleading jet the four dijet
   ``DER_*`` features) is set to 0, the neutral value after standardisation
   (the mean of the present values), and one indicator input per group (1 present,
   0 absent) is appended.  The network thus sees "no jet" through the
   indicator and never sees the artificial -25.

For the challenge features the groups are ``n_jets >= 1`` (key
``PRI_jet_leading_pt``) and ``n_jets >= 2`` (key ``PRI_jet_subleading_pt``),
see :func:`default_missing_groups`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from unbinned.data.events import EventSet
from unbinned.data.schema import MISSING
from unbinned.exceptions import ConfigError, DataError, SchemaError

__all__ = [
    "CHALLENGE_LOG_FEATURES",
    "FeatureTransform",
    "MissingGroup",
    "default_log_features",
    "default_missing_groups",
    "feature_matrix",
    "feature_view",
]

FloatArray = npt.NDArray[np.float64]

CHALLENGE_LOG_FEATURES: tuple[str, ...] = (
    "PRI_lep_pt",
    "PRI_had_pt",
    "PRI_jet_leading_pt",
    "PRI_jet_subleading_pt",
    "PRI_jet_all_pt",
    "PRI_met",
    "DER_mass_transverse_met_lep",
    "DER_mass_vis",
    "DER_pt_h",
    "DER_mass_jet_jet",
    "DER_pt_tot",
    "DER_sum_pt",
    "DER_pt_ratio_lep_had",
)
"""Challenge features given a log1p before standardisation (non-negative, heavy tails)."""


@dataclass(frozen=True)
class MissingGroup:
    """Columns that are all missing together, decided by a marker in ``key``.

    Parameters
    ----------
    name
        Name of the indicator input (e.g. ``"has_jet1"``).
    key
        Column whose value equals the marker exactly when the group is absent.
    columns
        Columns set to the neutral value when the group is absent (``key`` included).
    """

    name: str
    key: str
    columns: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"name": self.name, "key": self.key, "columns": list(self.columns)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MissingGroup:
        """Inverse of :meth:`to_dict`."""
        return cls(str(data["name"]), str(data["key"]), tuple(str(c) for c in data["columns"]))


def default_missing_groups(feature_names: Sequence[str]) -> tuple[MissingGroup, ...]:
    """The challenge's jet groups restricted to ``feature_names`` (empty for other features)."""
    names = set(feature_names)
    groups = []
    jet1 = ("PRI_jet_leading_pt", "PRI_jet_leading_eta", "PRI_jet_leading_phi")
    jet2 = (
        "PRI_jet_subleading_pt",
        "PRI_jet_subleading_eta",
        "PRI_jet_subleading_phi",
        "DER_deltaeta_jet_jet",
        "DER_mass_jet_jet",
        "DER_prodeta_jet_jet",
        "DER_lep_eta_centrality",
    )
    for name, cols in (("has_jet1", jet1), ("has_jet2", jet2)):
        if cols[0] in names:
            groups.append(MissingGroup(name, cols[0], tuple(c for c in cols if c in names)))
    return tuple(groups)


def default_log_features(feature_names: Sequence[str]) -> tuple[str, ...]:
    """The members of :data:`CHALLENGE_LOG_FEATURES` present in ``feature_names``."""
    return tuple(c for c in feature_names if c in CHALLENGE_LOG_FEATURES)


@dataclass(frozen=True, eq=False)
class FeatureTransform:
    """Standardisation with missing-value indicators (see the module docstring).

    Build with :meth:`fit`; apply with :meth:`__call__`.  ``n_outputs`` is the
    number of features plus one indicator per missing group.
    """

    feature_names: tuple[str, ...]
    mean: FloatArray
    scale: FloatArray
    log_features: tuple[str, ...] = ()
    missing_groups: tuple[MissingGroup, ...] = ()
    missing_value: float = MISSING

    def __post_init__(self) -> None:
        f = len(self.feature_names)
        if self.mean.shape != (f,) or self.scale.shape != (f,):
            raise ConfigError(
                f"standardisation has mean {self.mean.shape} and scale {self.scale.shape}; "
                f"expected ({f},) each for {f} features"
            )
        if not (np.isfinite(self.mean).all() and np.isfinite(self.scale).all()):
            raise ConfigError("standardisation mean and scale must be finite")
        if (self.scale <= 0).any():
            raise ConfigError("standardisation scales must be > 0")
        known = set(self.feature_names)
        for col in self.log_features:
            if col not in known:
                raise ConfigError(f"log feature {col!r} is not among the features")
        for g in self.missing_groups:
            bad = [c for c in (g.key, *g.columns) if c not in known]
            if bad:
                raise ConfigError(f"missing group {g.name!r} names unknown column(s) {bad}")

    @property
    def n_features(self) -> int:
        """Number of raw feature columns."""
        return len(self.feature_names)

    @property
    def n_outputs(self) -> int:
        """Number of network inputs: features plus indicators."""
        return len(self.feature_names) + len(self.missing_groups)

    @property
    def output_names(self) -> tuple[str, ...]:
        """Names of the network inputs."""
        return self.feature_names + tuple(g.name for g in self.missing_groups)

    @classmethod
    def fit(
        cls,
        x: npt.ArrayLike,
        feature_names: Sequence[str],
        *,
        log_features: Sequence[str] | None = None,
        missing_groups: Sequence[MissingGroup] | None = None,
        missing_value: float = MISSING,
    ) -> FeatureTransform:
        """Estimate mean and scale of every column on its present values.

        Parameters
        ----------
        x
            Raw features, shape (N, F), columns in ``feature_names`` order.
        feature_names
            Column names.
        log_features, missing_groups
            Default: :func:`default_log_features` and :func:`default_missing_groups`
            of the names (the challenge's conventions; nothing for other names).
        missing_value
            The marker of an absent value (-25 in the challenge).
        """
        names = tuple(feature_names)
        arr = np.asarray(x, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != len(names):
            raise DataError(f"x has shape {arr.shape}; expected (N, {len(names)})")
        if arr.shape[0] < 2:
            raise DataError(f"need at least 2 events to standardise, got {arr.shape[0]}")
        logs = default_log_features(names) if log_features is None else tuple(log_features)
        groups = default_missing_groups(names) if missing_groups is None else tuple(missing_groups)
        proto = cls(names, np.zeros(len(names)), np.ones(len(names)), logs, groups, missing_value)
        pre, present = proto._pre(arr)
        mean = np.zeros(len(names))
        scale = np.ones(len(names))
        for j in range(len(names)):
            col = pre[present[:, j], j]
            if col.size >= 2:
                mean[j] = col.mean()
                sd = col.std()
                scale[j] = sd if sd > 1e-12 * max(1.0, abs(mean[j])) and np.isfinite(sd) else 1.0
        return cls(names, mean, scale, logs, groups, missing_value)

    def _pre(self, arr: FloatArray) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
        """Log-transformed values and the per-entry presence mask (before standardisation)."""
        pre = arr.copy()
        present = np.ones(arr.shape, dtype=bool)
        index = {c: j for j, c in enumerate(self.feature_names)}
        for g in self.missing_groups:
            absent = arr[:, index[g.key]] == self.missing_value
            for c in g.columns:
                present[:, index[c]] &= ~absent
        for c in self.log_features:
            j = index[c]
            pre[:, j] = np.log1p(np.maximum(arr[:, j], 0.0))
        return pre, present

    def __call__(self, x: npt.ArrayLike, dtype: npt.DTypeLike = np.float32) -> npt.NDArray[Any]:
        """Network inputs for raw features ``x`` (N, F): shape (N, n_outputs), ``dtype``.

        Computed in ``dtype`` (float32 by default, the networks' precision).
        """
        arr = np.asarray(x)
        if arr.dtype not in (np.float32, np.float64):
            arr = arr.astype(np.float64)
        if arr.ndim != 2 or arr.shape[1] != self.n_features:
            raise DataError(
                f"features have shape {arr.shape}; expected (N, {self.n_features}) in the order "
                f"{list(self.feature_names)[:4]}..."
            )
        f = self.n_features
        out = np.empty((arr.shape[0], self.n_outputs), dtype=dtype)
        feat = out[:, :f]
        feat[...] = arr
        index = self._index()
        if self.log_features:
            cols = [index[c] for c in self.log_features]
            feat[:, cols] = np.log1p(np.maximum(feat[:, cols], 0.0))
        feat -= self.mean.astype(out.dtype)
        feat *= (1.0 / self.scale).astype(out.dtype)
        for i, g in enumerate(self.missing_groups):
            absent = arr[:, index[g.key]] == self.missing_value
            out[:, f + i] = ~absent
            rows = np.flatnonzero(absent)
            if rows.size:
                group_cols = np.array([index[c] for c in g.columns], dtype=np.intp)
                out[np.ix_(rows, group_cols)] = 0.0
        return out

    def _index(self) -> dict[str, int]:
        return {c: j for j, c in enumerate(self.feature_names)}

    def select(
        self, columns: Mapping[str, Any] | Any, names: Sequence[str] | None = None
    ) -> FloatArray:
        """Pick the model's features by name from a frame/EventSet (see :func:`feature_matrix`)."""
        return feature_matrix(columns, self.feature_names, names)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (floats round-trip exactly)."""
        return {
            "feature_names": list(self.feature_names),
            "mean": [float(v) for v in self.mean],
            "scale": [float(v) for v in self.scale],
            "log_features": list(self.log_features),
            "missing_groups": [g.to_dict() for g in self.missing_groups],
            "missing_value": float(self.missing_value),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureTransform:
        """Inverse of :meth:`to_dict`; malformed input raises ConfigError."""
        try:
            return cls(
                tuple(str(c) for c in data["feature_names"]),
                np.asarray(data["mean"], dtype=np.float64),
                np.asarray(data["scale"], dtype=np.float64),
                tuple(str(c) for c in data["log_features"]),
                tuple(MissingGroup.from_dict(g) for g in data["missing_groups"]),
                float(data["missing_value"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"malformed feature transform description: {exc!r}") from exc

    def __repr__(self) -> str:
        return (
            f"FeatureTransform({self.n_features} features, {len(self.log_features)} log, "
            f"indicators {[g.name for g in self.missing_groups]})"
        )


def feature_matrix(
    data: Any,
    feature_names: Sequence[str],
    names: Sequence[str] | None = None,
    dtype: npt.DTypeLike = np.float64,
) -> npt.NDArray[Any]:
    """Select ``feature_names`` from ``data`` by name, as a float64 (N, F) array.

    Parameters
    ----------
    data
        An :class:`~unbinned.data.EventSet`, a ``pandas.DataFrame`` (columns picked by
        name, extra columns ignored, order irrelevant) or a 2D array whose column
        names are given by ``names``.
    feature_names
        The names the model expects, in its order.
    names
        Column names of an array ``data``; required for arrays.  They must be the
        model's names in the model's order: a missing, unexpected or reordered
        column raises a :class:`SchemaError` naming it.
    dtype
        Floating type of the result.
    """
    wanted = list(feature_names)
    if isinstance(data, EventSet):
        have = list(data.feature_names)
        _check_missing(wanted, have)
        return data.feature_array(wanted, dtype=dtype)
    if hasattr(data, "columns") and hasattr(data, "to_numpy"):  # a pandas DataFrame
        have = [str(c) for c in data.columns]
        _check_missing(wanted, have)
        return np.asarray(data[wanted].to_numpy(dtype=dtype))
    arr = np.asarray(data, dtype=dtype)
    if names is None:
        raise SchemaError(
            "an array has no column names; pass feature_names= (the names of its columns, "
            f"expected {_short(wanted)}) or an EventSet / DataFrame"
        )
    given = [str(n) for n in names]
    if arr.ndim != 2 or arr.shape[1] != len(given):
        raise SchemaError(f"array of shape {arr.shape} does not match {len(given)} column names")
    _check_missing(wanted, given)
    extra = [c for c in given if c not in wanted]
    if extra:
        raise SchemaError(
            f"unexpected column(s) {_short(extra)} in the array; the model expects exactly "
            f"{_short(wanted)}. Fix: drop them or pass a DataFrame (selected by name)"
        )
    if given != wanted:
        moved = [c for i, c in enumerate(given) if wanted[i] != c]
        raise SchemaError(
            f"columns are reordered: {_short(moved)} are not where the model expects them "
            f"(expected order {_short(wanted)}). Fix: reorder the array, or pass an EventSet "
            "or DataFrame so that columns are selected by name"
        )
    return arr


def feature_view(
    data: Any, feature_names: Sequence[str], names: Sequence[str] | None = None
) -> tuple[npt.NDArray[Any], npt.NDArray[np.intp] | None]:
    """Like :func:`feature_matrix`, without copying when possible.

    Returns ``(base, columns)``: the model's features are ``base[:, columns]`` (all of
    ``base`` when ``columns`` is None).  For an EventSet or DataFrame whose columns form
    one float block, ``base`` is a view of it, so that callers can select the columns
    batch by batch instead of copying the whole table.
    """
    frame = data.features if isinstance(data, EventSet) else data
    if hasattr(frame, "columns") and hasattr(frame, "to_numpy"):
        have = [str(c) for c in frame.columns]
        _check_missing(list(feature_names), have)
        kinds = set(frame.dtypes)
        # Only a table of one float type converts without a copy: to_numpy() of a frame
        # that also holds text columns builds an object array of everything (≈ 4 s for
        # 10⁶ simulated events), so such a frame goes through the column selection.
        if len(kinds) != 1 or kinds.pop() not in (np.float32, np.float64):
            return feature_matrix(data, feature_names, names), None
        base = frame.to_numpy()
        if base.dtype in (np.float32, np.float64):
            pos = {c: j for j, c in enumerate(have)}
            cols = np.array([pos[c] for c in feature_names], dtype=np.intp)
            if np.array_equal(cols, np.arange(base.shape[1])):
                return base, None
            return base, cols
    return feature_matrix(data, feature_names, names), None


def _short(names: Sequence[str], limit: int = 8) -> str:
    text = ", ".join(repr(n) for n in names[:limit])
    return text + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _check_missing(wanted: Sequence[str], have: Sequence[str]) -> None:
    present = set(have)
    missing = [c for c in wanted if c not in present]
    if missing:
        raise SchemaError(
            f"missing feature column(s) {_short(missing)}; the model was trained on "
            f"{len(wanted)} features {_short(list(wanted))}. Fix: provide them (e.g. recompute "
            "the DER_* features with unbinned.sim.derived.compute_derived)"
        )
