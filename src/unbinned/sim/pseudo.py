r"""Pseudo-experiments: unweighted datasets Poisson-sampled from a weighted sample.

As in the FAIR Universe HiggsML challenge: apply the systematic variations to a
large weighted sample, scale the signal weights by the signal strength μ, then
take each event :math:`k_i \sim \mathrm{Poisson}(w_i)` times.  The number of
events is then Poisson distributed with mean :math:`\mu S + B`, and each
distinct event appears :math:`k_i` times.  The weighted input must be much
larger than the expected dataset (weights well below 1): otherwise the same
events repeat, and the pseudo-data are less varied than real data would be.
:attr:`PseudoExperiment.mean_multiplicity` reports the mean :math:`k` of the
events drawn at least once (1 is ideal).

Every draw derives from one integer seed through ``numpy.random.SeedSequence``,
with independent child streams for the nuisance draw, the soft-MET smearing and
the Poisson sampling (with the shuffle), so results are reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from unbinned.data.schema import PROCESS_COLUMN, PROCESSES, WEIGHT_COLUMN
from unbinned.exceptions import ConfigError, DataError, SchemaError
from unbinned.sim.systematics import (
    CHALLENGE_PRIORS,
    Nuisances,
    SeedLike,
    _float_dtype,
    _signal_mask,
    apply_systematics,
)

__all__ = ["PseudoExperiment", "expected_yields", "pseudo_experiment"]

_NUISANCE_STREAM, _SOFT_MET_STREAM, _POISSON_STREAM = 0, 1, 2


@dataclass(frozen=True, repr=False)
class PseudoExperiment:
    """One pseudo-experiment: unweighted events and the truth that made them.

    Attributes
    ----------
    data
        The selected events after systematics, one row per drawn event (an
        event drawn k times appears k times), shuffled, index reset,
        ``weights`` = 1.
    mu
        The true signal strength.
    nuisances
        The true nuisance values (given, nominal, or drawn from the priors).
    seed
        The integer seed everything derives from.
    expected
        Expected yields before the Poisson draw, as :func:`expected_yields`
        returns them (per process, ``signal`` = μ·S, ``background``, ``total``).
    n_distinct
        Number of distinct input events drawn at least once.
    max_multiplicity
        Largest number of copies of one input event.
    """

    data: pd.DataFrame
    mu: float
    nuisances: Nuisances
    seed: int
    expected: dict[str, float] = field(default_factory=dict)
    n_distinct: int = 0
    max_multiplicity: int = 0

    @property
    def n_events(self) -> int:
        """Number of (unweighted) events."""
        return len(self.data)

    @property
    def mean_multiplicity(self) -> float:
        """Mean number of copies of the events drawn at least once (1 is ideal)."""
        return self.n_events / self.n_distinct if self.n_distinct else float("nan")

    def __repr__(self) -> str:
        nu = ", ".join(f"{k}={v:.4g}" for k, v in self.nuisances.to_dict().items())
        exp = self.expected.get("total", float("nan"))
        return (
            f"PseudoExperiment(seed={self.seed}, mu={self.mu:.4g}, {self.n_events} events "
            f"(expected {exp:.6g}), mean multiplicity {self.mean_multiplicity:.3g} "
            f"(max {self.max_multiplicity}), nuisances: {nu})"
        )


def _check_mu(mu: float) -> float:
    if isinstance(mu, bool) or not isinstance(mu, int | float | np.number):
        raise TypeError(f"mu={mu!r} has type {type(mu).__name__}; expected a real number")
    value = float(mu)
    if not (math.isfinite(value) and value >= 0):
        raise ConfigError(
            f"signal strength mu={mu} must be finite and >= 0 (challenge prior "
            f"U({CHALLENGE_PRIORS['mu'].low}, {CHALLENGE_PRIORS['mu'].high}))"
        )
    return value


def _expected_weights(data: pd.DataFrame, mu: float) -> np.ndarray[Any, np.dtype[np.float64]]:
    if WEIGHT_COLUMN not in data.columns:
        raise SchemaError(
            f"a pseudo-experiment needs per-event {WEIGHT_COLUMN!r} (expected events per "
            "event at the target luminosity); the data have none. Fix: add the weights"
        )
    w = data[WEIGHT_COLUMN].to_numpy(dtype=np.float64)
    return np.where(_signal_mask(data, slice(None)), mu * w, w)


def _yields(data: pd.DataFrame, w: np.ndarray[Any, np.dtype[np.float64]]) -> dict[str, float]:
    out: dict[str, float] = {}
    if PROCESS_COLUMN in data.columns:
        labels = data[PROCESS_COLUMN].to_numpy().astype(str)
        present = set(labels.tolist())
        order = [p for p in PROCESSES if p in present] + sorted(present - set(PROCESSES))
        for name in order:
            out[name] = float(w[labels == name].sum())
    signal = _signal_mask(data, slice(None))
    out["signal"] = float(w[signal].sum())
    out["background"] = float(w[~signal].sum())
    out["total"] = out["signal"] + out["background"]
    return out


def expected_yields(
    data: pd.DataFrame,
    mu: float = 1.0,
    nuisances: Nuisances | None = None,
) -> dict[str, float]:
    """Expected selected yields after systematics: μ·S per signal, B per background.

    Parameters
    ----------
    data
        Weighted challenge-format events (``weights`` and ``detailed_labels``).
    mu
        Signal strength multiplying the signal weights.
    nuisances
        The nuisance values (nominal by default).

    Returns
    -------
    dict
        The sum of weights per process (signal already times μ), then
        ``signal`` (μ·S), ``background`` (B) and ``total`` (μ·S + B).

    Notes
    -----
    The selection does not depend on MET, so the soft-MET draw cannot change
    the yields: a fixed seed is used for it.
    """
    mu = _check_mu(mu)
    nuisances = Nuisances() if nuisances is None else nuisances
    varied = apply_systematics(data, nuisances, seed=0)
    return _yields(varied, _expected_weights(varied, mu))


def _check_experiment(seed: object, mu: float, nuisances: object, draw_nuisances: bool) -> float:
    """Check the arguments of :func:`pseudo_experiment`; return the checked ``mu``."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed={seed!r} must be an int (it names the experiment)")
    if seed < 0:
        raise ConfigError(f"seed={seed} must be >= 0 (numpy.random.SeedSequence)")
    mu = _check_mu(mu)
    if draw_nuisances and nuisances is not None:
        raise ConfigError(
            "pass either nuisances= or draw_nuisances=True, not both: drawing would "
            f"ignore the given {nuisances}"
        )
    if nuisances is not None and not isinstance(nuisances, Nuisances):
        raise TypeError(f"nuisances must be a Nuisances or None, got {type(nuisances).__name__}")
    return mu


