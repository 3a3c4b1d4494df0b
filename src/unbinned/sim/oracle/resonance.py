"""A resonance search in three features: signal, peaking and continuum backgrounds, five nuisances.

Physically flavoured but closed-form oracle model (all densities exact, every
normalisation analytic). Features x = (mass, pt, cos_theta), observed in the
selection window mass ∈ [50, 200] GeV, pt > 0, cos_theta ∈ [-1, 1].

Generator-level components (before the window); k = ``energy_scale``,
w = ``resolution``::

    signal     mass ~ N(125 k, (12.5 k w)²)   pt ~ Gamma(4, scale 12 k)  cos ~ 1/2
    peak_bkg   mass ~ N(91.2 k, (10 k w)²)    pt ~ Gamma(2, scale 10 k)  cos ~ (1 + c²)·3/8
    cont_bkg   a two-component mixture, fraction f = ``mix_frac`` of the steep one:
      steep    mass ~ Exp(scale 30 k)         pt ~ Gamma(2, scale 12 k)  cos ~ (1 + c²/2)·3/7
      shallow  mass ~ Exp(scale 80 k)         pt ~ Gamma(3, scale 15 k)  cos ~ (1 + c²/2)·3/7

The energy scale multiplies mass and pt of every process (density
f(x/k)/k² in those two features), the resolution scales the widths of both
peaks, f moves the continuum between its components. The window acceptance
of each component is closed-form,

    A_peak(k, w) = Φ((200 - kM)/(kSw)) - Φ((50 - kM)/(kSw)),
    A_exp(k)     = exp(-50/(kτ)) - exp(-200/(kτ)),
    A_cont       = f A_steep + (1 - f) A_shallow,

so the observed density is h(x)/A (h the generator-level density) and shape
nuisances also change the yields, Y_p(ν) = A_p(ν)/A_p(ν_0) (as a selection does
in a real analysis). Normalisation nuisances: ``peak_norm`` θ scales the
peaking background by 1.1^θ (log-normal, θ ~ N(0, 1)); ``cont_norm`` scales
the continuum linearly (Gaussian, N(1, 0.05)).

Latent variables per event: (u_component, u_mass, u_pt, u_cos), mapped by
inverse CDFs (truncated normal or exponential in the window, Gamma, and the
closed-form root of the angular cubic).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import special

from unbinned.exceptions import ConfigError
from unbinned.sim.oracle._base import OracleModel
from unbinned.sim.oracle._ops import NUMPY as _NUMPY_OPS
from unbinned.sim.oracle._ops import ArrayOps
from unbinned.sim.oracle._types import FloatArray, GaussianConstraint, Nuisance

__all__ = ["ResonanceModel"]

MASS_WINDOW = (50.0, 200.0)

# (mass mean, mass sigma, pt shape, pt scale, angular coefficient a) at k = w = 1
_SIGNAL = (125.0, 12.5, 4.0, 12.0, 0.0)
_PEAK = (91.2, 10.0, 2.0, 10.0, 1.0)
# (exponential mass scale, pt shape, pt scale, angular coefficient a)
_STEEP = (30.0, 2.0, 12.0, 0.5)
_SHALLOW = (80.0, 3.0, 15.0, 0.5)
_PEAK_KAPPA = 1.1

_NUISANCES = (
    Nuisance(
        "energy_scale",
        nominal=1.0,
        width=0.02,
        low=0.9,
        high=1.1,
        description="multiplies mass and pt of every process (moves events across the window)",
    ),
    Nuisance(
        "resolution",
        nominal=1.0,
        width=0.1,
        low=0.5,
        high=2.0,
        description="scales the mass width of the signal and peaking background",
    ),
    Nuisance(
        "mix_frac",
        nominal=0.6,
        width=0.1,
        low=0.05,
        high=0.95,
        description="generator-level fraction of the steep component of the continuum",
    ),
    Nuisance(
        "peak_norm",
        nominal=0.0,
        width=1.0,
        low=-5.0,
        high=5.0,
        kind="normalisation",
        description="log-normal normalisation of the peaking background: factor 1.1**theta",
    ),
    Nuisance(
        "cont_norm",
        nominal=1.0,
        width=0.05,
        low=0.5,
        high=1.5,
        kind="normalisation",
        description="linear normalisation factor of the continuum background",
    ),
)

_DEFAULT_CONSTRAINTS = {
    "energy_scale": GaussianConstraint(1.0, 0.02),
    "resolution": GaussianConstraint(1.0, 0.1),
    "mix_frac": GaussianConstraint(0.6, 0.1),
    "peak_norm": GaussianConstraint(0.0, 1.0),
    "cont_norm": GaussianConstraint(1.0, 0.05),
}

_DEFAULT_YIELDS = {"signal": 200.0, "peak_bkg": 3000.0, "cont_bkg": 6000.0}


def _angular_logpdf(ops: ArrayOps, c: Any, a: float) -> Any:
    """Return ln[(1 + a c²) / (2 + 2a/3)] on [-1, 1]."""
    norm = math.log(2.0 + 2.0 * a / 3.0)
    if a == 0.0:
        return 0.0 * c - norm
    return ops.log1p(a * c * c) - norm


def _angular_ppf(u: FloatArray, a: float) -> FloatArray:
    """Invert F(c) = (c + 1 + a (c³ + 1)/3) / (2 + 2a/3): the real root of a cubic."""
    y = u * (2.0 + 2.0 * a / 3.0) - 1.0 - a / 3.0
    if a == 0.0:
        return np.asarray(y, dtype=np.float64)
    # c³ + p c + q = 0 with p = 3/a > 0: c = -2 sqrt(p/3) sinh(asinh(3q/(2p) sqrt(3/p)) / 3)
    p = 3.0 / a
    q = -3.0 * y / a
    root = -2.0 * math.sqrt(p / 3.0) * np.sinh(np.arcsinh(1.5 * q / p * math.sqrt(3.0 / p)) / 3.0)
    return np.asarray(np.clip(root, -1.0, 1.0), dtype=np.float64)


class ResonanceModel(OracleModel):
    """A resonance over peaking and continuum backgrounds (see the module docstring).

    Parameters
    ----------
    yields
        Nominal expected yields in the window at μ = 1 per process; default
        signal 200, peak_bkg 3000, cont_bkg 6000.
    free
        Nuisances fitted by :meth:`nll` (default: all five).
    constraints
        Gaussian priors by nuisance name (default: ``energy_scale`` N(1, 0.02),
        ``resolution`` N(1, 0.1), ``mix_frac`` N(0.6, 0.1), ``peak_norm`` N(0, 1),
        ``cont_norm`` N(1, 0.05)); pass ``{}`` for none.

    Examples
    --------
    >>> model = ResonanceModel()
    >>> train = model.sample_process("signal", 1000, seed=0)
    >>> shifted = model.vary(train, {"energy_scale": 1.02})  # the same events, scaled
    """

    name = "resonance_3d"
    processes = ("signal", "peak_bkg", "cont_bkg")
    feature_names = ("mass", "pt", "cos_theta")
    latent_dim = 4

    def __init__(
        self,
        *,
        yields: Mapping[str, float] | None = None,
        free: Sequence[str] | None = None,
        constraints: Mapping[str, GaussianConstraint] | None = None,
    ) -> None:
        chosen = dict(_DEFAULT_YIELDS)
        if yields is not None:
            for key, value in yields.items():
                if key not in chosen:
                    raise ConfigError(
                        f"unknown process {key!r} in yields; expected one of {self.processes}"
                    )
                chosen[key] = float(value)
        super().__init__(
            _NUISANCES,
            [chosen[p] for p in self.processes],
            free=free,
            constraints=constraints,
            default_constraints=_DEFAULT_CONSTRAINTS,
        )

    # ---------------------------------------------------------------- pieces
    @staticmethod
    def _peak_window(ops: ArrayOps, spec: tuple[float, ...], k: Any, w: Any) -> tuple[Any, Any]:
        mean, sigma = spec[0] * k, spec[1] * k * w
        lo, hi = MASS_WINDOW
        return (lo - mean) / sigma, (hi - mean) / sigma

    @staticmethod
    def _exp_log_acceptance(ops: ArrayOps, tau: float, k: Any) -> Any:
        lo, hi = MASS_WINDOW
        scale = tau * k
        return -lo / scale + ops.log1p(-ops.exp(-(hi - lo) / scale))

    def _log_unnormalised(self, ops: ArrayOps, x: Any, nu: Mapping[str, Any]) -> list[Any]:
        m, pt, c = x[:, 0], x[:, 1], x[:, 2]
        k, w, f = nu["energy_scale"], nu["resolution"], nu["mix_frac"]
        out = []
        for mean, sigma, shape, scale, a in (_SIGNAL, _PEAK):
            out.append(
                ops.normal_logpdf(m, mean * k, sigma * k * w)
                + ops.gamma_logpdf(pt, shape, scale * k)
                + _angular_logpdf(ops, c, a)
            )
        comps = []
        for tau, shape, scale, a in (_STEEP, _SHALLOW):
            comps.append(
                -ops.log(tau * k)
                - m / (tau * k)
                + ops.gamma_logpdf(pt, shape, scale * k)
                + _angular_logpdf(ops, c, a)
            )
        out.append(ops.log_weighted_sum_exp(comps, [f, 1.0 - f]))
        return out

    def _log_acceptance(self, ops: ArrayOps, nu: Mapping[str, Any]) -> list[Any]:
        k, w, f = nu["energy_scale"], nu["resolution"], nu["mix_frac"]
        out = []
        for spec in (_SIGNAL, _PEAK):
            lo, hi = self._peak_window(ops, spec, k, w)
            out.append(ops.log(ops.ndtr(hi) - ops.ndtr(lo)))
        a_steep = ops.exp(self._exp_log_acceptance(ops, _STEEP[0], k))
        a_shallow = ops.exp(self._exp_log_acceptance(ops, _SHALLOW[0], k))
        out.append(ops.log(f * a_steep + (1.0 - f) * a_shallow))
        return out

    def _rate_factors(self, ops: ArrayOps, mu: Any, nu: Mapping[str, Any]) -> list[Any]:
        return [mu, ops.exp(nu["peak_norm"] * math.log(_PEAK_KAPPA)), nu["cont_norm"]]

    def _in_support(self, ops: ArrayOps, x: Any) -> Any:
        lo, hi = MASS_WINDOW
        m, pt, c = x[:, 0], x[:, 1], x[:, 2]
        return (m >= lo) & (m <= hi) & (pt > 0.0) & (c >= -1.0) & (c <= 1.0)

    def steep_fraction_in_window(self, nu: Mapping[str, float] | None = None) -> float:
        """Return the fraction of continuum events in the window that come from the steep part."""
        full = self._resolve_nu(nu)
        k, f = full["energy_scale"], full["mix_frac"]
        a1 = math.exp(float(self._exp_log_acceptance(_NUMPY_OPS, _STEEP[0], k)))
        a2 = math.exp(float(self._exp_log_acceptance(_NUMPY_OPS, _SHALLOW[0], k)))
        return f * a1 / (f * a1 + (1.0 - f) * a2)

    def _transform(
        self, index: int, u: FloatArray, nu: Mapping[str, float], *, generator: bool = False
    ) -> FloatArray:
        k, w = nu["energy_scale"], nu["resolution"]
        lo_w, hi_w = MASS_WINDOW
        if index < 2:
            mean, sigma, shape, scale, a = (_SIGNAL, _PEAK)[index]
            if generator:
                z = special.ndtri(u[:, 1])
            else:
                lo, hi = self._peak_window(_NUMPY_OPS, (mean, sigma), k, w)
                c_lo, c_hi = special.ndtr(lo), special.ndtr(hi)
                z = special.ndtri(c_lo + u[:, 1] * (c_hi - c_lo))
            mass = k * (mean + sigma * w * z)
            if not generator:
                mass = np.clip(mass, lo_w, hi_w)
            pt = scale * k * special.gammaincinv(shape, u[:, 2])
            cos = _angular_ppf(u[:, 3], a)
            return np.column_stack([mass, pt, cos]).astype(np.float64)
        frac = nu["mix_frac"] if generator else self.steep_fraction_in_window(nu)
        steep = u[:, 0] < frac
        mass = np.empty(len(u))
        pt = np.empty(len(u))
        cos = np.empty(len(u))
        for sel, (tau, shape, scale, a) in ((steep, _STEEP), (~steep, _SHALLOW)):
            if generator:
                mass[sel] = -k * tau * np.log1p(-u[sel, 1])
            else:
                s_lo, s_hi = math.exp(-lo_w / (tau * k)), math.exp(-hi_w / (tau * k))
                surv = s_lo - u[sel, 1] * (s_lo - s_hi)
                mass[sel] = np.clip(-tau * k * np.log(surv), lo_w, hi_w)
            pt[sel] = scale * k * special.gammaincinv(shape, u[sel, 2])
            cos[sel] = _angular_ppf(u[sel, 3], a)
        return np.column_stack([mass, pt, cos]).astype(np.float64)
