"""The result of measuring a parameter of interest: value, profiled interval, validity.

:class:`Measurement` carries the fit and the interval objects, every fitted
parameter (values, HESSE errors, the correlation matrix of the fit's covariance)
and the pulls of the constrained nuisances, and reads well as a table (plain and
HTML); :func:`measure_likelihood` fits a likelihood and profiles the interval of
each of its parameters of interest.

Several POIs: the measurement is that of the first (or the chosen) POI, and
:attr:`Measurement.pois` maps every POI to its own measurement from the same
global fit (its own profiled interval); their correlation is
``m.correlation_of("mu_a", "mu_b")``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from unbinned.binned.likelihood import BinnedLikelihood
from unbinned.exceptions import ConfigError
from unbinned.infer.fisher import Pull, pulls
from unbinned.infer.intervals import Interval, delta_q, profile_interval, profile_scan_2d
from unbinned.infer.mle import FitResult, fit
from unbinned.likelihood.nll import Likelihood
from unbinned.likelihood.tensors import EventTensors

__all__ = ["Measurement", "Scan2D", "measure_likelihood", "scan_2d"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Measurement:
    """The measurement of a parameter of interest on one dataset.

    Attributes
    ----------
    poi
        Parameter name.
    value, lower, upper
        Best fit and the profiled interval at ``cl`` (every other parameter
        profiled).
    cl
        Confidence level of the interval.
    method
        ``"unbinned"`` or ``"binned"``.
    valid
        The fit and both interval edges are valid.
    fit
        The global fit (all parameters, covariance, status).
    interval
        The interval object (method used, notes).
    n_events
        Events (sum of weights) in the data.
    seconds
        Wall time of fit + interval.
    binned
        The binned baseline's measurement on the same data, if asked for.
    counts
        For a binned measurement, the observed counts per region in the template
        bins: with them the binned fit can be redone (another template model, the
        same binning) without the events.
    warnings
        Failed self-checks of the analysis that made it (e.g. its surrogates' health
        report, :func:`~unbinned.analysis.surrogate_health`); empty when none failed.
    notes
        What the reader should know that is not a failure, e.g. that the analysis's
        health check was not run and why.
    pulls
        Every constrained (Gaussian or log-normal prior), floating nuisance:
        pull (θ̂ − θ₀)/σ_prior and constraint σ̂/σ_prior (σ̂ the HESSE error; for a
        log-normal prior σ_prior = width · θ₀, :func:`unbinned.infer.pulls`).
    pois
        With several POIs: every POI's measurement from the same global fit (each
        with its own profiled interval, this one included); None with one POI.

    Every fitted parameter is in :attr:`values`, :attr:`errors` and
    :attr:`correlation` (from the fit's covariance), all in :meth:`to_dict`.
    """

    poi: str
    value: float
    lower: float
    upper: float
    cl: float
    method: str
    valid: bool
    fit: FitResult = field(repr=False)
    interval: Interval = field(repr=False)
    n_events: float
    seconds: float
    binned: Measurement | None = None
    counts: Mapping[str, FloatArray] | None = field(default=None, repr=False)
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    pulls: tuple[Pull, ...] = field(default=(), repr=False)
    pois: Mapping[str, Measurement] | None = field(default=None, repr=False)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Every parameter of the fit, in its order (POIs first)."""
        return tuple(self.fit.parameter_names)

    @property
    def values(self) -> dict[str, float]:
        """Best-fit value of every parameter."""
        return dict(self.fit.values)

    @property
    def errors(self) -> dict[str, float]:
        """HESSE error of every parameter (0 for fixed ones and those at a bound)."""
        return dict(self.fit.errors)

    @property
    def correlation(self) -> FloatArray:
        """Correlation matrix of the fit (:attr:`parameter_names` order).

        ρ_ij = C_ij / √(C_ii C_jj) of the covariance C = 2 H⁻¹; rows of fixed
        parameters and of those at a bound are zero.
        """
        return self.fit.correlation()

    def correlation_of(self, a: str, b: str) -> float:
        """The correlation of parameters ``a`` and ``b`` in the global fit."""
        names = self.parameter_names
        for n in (a, b):
            if n not in names:
                raise KeyError(f"no parameter {n!r}; the fit has {list(names)}")
        return float(self.correlation[names.index(a), names.index(b)])

    def __getitem__(self, poi: str) -> Measurement:
        """The measurement of POI ``poi`` (this one for its own POI)."""
        if poi == self.poi:
            return self
        if self.pois is None or poi not in self.pois:
            known = [self.poi] if self.pois is None else list(self.pois)
            raise KeyError(f"no parameter of interest {poi!r}; measured: {known}")
        return self.pois[poi]

    @property
    def lo(self) -> float:
        """Lower interval edge (alias of ``lower``)."""
        return self.lower

    @property
    def hi(self) -> float:
        """Upper interval edge (alias of ``upper``)."""
        return self.upper

    @property
    def width(self) -> float:
        """upper - lower."""
        return self.upper - self.lower

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers (JSON-ready), the binned baseline's under ``"binned"``."""
        out: dict[str, Any] = {
            "poi": self.poi,
            "value": self.value,
            "lower": self.lower,
            "upper": self.upper,
            "width": self.width,
            "cl": self.cl,
            "method": self.method,
            "valid": self.valid,
            "status": self.fit.status,
            "at_limit": list(self.fit.at_limit),
            "interval_method": self.interval.method,
            "n_events": self.n_events,
            "seconds": self.seconds,
            "parameters": dict(self.fit.values),
            "errors": dict(self.fit.errors),
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "correlation": {
                "parameters": list(self.parameter_names),
                "matrix": self.correlation.tolist(),
            },
            "pulls": {p.nuisance: {"pull": p.pull, "constraint": p.constraint} for p in self.pulls},
        }
        if self.pois is not None:
            out["pois"] = {
                k: {key: m.to_dict()[key] for key in ("value", "lower", "upper", "width", "valid")}
                for k, m in self.pois.items()
            }
        if self.binned is not None:
            out["binned"] = self.binned.to_dict()
        return out

    def _row(self) -> str:
        lo, hi = self.value - self.lower, self.upper - self.value
        flag = "" if self.valid else "  INVALID"
        if self.poi in self.fit.at_limit:  # e.g. the top of its declared range
            flag += f"  ({self.poi} = {self.value:g} on a bound of its range)"
        return (
            f"  {self.method:<9}{self.value:>10.4f}{-lo:>+10.4f}{hi:>+10.4f}"
            f"{self.width:>10.4f}{self.seconds:>9.2f} s{flag}"
        )

    def _poi_rows(self) -> list[str]:
        """One row per POI (several POIs) and their correlations."""
        if self.pois is None:
            return []
        rows = [f"  {'POI':<12}{'value':>10}{'-err':>10}{'+err':>10}{'binned width':>14}"]
        for k, m in self.pois.items():
            b = self.binned.pois.get(k) if self.binned and self.binned.pois else None
            bw = f"{b.width:>14.4f}" if b is not None else f"{'':>14}"
            flag = "" if m.valid else "  INVALID"
            rows.append(f"  {k:<12}{m.value:>10.4f}{m.lower - m.value:>+10.4f}"
                        f"{m.upper - m.value:>+10.4f}{bw}{flag}")  # fmt: skip
        names = list(self.pois)
        for i, a in enumerate(names):
            for b_name in names[i + 1 :]:
                rows.append(f"  corr({a}, {b_name}) = {self.correlation_of(a, b_name):+.3f}")
        return rows

    def _parameter_rows(self) -> list[str]:
        """The compact table of every fitted parameter (MC-statistics γ summarised).

        Value, HESSE error, pull and constraint, and the correlation with the POI (the
        POI's column of :attr:`correlation`; the whole matrix is in :meth:`to_dict`).
        """
        pull = {p.nuisance: p for p in self.pulls}
        names = list(self.parameter_names)
        corr = self.correlation
        # the POI's column of the correlation matrix (None: no such matrix)
        poi_corr = (corr[names.index(self.poi)] if self.poi in names
                    and corr.shape == (len(names), len(names)) else None)  # fmt: skip
        head = f"corr({self.poi})"
        rows = [f"  {'parameter':<16}{'value':>12}{'error':>10}{'pull':>8}{'constr.':>9}"
                f"{head:>{max(12, len(head) + 2)}}"]  # fmt: skip
        n_gamma = 0
        for i, n in enumerate(names):
            if n.startswith("staterror_"):
                n_gamma += 1
                continue
            p = pull.get(n)
            extra = f"{p.pull:>+8.2f}{p.constraint:>9.3f}" if p is not None else f"{'':>17}"
            if poi_corr is not None:
                extra += f"{poi_corr[i]:>+{max(12, len(head) + 2)}.3f}"
            flag = "  (fixed)" if n in self.fit.fixed else (
                "  (at limit)" if n in self.fit.at_limit else "")  # fmt: skip
            rows.append(f"  {n:<16}{self.fit.values[n]:>12.6g}{self.fit.errors[n]:>10.4g}"
                        f"{extra}{flag}")  # fmt: skip
        if n_gamma:
            rows.append(f"  (+ {n_gamma} MC-statistics γ, in .values)")
        return rows

    def __repr__(self) -> str:
        head = (
            f"Measurement({self.poi} at {100 * self.cl:.3g}% CL, {self.n_events:.6g} events)\n"
            f"  {'method':<9}{'value':>10}{'-err':>10}{'+err':>10}{'width':>10}{'time':>11}"
        )
        rows = [self._row()] + ([self.binned._row()] if self.binned is not None else [])
        if self.binned is not None and self.binned.width > 0:
            rows.append(f"  width ratio unbinned/binned: {self.width / self.binned.width:.3f}")
        rows += self._poi_rows()
        rows += [f"  {self.method} fit parameters:", *self._parameter_rows()]
        return "\n".join([head, *rows, *(f"  WARNING: {w}" for w in self.warnings),
                          *(f"  NOTE: {n}" for n in self.notes)])  # fmt: skip

    def _repr_html_(self) -> str:
        rows = [self] + ([self.binned] if self.binned is not None else [])
        body = "".join(
            f"<tr><td>{m.method}</td><td>{m.value:.4f}</td><td>[{m.lower:.4f}, {m.upper:.4f}]"
            f"</td><td>{m.width:.4f}</td><td>{'valid' if m.valid else 'INVALID'}</td></tr>"
            for m in rows
        )
        return (
            f"<table><tr><th colspan=5>{self.poi} at {100 * self.cl:.3g}% CL</th></tr>"
            "<tr><th>method</th><th>value</th><th>interval</th><th>width</th><th>fit</th></tr>"
            f"{body}</table>"
        )


def measure_likelihood(
    lik: Likelihood | BinnedLikelihood,
    poi: str,
    cl: float,
    seed: int,
    method: str,
    tensors: EventTensors | None,
    n_events: float | None = None,
    *,
    pois: Sequence[str] | None = None,
) -> Measurement:
    """Fit ``lik`` (:func:`~unbinned.infer.fit`) and profile the interval of ``poi`` at ``cl``.

    ``method`` labels the result (``"unbinned"``, ``"binned"``); the number of events
    is ``n_events`` if given, else the sum of the weights of ``tensors`` (NaN without).
    With ``pois`` (several names, ``poi`` among them) every one of them gets its
    profiled interval from the same global fit, in :attr:`Measurement.pois`.
    """
    t0 = time.perf_counter()
    best = fit(lik, seed=seed)
    names = [poi] if not pois or len(pois) < 2 else list(pois)
    if poi not in names:
        raise ConfigError(f"poi {poi!r} is not among the parameters of interest {names}")
    intervals = {k: profile_interval(lik, k, cl=cl, best=best, seed=seed) for k in names}
    seconds = time.perf_counter() - t0
    n = n_events if n_events is not None else (tensors.sum_weights if tensors else math.nan)
    the_pulls = tuple(pulls(lik, best))

    def one(k: str) -> Measurement:
        iv = intervals[k]
        return Measurement(
            poi=k, value=best.values[k], lower=iv.lower, upper=iv.upper, cl=cl, method=method,
            valid=bool(best.valid and iv.valid), fit=best, interval=iv, n_events=float(n),
            seconds=seconds, pulls=the_pulls,
        )  # fmt: skip

    out = one(poi)
    if len(names) > 1:
        out = replace(out, pois={k: one(k) for k in names})
    return out


@dataclass(frozen=True, eq=False)
class Scan2D:
    """A profiled Δq scan on a grid of two parameters of interest.

    Attributes
    ----------
    pois
        The two parameters (x, y).
    x, y
        The grid values.
    delta_q
        Δq = q(x, y) − q̂ profiled over every other parameter, shape (len(x), len(y)).
    best
        The global fit.
    method
        ``"unbinned"`` or ``"binned"``.
    """

    pois: tuple[str, str]
    x: FloatArray
    y: FloatArray
    delta_q: FloatArray
    best: FitResult = field(repr=False)
    method: str = "unbinned"

    def level(self, cl: float = 0.6827) -> float:
        """The Δq of a joint ``cl`` region in two parameters (2.30 for 68.27 %)."""
        return delta_q(cl, ndof=2)

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers (JSON-ready)."""
        return {
            "pois": list(self.pois), "x": self.x.tolist(), "y": self.y.tolist(),
            "delta_q": self.delta_q.tolist(), "method": self.method,
            "best": {k: self.best.values[k] for k in self.pois},
        }  # fmt: skip

    def __repr__(self) -> str:
        a, b = self.pois
        return (
            f"Scan2D({self.method}: {a} × {b} on {self.x.size} × {self.y.size} points, best "
            f"({self.best.values[a]:.4g}, {self.best.values[b]:.4g}), "
            f"min Δq {np.nanmin(self.delta_q):.3g})"
        )


def scan_2d(
    lik: Likelihood | BinnedLikelihood,
    pois: tuple[str, str],
    values: tuple[npt.ArrayLike, npt.ArrayLike],
    *,
    seed: int = 0,
    method: str = "unbinned",
) -> Scan2D:
    """Fit ``lik`` and scan Δq on the grid ``values`` of ``pois``.

    Every other parameter is profiled at each point
    (:func:`~unbinned.infer.profile_scan_2d`).
    """
    best = fit(lik, seed=seed)
    x, y, dq = profile_scan_2d(lik, pois, values, best=best, seed=seed)
    return Scan2D(pois, x, y, dq, best, method)