def _check_non_negative(w: np.ndarray[Any, np.dtype[np.float64]]) -> None:
    negative = w < 0
    if negative.any():
        raise DataError(
            f"{int(negative.sum())} event(s) have negative weights (smallest {w.min():.4g}); "
            "Poisson sampling needs weights >= 0. Fix: use a sample without negative "
            "weights, or merge them into positive ones first"
        )


def _resample(
    varied: pd.DataFrame,
    k: np.ndarray[Any, np.dtype[np.int64]],
    rng: np.random.Generator,
    collapse: bool,
) -> pd.DataFrame:
    """Each event ``k_i`` times: collapsed (weight k_i) or repeated and shuffled (weight 1)."""
    if collapse:
        drawn = np.flatnonzero(k)
        out = varied.iloc[drawn].reset_index(drop=True)
        out[WEIGHT_COLUMN] = k[drawn].astype(np.float64)
    else:
        index = np.repeat(np.arange(len(varied)), k)
        rng.shuffle(index)
        out = varied.iloc[index].reset_index(drop=True)
        if WEIGHT_COLUMN in out.columns:
            dtype = _float_dtype(varied[WEIGHT_COLUMN].dtype)
            out[WEIGHT_COLUMN] = np.ones(len(out), dtype=dtype)
    return out


def pseudo_experiment(
    data: pd.DataFrame,
    *,
    mu: float,
    nuisances: Nuisances | None = None,
    draw_nuisances: bool = False,
    seed: int,
    collapse: bool = False,
) -> PseudoExperiment:
    r"""Draw one unweighted pseudo-dataset from a weighted sample.

    Parameters
    ----------
    data
        A large weighted challenge-format sample (``weights`` in expected
        events at the target luminosity, ``detailed_labels``), before or after
        the nominal selection.  Not modified.
    mu
        True signal strength (>= 0).
    nuisances
        True nuisance values; nominal when omitted.  Exclusive with ``draw_nuisances``.
    draw_nuisances
        Draw the nuisances from :data:`~unbinned.sim.systematics.CHALLENGE_PRIORS`.
    seed
        Non-negative integer; the same seed gives the same pseudo-experiment.
    collapse
        Return every drawn event once with ``weights`` = k (how many times it was
        drawn) instead of k rows of weight 1: the same dataset for an unbinned
        likelihood (Σ_i k_i ln r(x_i)), with fewer rows to evaluate.

    Returns
    -------
    PseudoExperiment

    Notes
    -----
    Systematics are applied (:func:`~unbinned.sim.systematics.apply_systematics`,
    which re-selects and scales the background weights), the signal weights
    are multiplied by μ, and each event is taken :math:`k_i \sim
    \mathrm{Poisson}(w_i)` times (``numpy.repeat``), then the rows are shuffled.
    The total is Poisson with mean :math:`\mu S + B`.  Weights must be >= 0.

    Examples
    --------
    >>> pe = pseudo_experiment(sample, mu=1.0, draw_nuisances=True, seed=3)  # doctest: +SKIP
    >>> pe.n_events, pe.nuisances.tes  # doctest: +SKIP
    """
    mu = _check_experiment(seed, mu, nuisances, draw_nuisances)
    streams = np.random.SeedSequence(int(seed)).spawn(3)
    if draw_nuisances:
        nuisances = Nuisances.draw(np.random.default_rng(streams[_NUISANCE_STREAM]))
    elif nuisances is None:
        nuisances = Nuisances()
    soft_rng: SeedLike = np.random.default_rng(streams[_SOFT_MET_STREAM])
    varied = apply_systematics(data, nuisances, seed=soft_rng)
    w = _expected_weights(varied, mu)
    _check_non_negative(w)
    rng = np.random.default_rng(streams[_POISSON_STREAM])
    k = rng.poisson(w)
    return PseudoExperiment(
        data=_resample(varied, k, rng, collapse),
        mu=mu,
        nuisances=nuisances,
        seed=int(seed),
        expected=_yields(varied, w),
        n_distinct=int(np.count_nonzero(k)),
        max_multiplicity=int(k.max()) if k.size else 0,
    )
