"""The systematic uncertainties of the FAIR Universe HiggsML challenge, applied to events.

Six nuisance parameters (DESIGN.md §2): three that change the events (tau and jet
energy scales, a soft-term smearing of the missing transverse momentum) and three
normalisations of the backgrounds.  :func:`apply_systematics` applies them to a
challenge-format ``pandas.DataFrame`` (simulated or real), redoes the selection,
recomputes every ``DER_*`` feature and scales the weights; it never modifies its
input.  Nominal values (``Nuisances()``) change nothing but the nominal
re-selection, bit for bit.

References
----------
FAIR Universe HiggsML Uncertainty Challenge, https://fair-universe.lbl.gov/docs/
(the public ``ingestion_program/systematics.py`` defines the variations and priors).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, ClassVar, Final, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from unbinned.data._fastmath import cos, hypot, sin
from unbinned.data.derived import compute_derived
from unbinned.data.events import EventSet
from unbinned.data.schema import (
    DER_FEATURES,
    HAD_PT_MIN,
    JET_PT_MIN,
    LABEL_COLUMN,
    LEP_PT_MIN,
    MISSING,
    PRI_FEATURES,
    PROCESS_COLUMN,
    SIGNAL_PROCESSES,
    WEIGHT_COLUMN,
)
from unbinned.exceptions import ConfigError, DataError, SchemaError

__all__ = [
    "CHALLENGE_PRIORS",
    "NUISANCE_NAMES",
    "ClippedLogNormal",
    "ClippedNormal",
    "Nuisances",
    "Prior",
    "Uniform",
    "apply_systematics",
    "apply_systematics_events",
]

FloatArray = npt.NDArray[np.float64]
SeedLike = int | np.random.Generator | np.random.SeedSequence | None

NUISANCE_NAMES: Final[tuple[str, ...]] = (
    "tes",
    "jes",
    "soft_met",
    "ttbar_scale",
    "diboson_scale",
    "bkg_scale",
)
"""Names of the six nuisance parameters of the challenge, in a fixed order."""


# ---------------------------------------------------------------------------- priors
class Prior(Protocol):
    """A one-dimensional prior that can be sampled."""

    @property
    def low(self) -> float:
        """Lower end of the support."""
        ...

    @property
    def high(self) -> float:
        """Upper end of the support."""
        ...

    def sample(self, rng: np.random.Generator) -> float:
        """Draw one value."""
        ...


def _check_bounds(name: str, low: float, high: float) -> None:
    if not (math.isfinite(low) and math.isfinite(high) and low <= high):
        raise ConfigError(f"{name} bounds [{low}, {high}] are invalid; expected finite low <= high")


def _check_clipped(name: str, spread: str, value: float, low: float, high: float) -> None:
    """Check the bounds and the (finite, >= 0) spread parameter of a clipped prior."""
    _check_bounds(name, low, high)
    if not (math.isfinite(value) and value >= 0):
        raise ConfigError(f"{name} {spread} {value} must be finite and >= 0")


class _ClippedPrior:
    """Checks and sampling shared by the clipped priors: a draw clipped to [low, high].

    Subclasses are dataclasses with the fields ``low``, ``high`` and the spread
    parameter named by ``_spread``, and implement ``_draw``.
    """

    _spread: ClassVar[str]
    low: float
    high: float

    def __post_init__(self) -> None:
        name = type(self).__name__
        _check_clipped(name, self._spread, getattr(self, self._spread), self.low, self.high)

    def _draw(self, rng: np.random.Generator) -> float:
        raise NotImplementedError

    def sample(self, rng: np.random.Generator) -> float:
        """Draw one value: the distribution's draw clipped to ``[low, high]``."""
        return float(np.clip(self._draw(rng), self.low, self.high))


@dataclass(frozen=True)
class ClippedNormal(_ClippedPrior):
    """Normal N(loc, scale) with the draw clipped (not truncated) to [low, high].

    Examples
    --------
    >>> import numpy as np
    >>> p = ClippedNormal(1.0, 0.01, 0.9, 1.1)
    >>> 0.9 <= p.sample(np.random.default_rng(0)) <= 1.1
    True
    """

    loc: float
    scale: float
    low: float
    high: float
    _spread: ClassVar[str] = "scale"

    def _draw(self, rng: np.random.Generator) -> float:
        return rng.normal(self.loc, self.scale)


