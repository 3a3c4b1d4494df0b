"""The oracle-model interface: exact densities, yields, samplers and the exact NLL.

An oracle model is a set of processes ``p`` (signal first) with closed-form
differential cross sections

    dσ_p(x | μ, ν) = n_p(μ, ν) f_p(x | ν),
    n_p(μ, ν) = n_p^0 · g_p(μ, ν) · Y_p(ν),

where ``f_p`` is the normalised density on the (ν-independent) support,
``n_p^0`` the nominal expected yield, ``g_p`` the analytic rate factor (μ for
the signal, normalisation nuisances for backgrounds; 1 at the nominal point) and
``Y_p(ν) = A_p(ν) / A_p(ν_0)`` the change of the inclusive yield caused by
shape nuisances (an acceptance A_p: the fraction of the generated events that
falls inside the support, e.g. a mass window, when an energy scale moves them).
The response that the surrogates learn is

    R_p(x | ν) = dσ_p(x | ν) / dσ_p(x | ν_0) (rate factors g_p left out)
               = Y_p(ν) · f_p(x | ν) / f_p(x | ν_0),

available exactly as :meth:`OracleModel.log_ratio` (and without ``Y_p`` as
:meth:`OracleModel.log_shape_ratio`).

**Same events, nominal and varied.** Every event is the image of a latent
vector ``u`` of independent Uniform(0, 1) numbers under a process-specific map
``x = T_p(u; ν)`` (inverse CDFs). Three exact ways to get varied simulation:

1. :meth:`OracleModel.vary` (fixed event count). ``u`` are the quantiles of
   f_p(·|ν) inside the support; :meth:`OracleModel.sample_process` keeps them in
   :attr:`OracleSample.latent` and ``vary`` maps the *same events* to another ν
   by quantile matching: an exact sample of the normalised f_p(·|ν'), events
   move smoothly and monotonically with scale and width nuisances (for a scale
   close to, but not exactly, x → k·x when the acceptance changes); a mixture
   fraction reassigns the events whose component variable lies between the old
   and new in-support fractions (exact, but a discontinuous coupling). The
   yield change Y_p(ν) is not in these samples: use :meth:`OracleModel.yield_ratio`.
2. :meth:`OracleModel.simulate_variations` (as a detector simulation does it):
   generator-level events mapped through each ν and then selected, weighted so
   that the summed weights estimate n_p^0 Y_p(ν); a scale is exactly x → k·x,
   events leave and enter the support, ``event_index`` pairs them.
3. :meth:`OracleModel.reweight`: exact weights exp(ln f_p(x|ν) - ln f_p(x|ν_0))
   on nominal events (valid for every nuisance, smooth in ν; the support does
   not depend on ν).

**Exact extended NLL** (:meth:`OracleModel.nll`, :meth:`OracleModel.nll_torch`):

    q(μ, ν) = -2 ln L = 2 [Σ_p n_p(μ, ν) - Σ_i w_i ln Σ_p n_p(μ, ν) f_p(x_i | ν)]
              + Σ_k ((ν_k - c_k) / σ_k)²

with per-event weights ``w_i`` (1 for real data) and Gaussian constraints
``N(c_k, σ_k)`` on the constrained nuisances; parameter-independent
constants (ln N_i!, Gaussian normalisations) are left out. With an Asimov sample
(:meth:`OracleModel.asimov`) its Hessian gives the expected Fisher information,
``I = H / 2`` (:meth:`OracleModel.fisher_information`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from unbinned.exceptions import ConfigError, DataError, SchemaError
from unbinned.sim.oracle._ops import NUMPY, ArrayOps, torch_ops
from unbinned.sim.oracle._types import (
    FloatArray,
    GaussianConstraint,
    Nuisance,
    OracleSample,
)

if TYPE_CHECKING:
    import torch

__all__ = ["OracleModel", "SeedLike"]

SeedLike = int | np.random.Generator | None
#: Latent uniforms are kept inside [_U_EPS, 1 - _U_EPS] so inverse CDFs stay finite.
_U_EPS = 2.0**-53


class OracleModel(ABC):
    """Base class of the analytic oracle models (see the module docstring for the formulas).

    Subclasses declare ``processes`` (signal first), ``feature_names``,
    ``latent_dim`` and the nominal yields, and implement the closed-form
    pieces (:meth:`_log_unnormalised`, :meth:`_log_acceptance`,
    :meth:`_rate_factors`, :meth:`_in_support`, :meth:`_transform`) once,
    against :class:`~unbinned.sim.oracle._ops.ArrayOps`, so that every quantity
    exists in float64 numpy and in differentiable float64 torch.

    Parameters
    ----------
    nuisances
        The model's nuisance parameters.
    nominal_yields
        n_p^0, the expected yield of each process at μ = 1, ν = ν_0.
    free
        The nuisances fitted (profiled) by :meth:`nll`; the others are fixed at
        their nominal values unless a parameter dictionary overrides them.
        None: all.
    constraints
        Gaussian priors per nuisance name added to q. None: ``default_constraints``.
    default_constraints
        The model's own default priors.
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

    # ------------------------------------------------------------------ sampling
    def transform(
        self, process: str, latent: npt.ArrayLike, nu: Mapping[str, float] | None = None
    ) -> FloatArray:
        """Map latent Uniform(0, 1) vectors of one process to features at ν (exact inverse CDFs)."""
        i = self._process_index(process)
        u = self._check_latent(latent)
        return self._transform(i, u, self._resolve_nu(nu))

    def _check_latent(self, latent: npt.ArrayLike) -> FloatArray:
        u = np.asarray(latent, dtype=np.float64)
        if u.ndim != 2 or u.shape[1] != self.latent_dim:
            raise DataError(f"latent has shape {u.shape}; expected (N, {self.latent_dim})")
        if not np.all((u >= 0.0) & (u <= 1.0)):
            raise DataError("latent values must lie in [0, 1] (they are uniform variables)")
        return np.clip(u, _U_EPS, 1.0 - _U_EPS)

    def _draw(self, index: int, u: FloatArray, full: dict[str, float]) -> FloatArray:
        return self._transform(index, np.clip(u, _U_EPS, 1.0 - _U_EPS), full)

    def sample_process(
        self,
        process: str,
        n: int,
        nu: Mapping[str, float] | None = None,
        seed: SeedLike = None,
    ) -> OracleSample:
        """Draw ``n`` unweighted events of one process at ν (a training set).

        The latent vectors are kept, so ``model.vary(sample, nu2)`` gives the same
        events at another nuisance point.
        """
        i = self._process_index(process)
        n = _check_count(n)
        full = self._resolve_nu(nu)
        rng = np.random.default_rng(seed)
        u = rng.random((n, self.latent_dim))
        x = self._draw(i, u, full)
        return OracleSample(
            x=x,
            process=np.full(n, i, dtype=np.int64),
            weights=np.ones(n),
            feature_names=self.feature_names,
            process_names=self.processes,
            latent=u,
            nu=MappingProxyType(full),
        )

    def sample(
        self,
        mu: float = 1.0,
        nu: Mapping[str, float] | None = None,
        *,
        n_events: int | None = None,
        seed: SeedLike = None,
    ) -> OracleSample:
        """Draw a pseudo-dataset: unweighted events of all processes at (μ, ν), shuffled.

        Parameters
        ----------
        mu, nu
            Signal strength and nuisance values (missing nuisances: nominal).
        n_events
            None: the count of each process is Poisson(n_p(μ, ν)) (an extended
            pseudo-experiment). An integer: exactly that many events, split
            multinomially with probabilities n_p / Σ n_q.
        seed
            Seed or generator.
        """
        full = self._resolve_nu(nu)
        yields = np.array([float(v) for v in self._yields(NUMPY, float(mu), full)])
        if np.any(yields < 0) or not np.all(np.isfinite(yields)):
            raise ConfigError(
                f"expected yields {yields.tolist()} at mu={mu} must be finite and >= 0"
            )
        rng = np.random.default_rng(seed)
        if n_events is None:
            counts = rng.poisson(yields)
        else:
            n_events = _check_count(n_events)
            counts = rng.multinomial(n_events, yields / yields.sum())
        xs, ps, us = [], [], []
        for i, c in enumerate(counts):
            u = rng.random((int(c), self.latent_dim))
            xs.append(self._draw(i, u, full))
            ps.append(np.full(int(c), i, dtype=np.int64))
            us.append(u)
        order = rng.permutation(int(counts.sum()))
        return OracleSample(
            x=np.concatenate(xs)[order],
            process=np.concatenate(ps)[order],
            weights=np.ones(order.size),
            feature_names=self.feature_names,
            process_names=self.processes,
            latent=np.concatenate(us)[order],
            nu=MappingProxyType(full),
        )

    def vary(self, sample: OracleSample, nu: Mapping[str, float] | None) -> OracleSample:
        """Return the same events (same latent vectors, processes, weights) mapped to ν.

        The result is an exact sample of f_p(·|ν) with the same event count
        (quantile matching inside the support; see the module docstring). Scale
        and width nuisances move every event smoothly and monotonically, and
        ``vary(vary(s, ν), s.nu)`` reproduces ``s`` exactly; a mixture fraction
        reassigns the events whose component variable lies between the old and
        new fraction. For varied samples that also carry the yield change, use
        :meth:`simulate_variations`.
        """
        if not isinstance(sample, OracleSample):
            raise TypeError(f"sample must be an OracleSample, got {type(sample).__name__}")
        if sample.latent is None:
            raise DataError(
                "sample has no latent vectors (e.g. it was built by hand); draw it with "
                "sample_process()/sample() or use reweight() instead"
            )
        if sample.process_names != self.processes:
            raise ConfigError(
                f"sample processes {sample.process_names} do not match the model's {self.processes}"
            )
        full = self._resolve_nu(nu)
        u = self._check_latent(sample.latent)
        x = np.empty_like(sample.x)
        for i in range(len(self.processes)):
            sel = sample.process == i
            if np.any(sel):
                x[sel] = self._transform(i, u[sel], full)
        return replace(sample, x=x, nu=MappingProxyType(full))

    def reweight(
        self, sample: OracleSample, nu: Mapping[str, float] | None, *, include_yield: bool = False
    ) -> FloatArray:
        """Return exact per-event weight factors that turn a ν_0 sample into a ν sample.

        The factor is exp(ln f_p(x|ν) - ln f_p(x|ν_0)) for each event's process
        (times Y_p(ν) with ``include_yield``); multiply ``sample.weights`` by it.
        Valid for every nuisance, including mixture fractions, since the
        support does not depend on ν.
        """
        if not isinstance(sample, OracleSample):
            raise TypeError(f"sample must be an OracleSample, got {type(sample).__name__}")
        out = np.empty(len(sample))
        for i, p in enumerate(self.processes):
            sel = sample.process == i
            if np.any(sel):
                fn = self.log_ratio if include_yield else self.log_shape_ratio
                out[sel] = np.exp(fn(sample.x[sel], p, nu))
        return out

    def simulate_variations(
        self,
        process: str,
        n_generated: int,
        nus: Sequence[Mapping[str, float] | None],
        seed: SeedLike = None,
    ) -> list[OracleSample]:
        """Simulate generator-level events once and select them at several nuisance points.

        This is "nominal and varied simulation of the same events" as a detector
        simulation does it: ``n_generated`` events are drawn from the
        generator-level distribution of the process (before the selection), each
        variation ν maps the same latent vectors through ν (for an energy scale
        exactly x → k·x) and keeps the events inside the support. Every event
        carries the weight n_p^0 / (n_generated · A_p(ν_0)), so the summed weights
        of the sample at ν estimate n_p^0 · Y_p(ν) (the expected yield without
        the analytic rate factors), and their ratio to the nominal one estimates
        Y_p(ν). Each returned sample is an exact (equal-weight) sample of
        f_p(x|ν); ``event_index`` pairs the same event across the samples.

        Parameters
        ----------
        process
            Process name.
        n_generated
            Number of generator-level events (before the selection).
        nus
            Nuisance points, e.g. ``[None, {"energy_scale": 1.02}, ...]`` (None: nominal).
        seed
            Seed or generator.
        """
        i = self._process_index(process)
        n = _check_count(n_generated)
        points = [self._resolve_nu(nu) for nu in nus]
        rng = np.random.default_rng(seed)
        u = np.clip(rng.random((n, self.latent_dim)), _U_EPS, 1.0 - _U_EPS)
        weight = self._nominal_yields[i] / (max(n, 1) * math.exp(self._log_acc0[i]))
        out = []
        for full in points:
            x = self._transform(i, u, full, generator=True)
            keep = np.asarray(self._in_support(NUMPY, x), dtype=bool)
            idx = np.flatnonzero(keep)
            out.append(
                OracleSample(
                    x=x[keep],
                    process=np.full(idx.size, i, dtype=np.int64),
                    weights=np.full(idx.size, weight),
                    feature_names=self.feature_names,
                    process_names=self.processes,
                    latent=None,
                    nu=MappingProxyType(full),
                    event_index=idx.astype(np.int64),
                )
            )
        return out

    def asimov(
        self,
        mu: float = 1.0,
        nu: Mapping[str, float] | None = None,
        *,
        n_per_process: int = 2**16,
        seed: SeedLike = 0,
        qmc: bool = True,
    ) -> OracleSample:
        """Return an Asimov-like weighted sample: weights sum to the expected yields per process.

        Each process gets ``n_per_process`` events drawn exactly from f_p(x|ν)
        with weight n_p(μ, ν) / n_per_process, so that Σ_i w_i g(x_i) is an
        unbiased estimate of ∫ g dσ(x|μ, ν) for any g. With ``qmc`` the latent
        vectors are a scrambled Sobol sequence (n rounded up to a power of 2),
        which makes these integrals, and hence the Asimov NLL and its Hessian,
        far more accurate than plain Monte Carlo.
        """
        full = self._resolve_nu(nu)
        n = _check_count(n_per_process)
        if n == 0:
            raise ConfigError("n_per_process must be positive")
        yields = [float(v) for v in self._yields(NUMPY, float(mu), full)]
        rng = np.random.default_rng(seed)
        xs, ps, ws, us = [], [], [], []
        for i, n_p in enumerate(yields):
            if qmc:
                from scipy.stats import qmc as _qmc  # deferred: scipy.stats is slow to import

                sobol = _qmc.Sobol(d=self.latent_dim, scramble=True, rng=rng)
                u = sobol.random_base2(max(0, math.ceil(math.log2(n))))
            else:
                u = rng.random((n, self.latent_dim))
            xs.append(self._draw(i, u, full))
            ps.append(np.full(len(u), i, dtype=np.int64))
            ws.append(np.full(len(u), n_p / len(u)))
            us.append(u)
        return OracleSample(
            x=np.concatenate(xs),
            process=np.concatenate(ps),
            weights=np.concatenate(ws),
            feature_names=self.feature_names,
            process_names=self.processes,
            latent=np.concatenate(us),
            nu=MappingProxyType(full),
        )

    # ------------------------------------------------------------------ likelihood
    def params_to_dict(self, params: Mapping[str, float] | npt.ArrayLike) -> dict[str, float]:
        """Return {name: value} for a parameter dict or vector (order: :attr:`parameter_names`)."""
        mu, nu = self._point_numpy(params)
        return {self.poi_name: mu, **nu}

    def _point_numpy(
        self, params: Mapping[str, float] | npt.ArrayLike
    ) -> tuple[float, dict[str, float]]:
        if isinstance(params, Mapping):
            values = dict(params)
            mu = float(values.pop(self.poi_name, 1.0))
            return mu, self._resolve_nu(values)
        vec = np.asarray(params, dtype=np.float64)
        names = self.parameter_names
        if vec.shape != (len(names),):
            raise ConfigError(
                f"parameter vector has shape {vec.shape}; expected ({len(names)},) in the order "
                f"{names} (or pass a dict)"
            )
        return float(vec[0]), self._resolve_nu(dict(zip(names[1:], vec[1:].tolist(), strict=True)))

    def penalty(self, nu: Mapping[str, float] | None = None) -> float:
        """Return Σ_k ((ν_k - c_k)/σ_k)² over the constrained nuisances."""
        full = self._resolve_nu(nu)
        return float(sum(c.penalty(full[k]) for k, c in self._constraints.items()))

    def nll(
        self,
        params: Mapping[str, float] | npt.ArrayLike,
        x: FloatArray | OracleSample,
        weights: npt.ArrayLike | None = None,
    ) -> float:
        """Return the exact extended q = -2 ln L (numpy, float64).

        q = 2 [Σ_p n_p - Σ_i w_i ln Σ_p n_p f_p(x_i|ν)] + Σ_k ((ν_k - c_k)/σ_k)².

        Parameters
        ----------
        params
            A vector in :attr:`parameter_names` order, or a dict with any of the
            POI and nuisance names (missing: μ = 1, nominal nuisances).
        x
            Events, shape (N, d), inside the support, or an :class:`OracleSample`
            (whose weights are used unless ``weights`` is given).
        weights
            Per-event weights (default 1).

        Returns
        -------
        float
            q; +inf where the total intensity is not positive (e.g. μ < 0).
        """
        mu, nu = self._point_numpy(params)
        if weights is None and isinstance(x, OracleSample):
            weights = x.weights
        xa = self._check_x(x)
        w = self._check_weights(weights, len(xa))
        self._check_support(xa)
        n = [float(v) for v in self._yields(NUMPY, mu, nu)]
        total = sum(n)
        if len(xa):
            logs = self._log_densities(NUMPY, xa, nu)
            with np.errstate(divide="ignore", invalid="ignore"):
                log_int = NUMPY.log_weighted_sum_exp(logs, n)
            if not np.all(np.isfinite(log_int)):
                return math.inf
            total -= float(np.dot(w, log_int))
        return 2.0 * total + self.penalty(nu)

    def nll_torch(
        self,
        params: Mapping[str, Any] | torch.Tensor,
        x: Any,
        weights: Any = None,
    ) -> torch.Tensor:
        """Return q = -2 ln L as a differentiable float64 torch scalar (the formula of :meth:`nll`).

        Parameters
        ----------
        params
            A 1-D tensor in :attr:`parameter_names` order, or a dict of tensors or
            floats (missing: μ = 1, nominal nuisances). Gradients flow to every
            tensor given, so ``torch.autograd.grad`` and
            ``torch.autograd.functional.hessian`` give exact derivatives.
        x
            Events (tensor or array, shape (N, d)) inside the support, or an
            :class:`OracleSample`.
        weights
            Per-event weights (default 1, or the sample's).
        """
        import torch  # deferred: torch costs ~1 s to import; the numpy paths never need it

        ops = torch_ops()
        if weights is None and isinstance(x, OracleSample):
            weights = x.weights
        if isinstance(x, OracleSample):
            x = x.x
        xt = torch.as_tensor(x, dtype=torch.float64)
        if xt.ndim != 2:
            raise DataError(f"x has shape {tuple(xt.shape)}; expected (N, {self.n_features})")
        if xt.shape[1] != self.n_features:
            raise SchemaError(
                f"x has {xt.shape[1]} columns; expected {self.n_features} {self.feature_names}"
            )
        if not bool(torch.all(self._in_support(ops, xt))) or not bool(
            torch.all(torch.isfinite(xt))
        ):
            self._check_support(self._check_x(xt.detach().cpu().numpy()))
        w = (
            torch.ones(xt.shape[0], dtype=torch.float64, device=xt.device)
            if weights is None
            else torch.as_tensor(weights, dtype=torch.float64, device=xt.device)
        )
        if w.shape != (xt.shape[0],):
            raise DataError(f"weights have shape {tuple(w.shape)}; expected ({xt.shape[0]},)")
        mu, nu = self._point_torch(params, xt)
        n = self._yields(ops, mu, nu)
        q = sum(n)
        if xt.shape[0]:
            logs = self._log_densities(ops, xt, nu)
            q = q - torch.dot(w, ops.log_weighted_sum_exp(logs, n))
        pen = sum(c.penalty(nu[k]) for k, c in self._constraints.items())
        return 2.0 * q + pen

    def _point_torch(
        self, params: Mapping[str, Any] | Any, like: Any
    ) -> tuple[Any, dict[str, Any]]:
        import torch  # deferred: torch costs ~1 s to import; the numpy paths never need it

        ops = torch_ops()
        if isinstance(params, Mapping):
            values = dict(params)
            mu = values.pop(self.poi_name, 1.0)
        else:
            vec = torch.as_tensor(params, dtype=torch.float64)
            names = self.parameter_names
            if vec.shape != (len(names),):
                raise ConfigError(
                    f"parameter vector has shape {tuple(vec.shape)}; expected ({len(names)},) "
                    f"in the order {names} (or pass a dict)"
                )
            mu = vec[0]
            values = {name: vec[j + 1] for j, name in enumerate(names[1:])}
        nu: dict[str, Any] = {}
        for name, value in values.items():
            self._require_nuisance(name)
            plain = value.detach() if isinstance(value, torch.Tensor) else value
            self._check_value(name, float(plain))
            nu[name] = ops.scalar(value, like)
        for nuis in self._nuisances:
            if nuis.name not in nu:
                nu[nuis.name] = ops.scalar(nuis.nominal, like)
        return ops.scalar(mu, like), nu

    def fisher_information(
        self,
        mu: float = 1.0,
        nu: Mapping[str, float] | None = None,
        *,
        n_per_process: int = 2**16,
        seed: SeedLike = 0,
    ) -> tuple[tuple[str, ...], FloatArray]:
        """Return the expected Fisher information of the free parameters at (μ, ν).

        I = H / 2, H the exact (autodiff) Hessian of :meth:`nll_torch` on the
        Asimov sample :meth:`asimov` (quasi-Monte Carlo), constraints included.
        The expected uncertainty of parameter j with the others profiled is
        sqrt((I⁻¹)_jj).

        Returns
        -------
        names, matrix
            :attr:`parameter_names` and the (P, P) matrix.
        """
        import torch  # deferred: torch costs ~1 s to import; the numpy paths never need it

        full = self._resolve_nu(nu)
        data = self.asimov(mu, full, n_per_process=n_per_process, seed=seed)
        xt = torch.as_tensor(data.x)
        wt = torch.as_tensor(data.weights)
        fixed = {k: v for k, v in full.items() if k not in self._free}
        names = self.parameter_names

        def q(vec: torch.Tensor) -> torch.Tensor:
            point: dict[str, Any] = {names[j]: vec[j] for j in range(len(names))}
            point.update(fixed)
            return self.nll_torch(point, xt, wt)

        p0 = torch.tensor([float(mu)] + [full[k] for k in self._free], dtype=torch.float64)
        hess = torch.autograd.functional.hessian(q, p0)
        return names, np.asarray(hess.detach().numpy(), dtype=np.float64) / 2.0


def _check_count(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        raise TypeError(f"event count must be an int, got {type(n).__name__}")
    if n < 0:
        raise ConfigError(f"event count {n} must be >= 0")
    return int(n)
