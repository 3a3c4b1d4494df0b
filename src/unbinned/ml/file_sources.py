r"""Shape variations from the user's files: a :class:`VariationSource` of variation points.

A :class:`FileVariationSource` serves the nominal samples of a
:class:`~unbinned.data.FileSamples` and, at each :class:`VariationPoint`, the
varied samples, taken from

* **files** made at that point (e.g. ``signal_jes_up.parquet``): their weights
  must be normalised like the nominal ones (cross-section × luminosity), so that
  their sum is the varied yield.  The events may be the same generated events as
  the nominal ones (give ``FileSamples(event_id=...)``) or independent ones;
* a **weight column** of the nominal files (``weight``: the event's whole weight
  at that point, e.g. a renormalisation-scale or PDF weight; it replaces the
  samples' weight column) or a **factor column** (``factor``: multiplies the
  samples' weight column): the same events, reweighted;
* **both**: ``files`` with a ``weight`` or ``factor`` column -- the events of the
  point's files, reweighted by the column read from those same files (the
  ``weight`` column then holds each varied event's weight at the point, the
  ``factor`` column multiplies the files' own weight).  This is the mixed point a
  file-based and a weight-based nuisance need together, e.g. ``at={"jes": 1.02,
  "mu_r": 2.0}`` with the ``jes = 1.02`` files and ``weight="weight_muR_up"``.

A process a point's files do not list is unaffected by the files at that point:
its nominal events serve (reweighted by the point's column, read from the nominal
files, when the point has one).  Points lie at physical nuisance values
(``at={"jes": 1.02}``, the other nuisances nominal, or several at once for a
mixed point), standardised by the :class:`~unbinned.ml.ShapeNuisance`
(ν = (value − nominal)/scale); a value outside the nuisance's bounds is an error.

What the points can constrain
-----------------------------
The responses are quadratic in ν: φ(ν) = (ν_a, ν_a ν_b) has d + d(d+1)/2
monomials for d shape nuisances, and the training needs at least as many
varied points (:attr:`FileVariationSource.design` is exactly the nominal and the
provided points; nothing is interpolated or invented).  So:

* one nuisance at ±1σ (two points) determines the linear and the quadratic
  term, exactly -- an interpolation through ν = -1, 0, +1 that is also what the
  fit extrapolates beyond ±1σ, so a larger range needs points there (±2σ, ...);
  a one-sided variation (+1σ alone) cannot determine the quadratic term: add the
  other side or a second point on the same side;
* d ≥ 2 nuisances at ±1σ each give 2d points, fewer than the d + d(d+1)/2
  monomials: the cross terms ν_a ν_b need points where two nuisances vary
  together (one per pair, e.g. ``at={"a": +1σ, "b": +1σ}``); without them the
  construction fails with an error naming the point to add.  For a nuisance
  from files and one from a weight column that point is the files of the first
  with the column of the second (see above).  It is not derived silently: it
  assumes the column means the same on the varied events, and which of the
  combinations (±1σ × ±1σ) fixes the cross term is the analysis's choice.

Closure: the events varied at arbitrary ν exist only at the provided points, so
the workflow's closure plots use, per nuisance, its provided axis point farthest
from nominal (:meth:`FileVariationSource.closure_point`); with only the points
the networks were trained on, this tests the fit at those points, not the
interpolation between them.  When there are points to spare (more than the
quadratic response's monomials), the workflow's validation also trains the
responses once per point with that point held out and compares them there
(:func:`unbinned.ml.leave_one_out_closure`); ±1σ alone leaves none to spare.
Pseudo-experiments at arbitrary ν likewise cannot be drawn from the files: the
workflow draws them at the nominal shape (the normalisation nuisances from their
priors) or at a provided point.

A function instead of files
---------------------------
A :class:`CallableVariationSource` varies the nominal events with a Python
function, ``function(frame, **nuisance values) -> varied frame`` or per-event
weights, as the challenge's systematics do: the events then exist at *every* ν,
so the usual design trains the responses, and closure tests and
pseudo-experiments work at any ν.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from unbinned.data.callables import accepts_keyword, check_keywords, load_callable
from unbinned.data.events import EventSet
from unbinned.data.files import FileSamples, check_variation_keys, column_names, expand_files
from unbinned.exceptions import ConfigError, DataError
from unbinned.ml.design import Design, ShapeNuisance
from unbinned.ml.sources import EVENT_ID, BaseVariationSource, Region, _check_nu, _point_seed
from unbinned.ml.yields import n_monomials

__all__ = ["CallableVariationSource", "FileVariationSource", "VariationPoint"]

FloatArray = npt.NDArray[np.float64]
_PROCESS = "__process__"
_OPTIONAL = ("seed", "process")
"""Keywords a variation function gets when its signature takes them."""
_ID_OFFSET = 1 << 40
"""Independent variation files: point k's events get ids (k + 1) · 2⁴⁰ + row."""