@dataclass(frozen=True)
class ClippedLogNormal(_ClippedPrior):
    """Log-normal exp(N(mean, sigma)) with the draw clipped to [low, high]."""

    mean: float
    sigma: float
    low: float
    high: float
    _spread: ClassVar[str] = "sigma"

    def _draw(self, rng: np.random.Generator) -> float:
        return rng.lognormal(self.mean, self.sigma)


@dataclass(frozen=True)
class Uniform:
    """Uniform on [low, high)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        _check_bounds("Uniform", self.low, self.high)

    def sample(self, rng: np.random.Generator) -> float:
        """Draw one value."""
        return float(rng.uniform(self.low, self.high))


CHALLENGE_PRIORS: Final[Mapping[str, Prior]] = MappingProxyType(
    {
        "tes": ClippedNormal(1.0, 0.01, 0.9, 1.1),
        "jes": ClippedNormal(1.0, 0.01, 0.9, 1.1),
        "soft_met": ClippedLogNormal(0.0, 1.0, 0.0, 5.0),
        "ttbar_scale": ClippedNormal(1.0, 0.02, 0.8, 1.2),
        "diboson_scale": ClippedNormal(1.0, 0.25, 0.0, 2.0),
        "bkg_scale": ClippedNormal(1.0, 0.001, 0.99, 1.01),
        "mu": Uniform(0.1, 3.0),
    }
)
"""The challenge's priors for pseudo-experiments (DESIGN.md §2), read-only."""


# ---------------------------------------------------------------------------- nuisances
@dataclass(frozen=True)
class Nuisances:
    """Values of the six nuisance parameters of the challenge.

    Parameters
    ----------
    tes
        Tau energy scale, a factor on ``PRI_had_pt`` (> 0; prior N(1, 0.01)).
    jes
        Jet energy scale, a factor on every jet pt (> 0; prior N(1, 0.01)).
    soft_met
        Width in GeV of the Gaussian noise added to each MET component (>= 0).
    ttbar_scale, diboson_scale
        Factors on the ttbar and diboson weights (>= 0).
    bkg_scale
        Factor on the weights of every background (>= 0).

    Values outside the prior ranges are allowed (for scans); non-finite,
    negative or zero energy scales are a :class:`~unbinned.exceptions.ConfigError`.

    Examples
    --------
    >>> Nuisances(tes=1.02).is_nominal
    False
    >>> Nuisances().to_dict()["jes"]
    1.0
    """

    tes: float = 1.0
    jes: float = 1.0
    soft_met: float = 0.0
    ttbar_scale: float = 1.0
    diboson_scale: float = 1.0
    bkg_scale: float = 1.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise TypeError(
                    f"nuisance {f.name}={value!r} has type {type(value).__name__}; "
                    "expected a real number"
                )
            value = float(value)
            if not math.isfinite(value):
                raise ConfigError(f"nuisance {f.name}={value} is not finite; expected a number")
            if f.name in ("tes", "jes") and value <= 0:
                raise ConfigError(
                    f"energy scale {f.name}={value} must be > 0 (nominal 1.0, prior N(1, 0.01))"
                )
            if f.name not in ("tes", "jes") and value < 0:
                raise ConfigError(
                    f"nuisance {f.name}={value} must be >= 0 "
                    f"({'a width in GeV' if f.name == 'soft_met' else 'a weight factor'})"
                )
            object.__setattr__(self, f.name, value)

    @classmethod
    def from_mapping(cls, values: Mapping[str, float]) -> Nuisances:
        """Build from a mapping of some of :data:`NUISANCE_NAMES` (others nominal)."""
        unknown = sorted(set(values) - set(NUISANCE_NAMES))
        if unknown:
            raise ConfigError(
                f"unknown nuisance name(s) {unknown}; expected some of {NUISANCE_NAMES}"
            )
        return cls(**{k: float(v) for k, v in values.items()})

    @classmethod
    def draw(cls, rng: SeedLike = None) -> Nuisances:
        """Draw every nuisance from :data:`CHALLENGE_PRIORS` (in :data:`NUISANCE_NAMES` order).

        Parameters
        ----------
        rng
            A ``numpy.random.Generator`` or anything ``numpy.random.default_rng`` accepts.
        """
        gen = np.random.default_rng(rng)
        return cls(**{name: CHALLENGE_PRIORS[name].sample(gen) for name in NUISANCE_NAMES})

    def to_dict(self) -> dict[str, float]:
        """The values as a plain dict, in :data:`NUISANCE_NAMES` order."""
        return {name: float(getattr(self, name)) for name in NUISANCE_NAMES}

    @property
    def is_nominal(self) -> bool:
        """Whether every value is nominal (scales 1, soft_met 0)."""
        return self == Nuisances()

    def rate_factor(self, process: str) -> float:
        """The normalisation nuisances' factor on a process's rate (1 for the signal).

        ``bkg_scale`` multiplies every background, ``ttbar_scale`` and
        ``diboson_scale`` their own process on top (DESIGN.md §2).  The one statement of
        that rule: event weights (:func:`apply_systematics`) and simulated counts
        (:func:`unbinned.sim.htautau.simulate_pseudo_experiment`) both use it.
        """
        if process in SIGNAL_PROCESSES:
            return 1.0
        own = _PROCESS_SCALES.get(process)
        return self.bkg_scale * (float(getattr(self, own)) if own else 1.0)


