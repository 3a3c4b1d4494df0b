"""The declaration of an oracle model: parameters, checks, yields and exact densities.

:class:`OracleCore` holds what every other piece of an oracle model reads: the
processes and nuisances, their validation, the expected yields
n_p(μ, ν) = n_p^0 · g_p(μ, ν) · Y_p(ν) and the normalised densities f_p(x | ν) with
the exact response R_p = Y_p · f_p(x | ν) / f_p(x | ν_0) (formulas in
:mod:`unbinned.sim.oracle._base`).  Sampling (:mod:`~unbinned.sim.oracle._sampling`) and
the exact likelihood (:mod:`~unbinned.sim.oracle._exact_nll`) build on it;
:class:`~unbinned.sim.oracle._base.OracleModel` joins them.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from unbinned.exceptions import ConfigError, DataError, SchemaError
from unbinned.sim.oracle._ops import NUMPY, ArrayOps
from unbinned.sim.oracle._types import FloatArray, GaussianConstraint, Nuisance, OracleSample

__all__ = ["OracleCore", "SeedLike", "check_count"]

SeedLike = int | np.random.Generator | None
#: Latent uniforms are kept inside [U_EPS, 1 - U_EPS] so inverse CDFs stay finite.
U_EPS = 2.0**-53


class OracleCore(ABC):
    """Declaration, validation, yields and densities of an oracle model.

    The base of :class:`~unbinned.sim.oracle._base.OracleModel` (whose docstring gives
    the class attributes, hooks and parameters); not used alone.
    """

    #: Name of the model (for reprs and reports).
    name: str = "oracle"
    #: Process names; the signal (scaled by μ) is the first.
    processes: tuple[str, ...] = ()
    #: Feature (column) names of x.
    feature_names: tuple[str, ...] = ()
    #: Number of latent Uniform(0, 1) variables per event.
    latent_dim: int = 0
    #: Name of the parameter of interest (signal strength).
    poi_name: str = "mu"

    def __init__(
        self,
        nuisances: Sequence[Nuisance],
        nominal_yields: Sequence[float],
        *,
        free: Sequence[str] | None = None,
        constraints: Mapping[str, GaussianConstraint] | None = None,
        default_constraints: Mapping[str, GaussianConstraint] | None = None,
    ) -> None:
        self._nuisances = tuple(nuisances)
        self._by_name = {n.name: n for n in self._nuisances}
        if len(self._by_name) != len(self._nuisances):
            raise ConfigError(f"duplicate nuisance names in {[n.name for n in self._nuisances]}")
        if self.poi_name in self._by_name:
            raise ConfigError(f"a nuisance may not be called {self.poi_name!r}")
        yields = tuple(float(v) for v in nominal_yields)
        if len(yields) != len(self.processes) or not all(v > 0 for v in yields):
            raise ConfigError(
                f"nominal yields {yields} must be {len(self.processes)} positive numbers, one "
                f"per process {self.processes}"
            )
        self._nominal_yields = yields
        if isinstance(free, str):
            raise TypeError(f"free must be a sequence of nuisance names, e.g. ({free!r},)")
        names = tuple(self._by_name) if free is None else tuple(free)
        for name in names:
            self._require_nuisance(name)
        if len(set(names)) != len(names):
            raise ConfigError(f"free nuisances {names} contain duplicates")
        # keep the declaration order
        self._free = tuple(n.name for n in self._nuisances if n.name in names)
        chosen = default_constraints if constraints is None else constraints
        cons = dict(chosen or {})
        for name, con in cons.items():
            self._require_nuisance(name)
            if not isinstance(con, GaussianConstraint):
                raise TypeError(
                    f"constraint on {name!r} is a {type(con).__name__}; expected a "
                    "GaussianConstraint(centre, width)"
                )
        self._constraints = MappingProxyType(cons)
        self._log_acc0 = [float(a) for a in self._log_acceptance(NUMPY, self.nominal)]

    # ------------------------------------------------------------------ declaration
    @property
    def nuisances(self) -> tuple[Nuisance, ...]:
        """All nuisance parameters (free and fixed), in declaration order."""
        return self._nuisances

    @property
    def nuisance_names(self) -> tuple[str, ...]:
        """Names of all nuisance parameters."""
        return tuple(self._by_name)

    @property
    def nominal(self) -> dict[str, float]:
        """The nominal nuisance values ν_0."""
        return {n.name: n.nominal for n in self._nuisances}

    @property
    def free_nuisances(self) -> tuple[str, ...]:
        """Nuisances fitted by :meth:`nll` (the others are fixed)."""
        return self._free

    @property
    def fixed_nuisances(self) -> tuple[str, ...]:
        """Nuisances held at their nominal values in :meth:`nll`."""
        return tuple(n for n in self._by_name if n not in self._free)

    @property
    def constraints(self) -> Mapping[str, GaussianConstraint]:
        """Gaussian priors by nuisance name (read-only)."""
        return self._constraints

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Order of the parameter vector of :meth:`nll`: the POI, then the free nuisances."""
        return (self.poi_name, *self._free)

    @property
    def signal_process(self) -> str:
        """The process scaled by the signal strength (the first one)."""
        return self.processes[0]

    @property
    def n_features(self) -> int:
        """Number of features d."""
        return len(self.feature_names)

    def nuisance(self, name: str) -> Nuisance:
        """Return the declaration of one nuisance."""
        return self._require_nuisance(name)

    def initial_parameters(self) -> FloatArray:
        """Return the parameter vector at μ = 1 and nominal nuisances."""
        return np.array([1.0] + [self._by_name[n].nominal for n in self._free])

    def parameter_bounds(self) -> list[tuple[float, float]]:
        """Return fit limits per parameter: μ in [0, ∞), nuisances in their ranges."""
        return [(0.0, math.inf)] + [
            (self._by_name[n].low, self._by_name[n].high) for n in self._free
        ]

    def __repr__(self) -> str:
        cons = {k: (v.centre, v.width) for k, v in self._constraints.items()}
        return (
            f"{type(self).__name__}(processes={self.processes}, features={self.feature_names}, "
            f"free={self._free}, constraints={cons})"
        )

    # ------------------------------------------------------------------ subclass hooks
    @abstractmethod
    def _log_unnormalised(self, ops: ArrayOps, x: Any, nu: Mapping[str, Any]) -> list[Any]:
        """Per process, ln h_p(x|ν) with ∫_support h_p = A_p(ν) (f_p = h_p / A_p)."""

    @abstractmethod
    def _log_acceptance(self, ops: ArrayOps, nu: Mapping[str, Any]) -> list[Any]:
        """Per process, ln A_p(ν) (0 when nothing falls outside the support)."""

    @abstractmethod
    def _rate_factors(self, ops: ArrayOps, mu: Any, nu: Mapping[str, Any]) -> list[Any]:
        """Per process, the analytic rate factor g_p(μ, ν), equal to 1 at μ = 1, ν = ν_0."""

    @abstractmethod
    def _in_support(self, ops: ArrayOps, x: Any) -> Any:
        """Boolean mask of the events inside the support (the same for every ν)."""

    @abstractmethod
    def _transform(
        self, index: int, u: FloatArray, nu: Mapping[str, float], *, generator: bool = False
    ) -> FloatArray:
        """Map latent uniforms u (N, latent_dim) of process ``index`` to features at ν.

        ``generator=False``: u are quantiles of the distribution inside the
        support at ν (every event lands inside; exact f_p(x|ν)). ``generator=True``:
        u are quantiles of the generator-level distribution h_p / ∫h_p (before the
        selection; events may fall outside the support).
        """

    # ------------------------------------------------------------------ validation
    def _require_nuisance(self, name: str) -> Nuisance:
        try:
            return self._by_name[name]
        except KeyError:
            raise ConfigError(
                f"unknown nuisance {name!r}; this model has {self.nuisance_names}"
            ) from None

    def _process_index(self, process: str) -> int:
        if not isinstance(process, str):
            raise TypeError(f"process must be a name (str), got {type(process).__name__}")
        try:
            return self.processes.index(process)
        except ValueError:
            raise ConfigError(
                f"unknown process {process!r}; expected one of {self.processes}"
            ) from None

    def _check_value(self, name: str, value: float) -> None:
        nuis = self._by_name[name]
        if not (nuis.low <= value <= nuis.high):  # also rejects NaN
            raise ConfigError(
                f"nuisance {name!r} = {value} lies outside its allowed range "
                f"[{nuis.low}, {nuis.high}]; use model.nuisance({name!r}).low/.high as limits"
            )

    def _resolve_nu(self, nu: Mapping[str, float] | None) -> dict[str, float]:
        """Complete a partial nuisance dictionary with nominal values, checking names and ranges."""
        out = self.nominal
        if nu is None:
            return out
        if not isinstance(nu, Mapping):
            raise TypeError(f"nu must be a mapping name -> value, got {type(nu).__name__}")
        for name, value in nu.items():
            self._require_nuisance(name)
            v = float(value)
            self._check_value(name, v)
            out[name] = v
        return out

    def _check_x(self, x: Any) -> FloatArray:
        if isinstance(x, OracleSample):
            x = x.x
        if not isinstance(x, np.ndarray):
            raise TypeError(
                f"x must be a numpy array of shape (N, {self.n_features}), got {type(x).__name__}"
            )
        if x.ndim != 2:
            raise DataError(
                f"x has shape {x.shape}; expected a 2D array (N, {self.n_features}) with columns "
                f"{self.feature_names}"
            )
        if x.shape[1] != self.n_features:
            raise SchemaError(
                f"x has {x.shape[1]} columns; expected {self.n_features} "
                f"({', '.join(self.feature_names)})"
            )
        out = np.asarray(x, dtype=np.float64)
        if not np.all(np.isfinite(out)):
            raise DataError(f"x contains {int(np.sum(~np.isfinite(out)))} NaN or infinite entries")
        return out

    def _check_weights(self, weights: Any, n: int) -> FloatArray:
        if weights is None:
            return np.ones(n)
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (n,):
            raise DataError(f"weights have shape {w.shape}; expected ({n},), one per event")
        if not np.all(np.isfinite(w)):
            raise DataError("weights contain NaN or infinite entries")
        return w

    def _check_support(self, x: FloatArray) -> None:
        inside = np.asarray(self._in_support(NUMPY, x))
        if not np.all(inside):
            bad = int(np.flatnonzero(~inside)[0])
            raise DataError(
                f"{int(np.sum(~inside))} events lie outside the support of {self.name} "
                f"(first: row {bad}, x = {x[bad].tolist()}); their density is 0 and q = +inf. "
                "Apply the model's selection to the data first."
            )

    # ------------------------------------------------------------------ yields
    def _log_densities(self, ops: ArrayOps, x: Any, nu: Mapping[str, Any]) -> list[Any]:
        log_h = self._log_unnormalised(ops, x, nu)
        log_a = self._log_acceptance(ops, nu)
        return [h - a for h, a in zip(log_h, log_a, strict=True)]

    def _yields(self, ops: ArrayOps, mu: Any, nu: Mapping[str, Any]) -> list[Any]:
        rates = self._rate_factors(ops, mu, nu)
        log_a = self._log_acceptance(ops, nu)
        return [
            n0 * g * ops.exp(a - a0)
            for n0, g, a, a0 in zip(self._nominal_yields, rates, log_a, self._log_acc0, strict=True)
        ]

    def expected_yields(
        self, mu: float = 1.0, nu: Mapping[str, float] | None = None
    ) -> dict[str, float]:
        """Return the expected yields n_p(μ, ν) = n_p^0 g_p(μ, ν) Y_p(ν) per process."""
        full = self._resolve_nu(nu)
        return {
            p: float(v)
            for p, v in zip(self.processes, self._yields(NUMPY, float(mu), full), strict=True)
        }

    def rate_factors(
        self, mu: float = 1.0, nu: Mapping[str, float] | None = None
    ) -> dict[str, float]:
        """Return the analytic rate factors g_p(μ, ν) (μ for the signal; normalisations)."""
        full = self._resolve_nu(nu)
        rates = self._rate_factors(NUMPY, float(mu), full)
        return {p: float(v) for p, v in zip(self.processes, rates, strict=True)}

    def yield_ratio(self, process: str, nu: Mapping[str, float] | None = None) -> float:
        """Return Y_p(ν) = A_p(ν) / A_p(ν_0), the inclusive yield change due to shape nuisances."""
        i = self._process_index(process)
        full = self._resolve_nu(nu)
        return float(np.exp(self._log_acceptance(NUMPY, full)[i] - self._log_acc0[i]))

    # ------------------------------------------------------------------ densities
    def log_densities(
        self, x: FloatArray | OracleSample, nu: Mapping[str, float] | None = None
    ) -> FloatArray:
        """Return ln f_p(x|ν) for every process, shape (N, P); -inf outside the support.

        Parameters
        ----------
        x
            Features, shape (N, d).
        nu
            Nuisance values; missing ones take their nominal values.
        """
        xa = self._check_x(x)
        full = self._resolve_nu(nu)
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.stack(self._log_densities(NUMPY, xa, full), axis=1)
        inside = np.asarray(self._in_support(NUMPY, xa))
        logs[~inside] = -np.inf
        return logs

    def log_density(
        self, x: FloatArray | OracleSample, process: str, nu: Mapping[str, float] | None = None
    ) -> FloatArray:
        """Return the exact normalised ln f_p(x|ν) of one process, shape (N,)."""
        i = self._process_index(process)
        return self.log_densities(x, nu)[:, i]

    def log_shape_ratio(
        self, x: FloatArray | OracleSample, process: str, nu: Mapping[str, float] | None = None
    ) -> FloatArray:
        """Return ln f_p(x|ν) - ln f_p(x|ν_0): the shape-only log ratio (0 at ν_0)."""
        i = self._process_index(process)
        xa = self._check_x(x)
        self._check_support(xa)
        full = self._resolve_nu(nu)
        now = self._log_densities(NUMPY, xa, full)[i]
        ref = self._log_densities(NUMPY, xa, self.nominal)[i]
        return np.asarray(now - ref, dtype=np.float64)

    def log_ratio(
        self, x: FloatArray | OracleSample, process: str, nu: Mapping[str, float] | None = None
    ) -> FloatArray:
        """Return ln R_p(x|ν) = ln Y_p(ν) + ln f_p(x|ν) - ln f_p(x|ν_0).

        This is ln[dσ_p(x|ν) / dσ_p(x|ν_0)] without the analytic rate factors g_p
        (normalisation nuisances), i.e. exactly what the response surrogates learn
        from nominal and varied simulation.
        """
        return self.log_shape_ratio(x, process, nu) + math.log(self.yield_ratio(process, nu))

    def fractions(
        self,
        x: FloatArray | OracleSample,
        nu: Mapping[str, float] | None = None,
        mu: float = 1.0,
    ) -> FloatArray:
        """Return the process fractions c_p(x) = n_p f_p(x) / Σ_q n_q f_q(x), shape (N, P).

        At the defaults (ν = ν_0, μ = 1) this is what a calibrated multiclass
        classifier trained on nominal simulation with the expected yields as
        class weights converges to.
        """
        xa = self._check_x(x)
        self._check_support(xa)
        full = self._resolve_nu(nu)
        logs = np.stack(self._log_densities(NUMPY, xa, full), axis=1)
        n = np.array([float(v) for v in self._yields(NUMPY, float(mu), full)])
        top = logs.max(axis=1, keepdims=True)
        terms = n * np.exp(logs - top)
        return np.asarray(terms / terms.sum(axis=1, keepdims=True), dtype=np.float64)


def check_count(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        raise TypeError(f"event count must be an int, got {type(n).__name__}")
    if n < 0:
        raise ConfigError(f"event count {n} must be >= 0")
    return int(n)