@dataclass(frozen=True)
class VariationPoint:
    """The varied samples at one point of the shape nuisances (see the module docstring).

    Parameters
    ----------
    at
        Nuisance name -> physical value at this point (the others nominal).
    files
        The files made at this point: process -> files (a process left out keeps
        its nominal events), or the shared files when the samples have a label
        column.
    weight
        A column holding each event's whole weight at this point (it replaces the
        samples' weight column), read from the point's files, or from the nominal
        files without ``files``.
    factor
        Instead of ``weight``: a column multiplying the samples' weight column,
        read from the same events.
    """

    at: Mapping[str, float]
    files: Mapping[str, Sequence[str]] | Sequence[str] | None = None
    weight: str | None = None
    factor: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.at, Mapping) or not self.at:
            raise ConfigError(f"a variation point needs at: {{nuisance: value}}, got {self.at!r}")
        object.__setattr__(self, "at", {str(k): float(v) for k, v in self.at.items()})
        check_variation_keys(self.at, self.files, self.weight, self.factor)
        if isinstance(self.files, str):
            object.__setattr__(self, "files", (self.files,))

    @property
    def column(self) -> str | None:
        """The weight or factor column, or None for files."""
        return self.weight if self.weight is not None else self.factor

    def describe(self) -> str:
        """``"jes=1.02"``: the point's values."""
        return ", ".join(f"{k}={v:g}" for k, v in self.at.items())