# ---------------------------------------------------------------------------- helpers
_PROCESS_SCALES: Final[Mapping[str, str]] = MappingProxyType(
    {"ttbar": "ttbar_scale", "diboson": "diboson_scale"}
)
"""Background processes with a normalisation nuisance of their own (the attribute)."""


def _missing_columns_error(missing: list[str], columns: list[str]) -> SchemaError:
    return SchemaError(
        f"the data lack the challenge column(s) {missing}; apply_systematics needs the 16 "
        f"PRI_* columns (the frame has {len(columns)} columns: {columns[:6]}...). "
        "Fix: load the data with unbinned.data.challenge.load_challenge or rename the columns"
    )


def _column(data: pd.DataFrame, name: str) -> npt.NDArray[Any]:
    values = data[name].to_numpy()
    if values.dtype.kind not in "biuf":
        raise SchemaError(
            f"column {name!r} has dtype {data[name].dtype}; expected numbers. "
            "Fix: convert it with df[col].astype(float)"
        )
    if values.dtype.kind == "f":
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"column {name!r} has {int(bad.sum())} NaN or infinite value(s), first at row "
                f"{row} ({values[row]!r}); expected finite numbers (missing jets are -25). "
                "Fix: drop or repair those events before applying systematics"
            )
    return values


def _cast(values: npt.NDArray[Any], like: Any) -> npt.NDArray[Any]:
    if not isinstance(like, np.dtype):  # an extension dtype: keep float64
        return values
    if like.kind in "iu":
        return np.rint(values).astype(like)
    return values.astype(like, copy=False)


def _float_dtype(dtype: Any) -> np.dtype[Any]:
    """``dtype`` if it is a numpy float dtype, else float64."""
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        return dtype
    return np.dtype(np.float64)


def _signal_mask(data: pd.DataFrame, rows: npt.NDArray[np.bool_] | slice) -> npt.NDArray[np.bool_]:
    """Signal events, from ``detailed_labels`` (else ``labels == 1``)."""
    if PROCESS_COLUMN in data.columns:
        return np.asarray(data[PROCESS_COLUMN].isin(list(SIGNAL_PROCESSES)).to_numpy()[rows])
    if LABEL_COLUMN in data.columns:
        return np.asarray(data[LABEL_COLUMN].to_numpy()[rows] == 1)
    raise SchemaError(
        f"cannot tell signal from background: the data have neither {PROCESS_COLUMN!r} "
        f"nor {LABEL_COLUMN!r}. Fix: add the process labels"
    )


def _weight_factors(
    data: pd.DataFrame, rows: npt.NDArray[np.bool_] | slice, nuisances: Nuisances
) -> FloatArray | None:
    """Per-event factor of the normalisation nuisances, or None when all are 1."""
    scales = (nuisances.ttbar_scale, nuisances.diboson_scale, nuisances.bkg_scale)
    if all(s == 1.0 for s in scales):
        return None
    if WEIGHT_COLUMN not in data.columns:
        raise SchemaError(
            f"normalisation nuisances {nuisances} need a {WEIGHT_COLUMN!r} column to scale, "
            "but the data have none. Fix: add the weights, or leave ttbar_scale, "
            "diboson_scale and bkg_scale at 1"
        )
    if PROCESS_COLUMN in data.columns:
        process = data[PROCESS_COLUMN].to_numpy()[rows]
        factor = np.ones(len(process))
        for name in pd.unique(process):
            factor[process == name] = nuisances.rate_factor(str(name))
        return factor
    for name, own in _PROCESS_SCALES.items():
        if getattr(nuisances, own) != 1.0:
            raise SchemaError(
                f"{own}={getattr(nuisances, own)} needs the {PROCESS_COLUMN!r} column to "
                f"find the {name} events. Fix: add it or leave {own} at 1"
            )
    return np.where(_signal_mask(data, rows), 1.0, nuisances.bkg_scale)


