r"""Fisher information, expected uncertainties, impacts and pulls.

With q = -2 ln L, the observed Fisher information is I = ½ ∂²q/∂θ∂θ' (exact,
autodiff); on the Asimov dataset it is the expected information.  The profiled
information of a parameter of interest μ, with the nuisances ν profiled, is the
Schur complement

.. math:: I^{prof}_{μμ} = I_{μμ} - I_{μν} I_{νν}^{-1} I_{νμ},

and σ_μ = (I^{prof}_{μμ})^{-1/2} = sqrt((I⁻¹)_{μμ}) is the expected uncertainty.

Impacts (as in the ATLAS/CMS convention): each nuisance is fixed at its best-fit
value ± its post-fit (or prior) uncertainty, every other parameter is refitted,
and the shift of μ̂ is recorded.  Pulls are (θ̂ − θ₀)/σ_prior with the
constraint σ_post/σ_prior.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from unbinned.exceptions import ConfigError
from unbinned.infer.mle import FitResult, Fittable, _limits, fit

__all__ = [
    "FisherResult",
    "Impact",
    "Pull",
    "fisher_information",
    "impacts",
    "impacts_by_poi",
    "pulls",
]


@dataclass(frozen=True)
class FisherResult:
    """Fisher information at a point and the uncertainties it implies."""

    parameter_names: tuple[str, ...]
    floating: tuple[str, ...]
    information: npt.NDArray[np.float64]
    point: dict[str, float]

    def covariance(self) -> npt.NDArray[np.float64]:
        """I⁻¹ over the floating parameters."""
        return np.asarray(np.linalg.inv(self.information), dtype=np.float64)

    def sigma(self, poi: str) -> float:
        """Expected uncertainty of ``poi`` with every other floating parameter profiled.

        NaN when the inverse information has no positive variance there (an
        information matrix that is not positive definite, e.g. a badly trained
        learned likelihood): there is no expected uncertainty to report.
        """
        i = self._index(poi)
        var = float(self.covariance()[i, i])
        return math.sqrt(var) if var > 0 else math.nan

    def sigma_fixed(self, poi: str) -> float:
        """Uncertainty of ``poi`` with every nuisance fixed (statistics only): I_μμ^{-1/2}."""
        i = self._index(poi)
        return float(1.0 / math.sqrt(self.information[i, i]))

    def profiled_information(self, poi: str) -> float:
        """I_μμ − I_μν I_νν⁻¹ I_νμ."""
        i = self._index(poi)
        rest = [j for j in range(len(self.floating)) if j != i]
        a = self.information[i, i]
        if not rest:
            return float(a)
        b = self.information[i, rest]
        c = self.information[np.ix_(rest, rest)]
        return float(a - b @ np.linalg.solve(c, b))

    def _index(self, poi: str) -> int:
        if poi not in self.floating:
            raise ConfigError(f"{poi!r} is not a floating parameter; floating: {self.floating}")
        return self.floating.index(poi)

    def __repr__(self) -> str:
        sig = ", ".join(f"σ({n}) = {self.sigma(n):.4g}" for n in self.floating[:4])
        return f"FisherResult({len(self.floating)} floating parameters; {sig})"


def fisher_information(
    likelihood: Fittable,
    point: dict[str, float] | None = None,
    *,
    fixed: Sequence[str] = (),
) -> FisherResult:
    """Observed Fisher information ½ ∂²q/∂θ∂θ' at ``point`` (expected on Asimov data).

    Parameters
    ----------
    likelihood
        Use ``likelihood.asimov(theta)`` for the expected information at θ.
    point
        Parameter values (default: the start values of the declaration).
    fixed
        Parameters held fixed (removed from the matrix).
    """
    x = likelihood.vector(point)
    h = 0.5 * likelihood.hessian(x)
    names = tuple(likelihood.parameter_names)
    spec_fixed = {n.name for n in getattr(likelihood.spec, "nuisances", ()) if n.prior == "fixed"}
    floating = tuple(n for n in names if n not in set(fixed) | spec_fixed)
    idx = [names.index(n) for n in floating]
    return FisherResult(
        names, floating, h[np.ix_(idx, idx)], dict(zip(names, x.tolist(), strict=True))
    )


@dataclass(frozen=True)
class Impact:
    """Shift of the POI when one nuisance is moved by ± its uncertainty and the rest refitted."""

    nuisance: str
    up: float
    down: float
    prefit_up: float
    prefit_down: float

    @property
    def size(self) -> float:
        """max(|up|, |down|) of the post-fit impact (the ranking key)."""
        return max(abs(self.up), abs(self.down))


@dataclass(frozen=True)
class Pull:
    """Post-fit pull (θ̂ − θ₀)/σ_prior and constraint σ_post/σ_prior of one nuisance."""

    nuisance: str
    pull: float
    constraint: float


def _prior_width(spec: object, name: str) -> float | None:
    for n in getattr(spec, "nuisances", ()):
        if n.name == name:
            if n.prior == "gaussian":
                return float(n.width)
            if n.prior == "lognormal":
                return float(n.width * n.nominal)
            return None
    return None


def impacts(
    likelihood: Fittable,
    poi: str,
    best: FitResult,
    *,
    nuisances: Sequence[str] | None = None,
    seed: int = 0,
) -> list[Impact]:
    """Pre- and post-fit impacts of each nuisance on ``poi``, ranked by post-fit size.

    Post-fit: θ fixed at θ̂ ± σ̂ (HESSE); pre-fit: θ fixed at θ̂ ± σ_prior (skipped,
    reported as NaN, for nuisances without a Gaussian or log-normal prior).  Every
    POI at once (the same fits): :func:`impacts_by_poi`.
    """
    return impacts_by_poi(likelihood, [poi], best, nuisances=nuisances, seed=seed)[poi]


def impacts_by_poi(
    likelihood: Fittable,
    pois: Sequence[str],
    best: FitResult,
    *,
    nuisances: Sequence[str] | None = None,
    seed: int = 0,
) -> dict[str, list[Impact]]:
    """The impacts of each nuisance on each of ``pois``, from one set of fits.

    As :func:`impacts`, whose four fits per nuisance (θ̂ ± σ̂, θ̂ ± σ_prior; every
    other parameter, the other POIs among them, refitted) give the shift of every
    POI at once.  Returns ``{poi: impacts ranked by post-fit size}`` in the order of
    ``pois``.
    """
    pois = list(pois)
    if not pois:
        raise ConfigError("impacts_by_poi needs at least one parameter of interest")
    for poi in pois:
        if poi not in best.values:
            raise ConfigError(
                f"unknown parameter of interest {poi!r}; the fit has {list(best.values)}"
            )
    declared = set(getattr(likelihood.spec, "poi_names", ())) | set(pois)
    names = [
        n
        for n in (nuisances or best.parameter_names)
        if n not in declared and n not in best.fixed and best.errors.get(n, 0.0) > 0
    ]
    limits = _limits(likelihood)
    out: dict[str, list[Impact]] = {p: [] for p in pois}
    for name in names:
        shifts: dict[str, list[float]] = {p: [] for p in pois}
        prior = _prior_width(likelihood.spec, name)
        for width in (best.errors[name], prior):
            for sign in (1.0, -1.0):
                if width is None:
                    for p in pois:
                        shifts[p].append(math.nan)
                    continue
                value = best.values[name] + sign * width
                b = limits.get(name)
                if b is not None:
                    value = float(np.clip(value, b[0], b[1]))
                init = {k: v for k, v in best.values.items() if k != name}
                r = fit(likelihood, init=init, fixed={**_fixed(best), name: value}, seed=seed)
                for p in pois:
                    shifts[p].append(r.values[p] - best.values[p] if r.valid else math.nan)
        for p in pois:
            s = shifts[p]
            out[p].append(Impact(name, s[0], s[1], s[2], s[3]))
    return {
        p: sorted(found, key=lambda i: -i.size if math.isfinite(i.size) else 0.0)
        for p, found in out.items()
    }


def _fixed(best: FitResult) -> dict[str, float]:
    return {n: best.values[n] for n in best.fixed}


def pulls(likelihood: Fittable, best: FitResult) -> list[Pull]:
    """Pulls and constraints of every constrained nuisance."""
    out = []
    for n in getattr(likelihood.spec, "nuisances", ()):
        prior = _prior_width(likelihood.spec, n.name)
        if prior is None or n.name in best.fixed:
            continue
        out.append(
            Pull(n.name, (best.values[n.name] - n.nominal) / prior, best.errors[n.name] / prior)
        )
    return out