class _SamplesSource(BaseVariationSource):
    """What both sources of file samples share: the samples, nuisances and region."""

    samples: FileSamples
    _nuisances: tuple[ShapeNuisance, ...]
    _region: Region

    def _declare(
        self, samples: FileSamples, nuisances: Sequence[ShapeNuisance], region: str | None
    ) -> list[str]:
        """Set the samples, nuisances (names unique) and region; return the nuisance names."""
        if not isinstance(samples, FileSamples):
            raise TypeError(f"samples must be a FileSamples, got {type(samples).__name__}")
        self.samples = samples
        self._nuisances = tuple(nuisances)
        names = [n.name for n in self._nuisances]
        if len(set(names)) != len(names):
            raise ConfigError(f"shape nuisances {names} are not unique")
        self._region_name = region
        self._region = Region(region or "inclusive", samples.region_selection(region))
        return names

    @property
    def processes(self) -> tuple[str, ...]:
        """Process names (as declared in the samples)."""
        return self.samples.process_names

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The feature columns."""
        return tuple(self.samples.features)

    @property
    def nuisances(self) -> tuple[ShapeNuisance, ...]:
        """The shape nuisances."""
        return self._nuisances

    @property
    def region(self) -> Region:
        """The region and its full selection."""
        return self._region


class FileVariationSource(_SamplesSource):
    """Nominal and varied samples from files and weight columns (see the module docstring).

    Parameters
    ----------
    samples
        The nominal samples.
    nuisances
        The shape nuisances, in order (their nominal, scale and bounds).
    points
        The variation points (at least one per nuisance).
    region
        The region of ``samples`` the analysis uses (None: the common selection only).

    Examples
    --------
    >>> from unbinned.ml import ShapeNuisance
    >>> src = FileVariationSource(samples, [ShapeNuisance("escale", 1.0, 0.02, 0.9, 1.1)],
    ...     [VariationPoint({"escale": 0.98}, files={"sig": ["sig_down.parquet"]}),
    ...      VariationPoint({"escale": 1.02}, files={"sig": ["sig_up.parquet"]})])
    ...  # doctest: +SKIP
    """

    def __init__(
        self,
        samples: FileSamples,
        nuisances: Sequence[ShapeNuisance],
        points: Sequence[VariationPoint],
        *,
        region: str | None = None,
    ) -> None:
        names = self._declare(samples, nuisances, region)
        self._points = tuple(points)
        self._nu = self._standardised(names)
        self._design = self._checked_design(names)
        self._check_files()
        # the nominal events carry the columns of the points without files; a point
        # with files reads its column from them (and from the nominal files of the
        # processes they leave out, when it reads them)
        columns = sorted({c for p in self._points if p.files is None and (c := p.column)})
        self._columns = tuple(columns)
        self._nominal_all = samples.load(region, columns=columns)
        self._varied_cache: dict[int, EventSet] = {}

    # ------------------------------------------------------------------ checks
    def _standardised(self, names: list[str]) -> FloatArray:
        """The points in standardised ν, shape (K, d); values checked against the bounds."""
        rows = []
        for point in self._points:
            unknown = [k for k in point.at if k not in names]
            if unknown:
                raise ConfigError(
                    f"variation at {point.describe()}: unknown nuisance(s) {unknown}; "
                    f"the shape nuisances are {names}"
                )
            row = np.zeros(len(names))
            for a, n in enumerate(self._nuisances):
                value = point.at.get(n.name, n.nominal)
                if not (math.isfinite(value) and n.low <= value <= n.high):
                    raise ConfigError(
                        f"variation at {point.describe()}: {n.name}={value:g} lies outside the "
                        f"nuisance's bounds [{n.low:g}, {n.high:g}]; fix the value or the bounds"
                    )
                row[a] = float(n.standardize(value))
            if not np.any(row != 0.0):
                raise ConfigError(
                    f"variation at {point.describe()} is the nominal point; the nominal "
                    "samples are the FileSamples' own files"
                )
            rows.append(row)
        nu = np.array(rows, dtype=np.float64).reshape(-1, len(names))
        if len({tuple(r) for r in nu.tolist()}) != len(nu):
            raise ConfigError("two variation points are at the same nuisance values")
        return nu

    def _checked_design(self, names: list[str]) -> Design:
        if not names:
            raise ConfigError("a FileVariationSource needs at least one shape nuisance")
        for a, name in enumerate(names):
            if not np.any(self._nu[:, a] != 0.0):
                raise ConfigError(f"shape nuisance {name!r} has no variation point; add one")
        missing = [
            (a, b)
            for a in range(len(names))
            for b in range(a + 1, len(names))
            if not np.any((self._nu[:, a] != 0.0) & (self._nu[:, b] != 0.0))
        ]
        if missing:
            pairs = " nor ".join(f"{names[a]} and {names[b]}" for a, b in missing)
            add = "; and ".join(self._mixed_point(a, b) for a, b in missing)
            raise ConfigError(
                f"no variation point varies {pairs} together, so the cross term of the "
                f"quadratic response is undetermined: add the point {add}"
            )
        design = Design(np.vstack([np.zeros((1, len(names))), self._nu]), tuple(names))
        m = n_monomials(len(names))
        if len(self._nu) < m:
            raise ConfigError(
                f"{len(self._nu)} variation points cannot determine the {m} coefficients of the "
                f"quadratic response in {len(names)} nuisance(s) {names}: add points -- a "
                "second point per nuisance, and for two or more nuisances one point per pair "
                "where both vary (at: {a: value, b: value}) for the cross terms"
            )
        try:
            design.check()
        except ConfigError as exc:
            raise ConfigError(f"the variation points: {exc}") from None
        return design

    def _on_axis(self, a: int) -> VariationPoint | None:
        """The provided point of nuisance ``a`` alone farthest from nominal (+ preferred)."""
        others = np.delete(self._nu, a, axis=1)
        ks = [k for k in range(len(self._points)) if self._nu[k, a] != 0.0 and not others[k].any()]
        if not ks:
            return None
        return self._points[max(ks, key=lambda k: (abs(self._nu[k, a]), self._nu[k, a] > 0))]

    def _mixed_point(self, a: int, b: int) -> str:
        """The point to add for the cross term of nuisances a and b, in words (one line)."""
        na, nb = self._nuisances[a], self._nuisances[b]
        pa, pb = self._on_axis(a), self._on_axis(b)
        va = pa.at[na.name] if pa is not None else float(na.physical(1.0))
        vb = pb.at[nb.name] if pb is not None else float(nb.physical(1.0))
        at = f"{{at: {{{na.name}: {va:g}, {nb.name}: {vb:g}}}"
        by_files = [(n, v, q) for n, v, q in ((na, va, pa), (nb, vb, pb)) if q and q.files]
        by_column = [(n, v, q) for n, v, q in ((na, va, pa), (nb, vb, pb)) if q and q.column]
        if len(by_files) == 1 and len(by_column) == 1 and by_column[0][2].files is None:
            (fn, fv, _), (_, _, cq) = by_files[0], by_column[0]
            return (
                f"{at}, files: <the files of the {fn.name}={fv:g} point>, "
                f"{_kind(cq)}: {cq.column}}} (the {fn.name}={fv:g} events reweighted by "
                f"{cq.column!r}, which those files must carry)"
            )
        if by_column and not by_files:
            return f"{at}, weight: <a column with each event's weight at both values>}}"
        return f"{at}, files: <files made at both values>}}"

    def _check_files(self) -> None:
        for point in self._points:
            if point.files is None:
                continue
            what = f"variation at {point.describe()}"
            if isinstance(point.files, Mapping):
                unknown = [p for p in point.files if p not in self.samples.process_names]
                if unknown:
                    raise ConfigError(
                        f"{what}: unknown process(es) {unknown}; declared: "
                        f"{list(self.samples.process_names)}"
                    )
                paths = [
                    path
                    for p, patterns in point.files.items()
                    for path in expand_files(list(patterns), self.samples.base_dir, f"{what} {p!r}")
                ]
            else:
                if self.samples.label_column is None:
                    raise ConfigError(
                        f"{what}: files must map process -> files (the samples have no label "
                        "column)"
                    )
                paths = expand_files(list(point.files), self.samples.base_dir, what)
            col = point.column
            if col is None:
                continue
            for path in paths:
                if col not in column_names(path, self.samples.tree):
                    raise DataError(
                        f"{what}: {str(path)!r} lacks the {_kind(point)} column {col!r}; a point "
                        "with files reads it from its own files (the events it reweights): add "
                        "it to the file"
                    )

    # ------------------------------------------------------------------ protocol
    @property
    def design(self) -> Design:
        """The nominal point and the provided points: the design the responses train on."""
        return self._design

    @property
    def points(self) -> FloatArray:
        """The provided variation points in standardised ν, shape (K, d)."""
        return self._nu.copy()

    def closure_point(self, axis: int) -> FloatArray | None:
        """The provided point on nuisance ``axis`` alone farthest from nominal (+ preferred)."""
        others = np.delete(self._nu, axis, axis=1)
        on_axis = self._nu[np.all(others == 0.0, axis=1) & (self._nu[:, axis] != 0.0)]
        if not len(on_axis):
            return None
        best = max(on_axis.tolist(), key=lambda r: (abs(r[axis]), r[axis] > 0))
        return np.asarray(best, dtype=np.float64)

    def generated_ids(self, process: str) -> npt.NDArray[np.int64]:
        """Ids of the nominal events and of every point's events of the process."""
        self._check_process(process)
        ids = [self._ids(self._nominal_process(process, None))]
        for k in range(len(self._points)):
            ids.append(self._ids(self._point_events(k).for_process(process)))
        return np.unique(np.concatenate(ids))

    @staticmethod
    def _ids(ev: EventSet) -> npt.NDArray[np.int64]:
        return ev.extras[EVENT_ID].to_numpy(np.int64)

    def _nominal_process(self, process: str, event_ids: npt.ArrayLike | None) -> EventSet:
        ev = self._nominal_all.for_process(process)
        if event_ids is None:
            return ev
        return ev.select(np.isin(self._ids(ev), np.asarray(event_ids)))

    def varied(
        self, process: str, nu: npt.ArrayLike, *, event_ids: npt.ArrayLike | None = None
    ) -> EventSet:
        """The samples of the process at ν, which must be a provided point (or nominal)."""
        self._check_process(process)
        arr = np.asarray(nu, dtype=np.float64)
        if arr.shape != (len(self._nuisances),):
            raise DataError(
                f"nu={arr.tolist()} must have one value per nuisance "
                f"{[n.name for n in self._nuisances]}"
            )
        if not np.any(arr != 0.0):
            return self._nominal_process(process, event_ids)
        match = np.flatnonzero(np.all(np.abs(self._nu - arr) <= 1e-9, axis=1))
        if not len(match):
            raise DataError(
                f"no varied samples at nu={arr.tolist()}: file-based variations exist only at "
                f"their points {self._nu.tolist()} (standardised); use one of them"
            )
        ev = self._point_events(int(match[0])).for_process(process)
        if event_ids is None:
            return ev
        return ev.select(np.isin(self._ids(ev), np.asarray(event_ids)))

    def _point_events(self, k: int) -> EventSet:
        """Every process's events at point k (read once, then cached)."""
        if k not in self._varied_cache:
            self._varied_cache[k] = self._read_point(k)
        return self._varied_cache[k]

    def _read_point(self, k: int) -> EventSet:
        point = self._points[k]
        what = f"variation at {point.describe()}"
        nominal = self._nominal_all
        if point.files is None:
            return _reweighted(nominal, point, what)
        files = point.files
        listed = list(files) if isinstance(files, Mapping) else list(self.processes)
        columns = [c for c in (point.column,) if c is not None]
        ev = self.samples.load(
            self._region_name, files=files, processes=listed, columns=columns, what=what
        )
        ev = _reweighted(ev, point, what)
        if self.samples.event_id is None:
            ids = self._ids(ev) + (k + 1) * _ID_OFFSET
            extras = ev.extras.copy()
            extras[EVENT_ID] = ids
            ev = EventSet(ev.features, ev.weights, ev.process_codes, ev.process_names, extras)
        unaffected = [p for p in self.processes if p not in listed]
        if unaffected:
            if columns:  # their nominal events, reweighted by the point's column
                rest_all = self.samples.load(
                    self._region_name,
                    processes=unaffected,
                    columns=columns,
                    what=f"{what} (nominal events of {unaffected})",
                )
                rest_all = _reweighted(rest_all, point, what)
            else:
                rest_all = nominal
            keep = list(ev.extras.columns)
            rest = [
                EventSet(r.features, r.weights, r.process_codes, r.process_names, r.extras[keep])
                for r in (rest_all.for_process(p) for p in unaffected)
            ]
            ev = EventSet.concat([ev, *rest])
        return ev

    def __repr__(self) -> str:
        counts = ", ".join(f"{p.name}={p.n_events}" for p in self._nominal_all.summary().processes)
        return (
            f"FileVariationSource(nominal events {counts}; {len(self._points)} variation "
            f"points of {[n.name for n in self._nuisances]})"
        )