# ---------------------------------------------------------------------------- main
def apply_systematics(
    data: pd.DataFrame,
    nuisances: Nuisances,
    *,
    seed: SeedLike = None,
    dopostselection: bool = True,
) -> pd.DataFrame:
    r"""Apply the challenge's systematic variations to challenge-format events.

    Parameters
    ----------
    data
        One row per event with the 16 ``PRI_*`` columns (GeV, radians; missing
        jets -25).  ``weights`` and ``detailed_labels`` (or ``labels``) are used
        for the normalisations when present; every other column (``labels``,
        ``production_mode``, ``gen_*``, ...) is carried along for the surviving
        events.  Never modified.
    nuisances
        The values to apply; ``Nuisances()`` is the nominal.
    seed
        Seed or ``numpy.random.Generator`` of the soft-MET smearing.  Nothing is
        drawn when ``soft_met == 0``; ``None`` draws fresh entropy.
    dopostselection
        Redo the selection (default).  ``False`` keeps every event and jet and
        only recomputes MET and the ``DER_*`` features.

    Returns
    -------
    pandas.DataFrame
        A new frame with the input's columns in the input's order (the 12
        ``DER_*`` columns recomputed, appended when absent), dtypes kept and the
        index reset.

    Notes
    -----
    In order, vectorised over events (DESIGN.md §2), with
    :math:`\vec p_T = p_T(\cos\phi, \sin\phi)`:

    1. tes: :math:`p_T^{\tau_h} \to \mathrm{tes}\, p_T^{\tau_h}`,
       :math:`\vec E_T^{miss} \to \vec E_T^{miss} - (\mathrm{tes}-1)\,\vec p_T^{\tau_h}`
       (the old :math:`\tau_h` vector), so :math:`\vec E_T^{miss} + \vec p_T^{\tau_h}`
       is conserved.
    2. jes: leading and subleading jet pt and ``PRI_jet_all_pt`` times jes,
       :math:`\vec E_T^{miss} \to \vec E_T^{miss} - (\mathrm{jes}-1)
       (\vec p_T^{j_1} + \vec p_T^{j_2})` with the existing jets only.
    3. soft_met: :math:`E_x^{miss}, E_y^{miss}` each plus an independent
       :math:`N(0, \mathrm{soft\_met})` draw.
    4. Re-selection: drop events with ``PRI_had_pt < 26`` or ``PRI_lep_pt < 20``.
       A leading or subleading jet below 26 GeV is removed: its pt, eta, phi
       become -25, ``PRI_n_jets`` and ``PRI_jet_all_pt`` lose it, and the
       subleading jet is promoted when only the leading one goes (possible for
       input that is not pt-ordered).  Jets beyond the subleading one are softer
       than it, so they are removed with it: an event whose subleading jet falls
       below threshold keeps ``PRI_n_jets = 1`` and ``PRI_jet_all_pt`` = the
       leading pt.  (The challenge's code decrements ``PRI_n_jets`` by one only,
       which leaves events with two or more jets and no subleading jet; this
       differs only for events with three jets or more.)
    5. Every ``DER_*`` feature recomputed by :func:`unbinned.data.derived.compute_derived`.
    6. Weights: ttbar times ``ttbar_scale``, diboson times ``diboson_scale``,
       every background (not ``htautau``) times ``bkg_scale``.

    An exactly nominal factor (1, or soft_met 0) skips its arithmetic, so the
    nominal output equals the input after the nominal re-selection, bit for bit.
    Arithmetic is done in float64 and cast back to each column's dtype.

    Examples
    --------
    >>> from unbinned.sim.systematics import Nuisances, apply_systematics
    >>> nu = Nuisances(tes=1.01, soft_met=1.0)
    >>> varied = apply_systematics(frame, nu, seed=7)  # doctest: +SKIP
    """
    raw = _primary_columns(data, nuisances)
    new = _scales_and_met(raw, nuisances, len(data), seed)  # steps 1-3
    rows, sel = _reselect({**raw, **new}, dopostselection)  # step 4
    out = _assemble(data, sel, compute_derived(sel), rows)  # step 5
    _scale_weights(out, data, rows, nuisances)  # step 6
    # every column is its own new array (_assemble): no consolidating copy of the table
    # (pd.DataFrame(dict) stacks the float columns into one block: ≈ 1 s per 10⁶ events)
    return pd.DataFrame(out, copy=False)


