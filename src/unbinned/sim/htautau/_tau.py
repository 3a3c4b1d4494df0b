r"""τ lepton decays: leptonic (ℓνν) and hadronic (τ_h ν), with polarisation.

Each decay is generated in the τ rest frame and boosted along the τ flight
direction (:func:`decay_along_axis`), so the visible products are nearly
collinear with the τ (opening angle ~ m_τ/E_τ) and the neutrinos carry the rest.

* **Leptonic** τ → ℓνν (ℓ massless): the Michel spectrum of the charged lepton in
  the rest frame, :math:`y = 2E^*_\ell/m_\tau`,

  .. math:: \frac{d\Gamma}{dy\,d\cos\theta} \propto y^2\left[(3 - 2y) + P (1 - 2y)\cos\theta\right],

  whose collinear (lab) limit is the known :math:`f(x) = 5/3 - 3x^2 + 4/3\,x^3`
  for an unpolarised τ (Bullock, Hagiwara, Martin, Nucl. Phys. B395 (1993) 499).
* **Hadronic** τ → hν, a two-body decay: :math:`E^*_h = (m_\tau^2 + m_h^2)/2m_\tau`,
  :math:`d\Gamma/d\cos\theta \propto 1 + \alpha_h P \cos\theta` with analysing power
  :math:`\alpha_\pi = 1`, :math:`\alpha_h = (m_\tau^2 - 2m_h^2)/(m_\tau^2 + 2m_h^2)` for
  the vector/axial mesons ρ and a1; in the collinear limit the visible fraction is
  uniform on :math:`[m_h^2/m_\tau^2, 1]` for P = 0.

``P`` here is the *effective* polarisation: the τ⁻ helicity, or minus the τ⁺
helicity, so that a single convention covers both charges (the π⁻ from τ⁻ follows
the τ⁻ spin, the π⁺ from τ⁺ opposes it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from unbinned.sim.htautau._kinematics import (
    P4,
    FloatArray,
    decay_along_axis,
    hypot,
    inverse_cdf_table,
    linear_cos_theta,
    take_rows,
)
from unbinned.sim.htautau._random import F32, random, uniform

__all__ = [
    "HADRONIC_MODES",
    "M_TAU",
    "RestFrameDecay",
    "TauDecay",
    "decay_hadronic",
    "decay_leptonic",
    "sample_hadronic",
    "sample_leptonic",
]

M_TAU = 1.77686
"""τ mass in GeV (PDG)."""

_PI_MASS = 0.13957


@dataclass(frozen=True)
class _HadMode:
    name: str
    fraction: float  # of all hadronic decays
    mass: float
    width: float  # Breit-Wigner width (0: fixed mass)
    mass_range: tuple[float, float]


HADRONIC_MODES: tuple[_HadMode, ...] = (
    # PDG branching ratios: π ν 10.82 %, π π0 ν (ρ) 25.49 %, the rest of the 64.79 %
    # hadronic width (3π, π 2π0, K modes, ...) lumped into an a1-like system.
    _HadMode("pi", 10.82 / 64.79, _PI_MASS, 0.0, (_PI_MASS, _PI_MASS)),
    _HadMode("rho", 25.49 / 64.79, 0.7755, 0.1491, (0.3, 1.5)),
    _HadMode("a1", 28.48 / 64.79, 1.23, 0.42, (0.5, 1.7)),
)
"""Hadronic decay modes with their share of the hadronic width and mass line shape."""

# Inverse CDF of the Michel spectrum y^2 (3 - 2y) on [0, 1], F(y) = 2y^3 - y^4,
# tabulated on a uniform grid of F for an O(1) lookup (then one Newton step).
_N_TABLE = 4096
_Y_FINE = np.linspace(0.0, 1.0, 1 << 16)
_MICHEL_INV = np.interp(
    np.linspace(0.0, 1.0, _N_TABLE + 1),
    *inverse_cdf_table(_Y_FINE**2 * (3.0 - 2.0 * _Y_FINE), _Y_FINE),
).astype(F32)


def _michel_y(u: FloatArray) -> FloatArray:
    """Invert F(y) = 2y³ - y⁴ = u: table lookup and one Newton step."""
    t = u * _N_TABLE
    i = np.minimum(t.astype(np.intp), _N_TABLE - 1)
    y0 = np.take(_MICHEL_INV, i)
    y = y0 + (t - i.astype(t.dtype)) * (np.take(_MICHEL_INV, i + 1) - y0)
    y2 = y * y
    slope = 6.0 * y2 - 4.0 * y2 * y
    step = np.divide(2.0 * y2 * y - y2 * y2 - u, slope, out=np.zeros_like(y), where=slope > 1e-3)
    return np.clip(y - step, 0.0, 1.0)


@dataclass
class TauDecay:
    """Products of τ decays, one entry per τ."""

    visible: P4
    """Visible decay products (lepton, or the hadronic system)."""
    neutrinos: P4
    """Sum of the neutrinos, τ minus visible."""
    mode: npt.NDArray[np.int8]
    """-2 electron/muon, 0 π, 1 ρ, 2 a1-like."""


@dataclass
class RestFrameDecay:
    """A τ decay drawn in the τ rest frame, before it is boosted (one entry per τ).

    Angles are about the τ flight direction (the helicity axis).
    """

    e_star: FloatArray
    p_star: FloatArray
    cos_theta: FloatArray
    phi: FloatArray
    mode: npt.NDArray[np.int8]

    def take(self, idx: npt.NDArray[np.intp]) -> RestFrameDecay:
        """Return the entries at ``idx``."""
        e_star, p_star, cos_theta, phi = (
            take_rows(a, idx) for a in (self.e_star, self.p_star, self.cos_theta, self.phi)
        )
        return RestFrameDecay(e_star, p_star, cos_theta, phi, take_rows(self.mode, idx))

    def visible_pt_bound(self, tau: P4) -> FloatArray:
        r"""Upper bound of the visible pT, without building the visible four-vector.

        With :math:`p_\parallel = \gamma(p^*\cos\theta + \beta E^*)` along the τ
        and :math:`p_\perp = p^*\sin\theta`:
        :math:`p_T \le |p_\parallel|\, p_T^\tau/|\vec p^\tau| + p_\perp`.
        """
        pabs = np.sqrt(tau.px * tau.px + tau.py * tau.py + tau.pz * tau.pz)
        ppar = (tau.e * self.p_star * self.cos_theta + pabs * self.e_star) / M_TAU
        sin_theta = np.sqrt(np.maximum(1.0 - self.cos_theta**2, 0.0))
        return np.asarray(np.abs(ppar) * hypot(tau.px, tau.py) / pabs + self.p_star * sin_theta)

    def apply(self, tau: P4) -> TauDecay:
        """Boost the decay into the frame of ``tau``: visible products and neutrinos."""
        vis = decay_along_axis(tau, self.e_star, self.p_star, self.cos_theta, self.phi, M_TAU)
        return TauDecay(vis, tau - vis, self.mode)


def _truncated_breit_wigner(
    rng: np.random.Generator, n: int, mass: float, width: float, lo: float, hi: float
) -> FloatArray:
    """Non-relativistic Breit–Wigner truncated to [lo, hi], by inverting its CDF."""
    if width <= 0.0:
        return np.full(n, mass, dtype=F32)
    a_lo = math.atan(2.0 * (lo - mass) / width)
    a_hi = math.atan(2.0 * (hi - mass) / width)
    t = np.tan(uniform(rng, a_lo, a_hi, n))
    t *= 0.5 * width
    t += mass
    return t


def sample_leptonic(rng: np.random.Generator, polarisation: FloatArray) -> RestFrameDecay:
    """Draw τ → ℓνν decays (polarised Michel spectrum; massless lepton)."""
    n = int(polarisation.shape[0])
    y = _michel_y(random(rng, n))
    slope = polarisation * (1.0 - 2.0 * y) / (3.0 - 2.0 * y)
    cos_theta = linear_cos_theta(slope, random(rng, n))
    e_star = 0.5 * M_TAU * y
    phi = uniform(rng, -math.pi, math.pi, n)
    return RestFrameDecay(e_star, e_star, cos_theta, phi, np.full(n, -2, dtype=np.int8))


def sample_hadronic(rng: np.random.Generator, polarisation: FloatArray) -> RestFrameDecay:
    """Draw τ → hν decays (h = π, ρ or a1-like) with the polarised two-body angular law."""
    n = int(polarisation.shape[0])
    fractions = np.array([m.fraction for m in HADRONIC_MODES])
    u = random(rng, n)
    # searchsorted(cdf, u, side="right"): the number of CDF values <= u
    mode = np.zeros(n, dtype=np.int8)
    for c in (np.cumsum(fractions) / fractions.sum())[: len(HADRONIC_MODES) - 1].tolist():
        mode += u >= c
    m_h = np.empty(n, dtype=F32)
    for k, spec in enumerate(HADRONIC_MODES):
        sel = np.flatnonzero(mode == k)  # faster than a boolean mask
        if spec.width <= 0.0:
            m_h[sel] = spec.mass
        else:
            m_h[sel] = _truncated_breit_wigner(
                rng, sel.size, spec.mass, spec.width, *spec.mass_range
            )
    np.minimum(m_h, M_TAU - 0.05, out=m_h)
    mt2 = M_TAU * M_TAU
    mh2 = np.multiply(m_h, m_h, out=m_h)
    e_star = mt2 + mh2
    e_star /= 2.0 * M_TAU
    p_star = mt2 - mh2
    p_star /= 2.0 * M_TAU
    mh2 *= 2.0
    alpha = mt2 - mh2
    alpha /= np.add(mh2, mt2, out=mh2)
    alpha[mode == 0] = 1.0
    alpha *= polarisation
    cos_theta = linear_cos_theta(alpha, random(rng, n))
    phi = uniform(rng, -math.pi, math.pi, n)
    return RestFrameDecay(e_star, p_star, cos_theta, phi, mode)


def decay_leptonic(rng: np.random.Generator, tau: P4, polarisation: FloatArray) -> TauDecay:
    """Decay τ → ℓνν with the polarised Michel spectrum; the lepton is massless."""
    return sample_leptonic(rng, polarisation).apply(tau)


def decay_hadronic(rng: np.random.Generator, tau: P4, polarisation: FloatArray) -> TauDecay:
    """Decay τ → hν (h = π, ρ or a1-like) with the polarised two-body angular law."""
    return sample_hadronic(rng, polarisation).apply(tau)