def _kind(point: VariationPoint) -> str:
    return "weight" if point.weight is not None else "factor"


def _reweighted(ev: EventSet, point: VariationPoint, what: str) -> EventSet:
    """The events reweighted by the point's weight or factor column (none: as they are)."""
    col = point.column
    if col is None:
        return ev
    values = ev.extras[col].to_numpy()
    if values.dtype.kind not in "biuf":
        raise DataError(
            f"{what}: the {_kind(point)} column {col!r} has dtype {values.dtype}; expected numbers"
        )
    values = values.astype(np.float64)
    w = values if point.weight is not None else ev.weights * values
    bad = np.flatnonzero(~np.isfinite(w))
    if bad.size:
        raise DataError(
            f"{what}: the column {col!r} has {bad.size} NaN or infinite value(s) among "
            "the selected events; fix it upstream"
        )
    return ev.with_weights(w)


class CallableVariationSource(_SamplesSource):
    r"""Nominal samples from files, varied to any ν by a Python function (module docstring).

    The function varies the events as the challenge's systematics do:
    ``function(frame, **values)`` gets one process's events *before* the
    selection (a DataFrame with the feature, weight and selection columns,
    ``columns`` and ``event_id``) and the physical value of every shape nuisance
    as a keyword (``escale=1.02``); it also gets ``seed=`` (fixed by the source's
    seed, the process and ν, so a point is reproducible) and ``process=`` when its
    signature takes them.  It returns either

    * a DataFrame of the varied events that keeps the ``event_id`` column (rows
      may be dropped; the features and, if it changes them, the weights varied),
    * or a 1-D array of the events' weights at ν, one per row (the events
      themselves unchanged: scale or PDF weights).

    The common selection and the region are applied afterwards, so events migrate
    across the cuts.  The nominal samples are the files as they are (the function
    at the nominal values must leave the events unchanged).  Because the events
    exist at every ν, the training uses the usual design
    (:func:`~unbinned.ml.default_design`), and closure tests and pseudo-experiments
    work at any ν.

    Parameters
    ----------
    samples
        The nominal samples.
    nuisances
        The shape nuisances the function varies, in order.
    function
        The function (or its dotted path ``"package.module:function"``).
    region
        The region of ``samples`` the analysis uses (None: the common selection only).
    columns
        More columns of the files the function reads.
    seed
        Base seed handed to the function (when it takes ``seed``).

    Examples
    --------
    >>> def vary(frame, escale):
    ...     out = frame.copy()
    ...     out["mass"] = escale * out["mass"]
    ...     return out
    >>> src = CallableVariationSource(samples, [ShapeNuisance("escale", 1.0, 0.02, 0.9, 1.1)],
    ...                               vary)  # doctest: +SKIP
    >>> src.varied("signal", [1.5])  # escale = 1.03  # doctest: +SKIP
    """

    def __init__(
        self,
        samples: FileSamples,
        nuisances: Sequence[ShapeNuisance],
        function: Callable[..., Any] | str,
        *,
        region: str | None = None,
        columns: Sequence[str] = (),
        seed: int = 0,
    ) -> None:
        names = self._declare(samples, nuisances, region)
        if not names:
            raise ConfigError("a CallableVariationSource needs at least one shape nuisance")
        key = "function"
        fn = load_callable(function, key=key) if isinstance(function, str) else function
        if not callable(fn):
            raise ConfigError(f"{key}: expected a function, got {type(fn).__name__}")
        check_keywords(fn, names, key=key, optional=_OPTIONAL)
        self.function = fn
        self._takes = {k: accepts_keyword(fn, k) for k in _OPTIONAL}
        self.seed = int(seed)
        self._columns = tuple(c for c in columns if c not in samples.features)
        self._raw = samples.frames(region, columns=self._columns)
        self._label = getattr(fn, "__qualname__", repr(fn))
        self._nominal_cache: dict[str, EventSet] = {}

    def generated_ids(self, process: str) -> npt.NDArray[np.int64]:
        """Ids of every event of the process in the files (selected or not)."""
        self._check_process(process)
        return self._raw[process][EVENT_ID].to_numpy(np.int64)

    def _raw_of(self, process: str, event_ids: npt.ArrayLike | None) -> pd.DataFrame:
        raw = self._raw[process]
        if event_ids is None:
            return raw
        return raw[np.isin(raw[EVENT_ID].to_numpy(), np.asarray(event_ids))]

    def _events(
        self, frame: pd.DataFrame, process: str, what: str, weights: FloatArray | None = None
    ) -> EventSet:
        """The selected events of a process's frame (``weights``: instead of its weight column)."""
        keep = self.samples.passes(frame, self._region_name)
        w_col = self.samples.weight
        if weights is None and w_col is not None:
            weights = np.asarray(frame[w_col], dtype=np.float64)
        if weights is not None:
            weights = weights[keep]
            bad = np.flatnonzero(~np.isfinite(weights))
            if bad.size:
                col = f"the weight column {w_col!r}" if w_col is not None else "the weights"
                raise DataError(
                    f"{what}: {col} has {bad.size} NaN or infinite value(s) among the selected "
                    f"events, first at selected event {int(bad[0])}; fix the function"
                )
        frame = frame[keep].copy()
        frame[_PROCESS] = process
        ev = EventSet.from_pandas(
            frame,
            feature_columns=self.samples.features,
            weight_column=None,
            process_column=_PROCESS,
            extra_columns=(EVENT_ID,),
            process_names=self.processes,
        )
        return ev if weights is None else ev.with_weights(weights)

    def _nominal_process(self, process: str, event_ids: npt.ArrayLike | None) -> EventSet:
        if process not in self._nominal_cache:
            self._nominal_cache[process] = self._events(
                self._raw[process], process, f"nominal {process!r}"
            )
        ev = self._nominal_cache[process]
        if event_ids is None:
            return ev
        return ev.select(np.isin(ev.extras[EVENT_ID].to_numpy(), np.asarray(event_ids)))

    def physical(self, nu: npt.ArrayLike) -> dict[str, float]:
        """The physical nuisance values at standardised ν."""
        arr = _check_nu(nu, self._nuisances)
        return {n.name: float(n.physical(v)) for n, v in zip(self._nuisances, arr, strict=True)}

    def varied(
        self, process: str, nu: npt.ArrayLike, *, event_ids: npt.ArrayLike | None = None
    ) -> EventSet:
        """The events of the process varied by the function at ν, then selected."""
        self._check_process(process)
        arr = _check_nu(nu, self._nuisances)
        values: dict[str, Any] = self.physical(arr)
        what = f"{self._label}({', '.join(f'{k}={v:g}' for k, v in values.items())}) {process!r}"
        if self._takes["seed"]:
            values["seed"] = _point_seed(self.seed, self.processes.index(process), arr)
        if self._takes["process"]:
            values["process"] = process
        raw = self._raw_of(process, event_ids)
        out = self.function(raw.copy(), **values)
        if isinstance(out, pd.DataFrame):
            missing = [c for c in (*self.feature_names, EVENT_ID) if c not in out.columns]
            missing += [c for c in raw.columns if c not in out.columns and c not in missing]
            if missing:
                raise DataError(
                    f"{what} returned a DataFrame without the column(s) {missing}; it must "
                    "keep every column it is given (return a modified copy of the frame)"
                )
            return self._events(out, process, what)
        w = np.asarray(out, dtype=np.float64) if out is not None else None
        if w is None or w.shape != (len(raw),):
            raise DataError(
                f"{what} returned {type(out).__name__}"
                f"{'' if w is None else f' of shape {w.shape}'}; expected the varied "
                f"DataFrame or one weight per event ({len(raw)})"
            )
        return self._events(raw, process, what, weights=w)

    def __repr__(self) -> str:
        counts = ", ".join(f"{p}={len(f)}" for p, f in self._raw.items())
        return (
            f"CallableVariationSource(events {counts}; {self._label} varies "
            f"{[n.name for n in self._nuisances]})"
        )
