"""The result of measuring a parameter of interest: value, profiled interval, validity.

:class:`Measurement` carries the fit and the interval objects and reads well as a
table (plain and HTML); :func:`measure_likelihood` fits a likelihood and profiles
the interval of its parameter of interest.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from unbinned.binned.likelihood import BinnedLikelihood
from unbinned.infer.intervals import Interval, profile_interval
from unbinned.infer.mle import FitResult, fit
from unbinned.likelihood.nll import Likelihood
from unbinned.likelihood.tensors import EventTensors

__all__ = ["Measurement", "measure_likelihood"]

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

    def __repr__(self) -> str:
        head = (
            f"Measurement({self.poi} at {100 * self.cl:.3g}% CL, {self.n_events:.6g} events)\n"
            f"  {'method':<9}{'value':>10}{'-err':>10}{'+err':>10}{'width':>10}{'time':>11}"
        )
        rows = [self._row()] + ([self.binned._row()] if self.binned is not None else [])
        if self.binned is not None and self.binned.width > 0:
            rows.append(f"  width ratio unbinned/binned: {self.width / self.binned.width:.3f}")
        return "\n".join([head, *rows, *(f"  WARNING: {w}" for w in self.warnings)])

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
) -> Measurement:
    """Fit ``lik`` (:func:`~unbinned.infer.fit`) and profile the interval of ``poi`` at ``cl``.

    ``method`` labels the result (``"unbinned"``, ``"binned"``); the number of events
    is ``n_events`` if given, else the sum of the weights of ``tensors`` (NaN without).
    """
    t0 = time.perf_counter()
    best = fit(lik, seed=seed)
    iv = profile_interval(lik, poi, cl=cl, best=best, seed=seed)
    seconds = time.perf_counter() - t0
    n = n_events if n_events is not None else (tensors.sum_weights if tensors else math.nan)
    return Measurement(
        poi=poi,
        value=best.values[poi],
        lower=iv.lower,
        upper=iv.upper,
        cl=cl,
        method=method,
        valid=bool(best.valid and iv.valid),
        fit=best,
        interval=iv,
        n_events=float(n),
        seconds=seconds,
    )