def _primary_columns(data: pd.DataFrame, nuisances: Nuisances) -> dict[str, npt.NDArray[Any]]:
    """Check the arguments of :func:`apply_systematics`; return the 16 PRI columns."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas.DataFrame, got {type(data).__name__}")
    if not isinstance(nuisances, Nuisances):
        raise TypeError(
            f"nuisances must be a Nuisances, got {type(nuisances).__name__}; "
            "use Nuisances(**values) or Nuisances.from_mapping(values)"
        )
    columns = [str(c) for c in data.columns]
    missing = [c for c in PRI_FEATURES if c not in data.columns]
    if missing:
        raise _missing_columns_error(missing, columns)
    raw = {c: _column(data, c) for c in PRI_FEATURES}
    if WEIGHT_COLUMN in data.columns:
        _column(data, WEIGHT_COLUMN)
    return raw


def _scale_weights(
    out: dict[str, Any],
    data: pd.DataFrame,
    rows: npt.NDArray[np.bool_] | slice,
    nuisances: Nuisances,
) -> None:
    """Step 6 of :func:`apply_systematics`: the normalisation factors, in place on ``out``."""
    factor = _weight_factors(data, rows, nuisances)
    if factor is not None:
        w = data[WEIGHT_COLUMN].to_numpy()[rows]
        out[WEIGHT_COLUMN] = (w.astype(np.float64) * factor).astype(_float_dtype(w.dtype))


def _reselect(
    current: Mapping[str, npt.NDArray[Any]], dopostselection: bool
) -> tuple[npt.NDArray[np.bool_] | slice, dict[str, npt.NDArray[Any]]]:
    """Step 4 of :func:`apply_systematics`: the kept rows and their PRI columns."""
    rows: npt.NDArray[np.bool_] | slice = slice(None)
    if dopostselection:
        keep = (current["PRI_had_pt"] >= HAD_PT_MIN) & (current["PRI_lep_pt"] >= LEP_PT_MIN)
        if not keep.all():
            rows = keep
    sel = {c: current[c][rows] for c in PRI_FEATURES}
    if dopostselection:
        _drop_soft_jets(sel)
    return rows, sel


def _scales_and_met(
    raw: Mapping[str, npt.NDArray[Any]], nuisances: Nuisances, n: int, seed: SeedLike
) -> dict[str, npt.NDArray[Any]]:
    """Steps 1-3 of :func:`apply_systematics`: the float64 values of the modified PRI columns."""
    tes, jes, soft = nuisances.tes, nuisances.jes, nuisances.soft_met
    new: dict[str, npt.NDArray[Any]] = {}
    if not (tes != 1.0 or jes != 1.0 or soft > 0.0):
        return new
    n_jets = raw["PRI_n_jets"]
    has1 = n_jets >= 1
    has2 = n_jets >= 2
    met = raw["PRI_met"].astype(np.float64)
    met_phi = raw["PRI_met_phi"].astype(np.float64)
    mx, my = met * cos(met_phi), met * sin(met_phi)
    if tes != 1.0:
        had = raw["PRI_had_pt"].astype(np.float64)
        had_phi = raw["PRI_had_phi"].astype(np.float64)
        mx -= (tes - 1.0) * had * cos(had_phi)
        my -= (tes - 1.0) * had * sin(had_phi)
        new["PRI_had_pt"] = had * tes
    if jes != 1.0:
        j1 = np.where(has1, raw["PRI_jet_leading_pt"], 0.0)
        j2 = np.where(has2, raw["PRI_jet_subleading_pt"], 0.0)
        j1_phi = raw["PRI_jet_leading_phi"].astype(np.float64)
        j2_phi = raw["PRI_jet_subleading_phi"].astype(np.float64)
        mx -= (jes - 1.0) * (j1 * cos(j1_phi) + j2 * cos(j2_phi))
        my -= (jes - 1.0) * (j1 * sin(j1_phi) + j2 * sin(j2_phi))
        new["PRI_jet_leading_pt"] = np.where(has1, j1 * jes, raw["PRI_jet_leading_pt"])
        new["PRI_jet_subleading_pt"] = np.where(has2, j2 * jes, raw["PRI_jet_subleading_pt"])
        new["PRI_jet_all_pt"] = raw["PRI_jet_all_pt"].astype(np.float64) * jes
    if soft > 0.0:
        rng = np.random.default_rng(seed)
        # soft * z: the values and the stream of rng.normal(0, soft, n), without its overhead
        mx += soft * rng.standard_normal(n)
        my += soft * rng.standard_normal(n)
    new["PRI_met"] = hypot(mx, my)
    new["PRI_met_phi"] = np.arctan2(my, mx)
    return new


def _assemble(
    data: pd.DataFrame,
    sel: Mapping[str, npt.NDArray[Any]],
    derived: Mapping[str, npt.NDArray[np.float64]],
    rows: npt.NDArray[np.bool_] | slice,
) -> dict[str, Any]:
    """The output columns in the input's order and dtypes, missing DER columns appended.

    Every column is an array of its own, sharing no memory with ``data`` (a column
    the selection kept whole is copied), so the output frame is built without a copy.
    """
    out: dict[str, Any] = {}
    for c in data.columns:
        name = str(c)
        series = data[c]
        if name in sel:
            values = sel[name]
            values = values if values.dtype == series.dtype else _cast(values, series.dtype)
        elif name in derived:
            values = derived[name].astype(_float_dtype(series.dtype), copy=False)
        elif isinstance(series.dtype, np.dtype):
            values = series.to_numpy()[rows]
        else:
            values = series.array[rows]
            out[name] = values.copy() if isinstance(rows, slice) else values
            continue
        out[name] = values.copy() if np.may_share_memory(values, series.to_numpy()) else values
    der_dtype = _float_dtype(data["PRI_had_pt"].dtype)
    for name in DER_FEATURES:
        if name not in out:
            out[name] = derived[name].astype(der_dtype, copy=False)
    return out


def _drop_soft_jets(sel: dict[str, npt.NDArray[Any]]) -> None:
    """Remove the leading/subleading jets below threshold, in place on ``sel``."""
    n_jets = sel["PRI_n_jets"]
    j1, j2 = sel["PRI_jet_leading_pt"], sel["PRI_jet_subleading_pt"]
    has1, has2 = n_jets >= 1, n_jets >= 2
    keep1 = has1 & (j1 >= JET_PT_MIN)
    keep2 = has2 & (j2 >= JET_PT_MIN)
    changed = (has1 & ~keep1) | (has2 & ~keep2)
    if not changed.any():
        return
    promote = changed & ~keep1 & keep2
    for part in ("pt", "eta", "phi"):
        lead, sub = f"PRI_jet_leading_{part}", f"PRI_jet_subleading_{part}"
        lead_new = np.where(promote, sel[sub], np.where(keep1, sel[lead], MISSING))
        sel[lead] = np.where(changed, lead_new, sel[lead])
        sel[sub] = np.where(changed, MISSING, sel[sub])
    # in a changed event at most one jet survives: the kept leading or the promoted one
    n_left = (keep1 | keep2).astype(np.float64)
    sel["PRI_n_jets"] = np.where(changed, n_left, n_jets)
    left_pt = np.where(keep1, j1, np.where(keep2, j2, 0.0))
    sel["PRI_jet_all_pt"] = np.where(changed, left_pt, sel["PRI_jet_all_pt"])


def apply_systematics_events(
    events: EventSet,
    nuisances: Nuisances,
    *,
    seed: SeedLike = None,
    dopostselection: bool = True,
) -> EventSet:
    """Apply :func:`apply_systematics` to an :class:`~unbinned.data.events.EventSet`.

    The event set's features must include the 16 ``PRI_*`` columns; its extras,
    process names and order are kept.  See :func:`apply_systematics`.
    """
    if not isinstance(events, EventSet):
        raise TypeError(f"events must be an EventSet, got {type(events).__name__}")
    frame = apply_systematics(
        events.to_pandas(), nuisances, seed=seed, dopostselection=dopostselection
    )
    feature_columns = list(events.feature_names) + [
        c for c in DER_FEATURES if c not in events.feature_names
    ]
    return EventSet.from_pandas(
        frame,
        feature_columns=feature_columns,
        weight_column=WEIGHT_COLUMN,
        process_column=PROCESS_COLUMN,
        extra_columns=tuple(str(c) for c in events.extras.columns),
        process_names=events.process_names,
    )
