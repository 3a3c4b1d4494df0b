r"""Hard-process generators: H → ττ (ggH, VBF), Z → ττ, tt̄ and diboson, lep–had final states.

Each generator returns :class:`HardEvents`: the true visible lepton and τ_h (or
fake τ_h), the sum of the neutrinos, the partons that become jets (b quarks, W
decay quarks, VBF tag jets), calorimeter deposits outside any object and the hard
system whose transverse momentum the initial-state radiation (:func:`isr_jets`)
balances.  Events whose visible pT cannot reach the raw selection
(:class:`TruthCuts`) are dropped before the expensive steps.
Only lep–had final states are generated: branching ratios are absorbed into the
per-process normalisation.  Everything is vectorised; a channel mixture is
generated channel by channel (the stored events of a batch are drawn in random
order).

The transverse momentum of a hard system follows
:math:`dN/dq_T \propto q_T (q_T^2 + a^2)^{-b}`, sampled by inverting its CDF
:math:`F(q_T) = 1 - (1 + q_T^2/a^2)^{1-b}`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from unbinned.data._fastmath import select, wrap_angle
from unbinned.sim.htautau._config import SimulationConfig
from unbinned.sim.htautau._kinematics import (
    P4,
    FloatArray,
    boost,
    boost_many,
    cos,
    decay_along_axis,
    from_pt_eta_phi_m,
    hypot,
    p4_sum,
    pt_eta_phi,
    rapidity,
    rest_frame_direction,
    row_sum,
    sin,
    take_rows,
    two_body_momentum,
)
from unbinned.sim.htautau._random import (
    F32,
    capped_poisson,
    normal,
    random,
    sign,
    uniform,
)
from unbinned.sim.htautau._tau import (
    M_TAU,
    TauDecay,
    decay_hadronic,
    decay_leptonic,
    sample_hadronic,
    sample_leptonic,
)

__all__ = [
    "GENERATORS",
    "MODE_GGH",
    "MODE_NONE",
    "MODE_VBF",
    "TRUTH_COLUMNS",
    "HardEvents",
    "TruthCuts",
    "isr_jets",
]

MODE_NONE, MODE_GGH, MODE_VBF = 0, 1, 2
"""Production-mode codes (``production_mode`` column: "none", "ggH", "VBF")."""

TRUTH_COLUMNS: tuple[str, ...] = (
    "gen_boson_pt",
    "gen_boson_eta",
    "gen_boson_y",
    "gen_boson_phi",
    "gen_boson_mass",
    "gen_lep_pt",
    "gen_had_pt",
    "gen_met",
    "gen_lep_x",
    "gen_had_x",
    "gen_had_mode",
    "gen_lep_from_tau",
)
"""Generator-level columns (``with_truth=True``).  The "boson" is the hard system:
H or Z for the resonances, the tt̄ pair, the diboson pair.  ``gen_*_x`` are the
visible energy fractions of the τ decays (NaN when the object is not a τ product);
``gen_had_mode``: 0 π, 1 ρ, 2 a1-like, -1 a jet faking τ_h, -2 an electron or muon."""


@dataclass
class HardEvents:
    """Parton-level lep–had events before ISR and detector (one entry per event)."""

    lep: P4
    had: P4
    nu_x: FloatArray
    nu_y: FloatArray
    system: P4
    jets: P4  # (n, k) partons; pt = 0 marks an empty slot
    deposit_x: FloatArray  # measured deposits in no object: the part of a fake τ_h's jet
    deposit_y: FloatArray  # that the τ_h calibration leaves out (enters MET with response 1)
    isr_rate: FloatArray
    isr_qt: FloatArray  # hard scale of the ISR rate: the system qT (the Higgs qT for VBF)
    mode: npt.NDArray[np.int8]
    truth: dict[str, FloatArray]

    def take(self, idx: npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> HardEvents:
        """Return the events selected by a boolean mask or an index array."""
        return HardEvents(
            self.lep.take(idx),
            self.had.take(idx),
            take_rows(self.nu_x, idx),
            take_rows(self.nu_y, idx),
            self.system.take(idx),
            self.jets.take(idx),
            take_rows(self.deposit_x, idx),
            take_rows(self.deposit_y, idx),
            take_rows(self.isr_rate, idx),
            take_rows(self.isr_qt, idx),
            take_rows(self.mode, idx),
            {k: take_rows(v, idx) for k, v in self.truth.items()},
        )

    def __len__(self) -> int:
        return int(self.lep.e.shape[0])


def _concat(parts: list[HardEvents]) -> HardEvents:
    """Concatenate channel blocks, padding jet slots.

    The events come out grouped by channel; :func:`~._simulate.simulate` draws the
    stored events of a batch in random order, so the mixture stays unbiased.
    """
    k = max(p.jets.e.shape[1] for p in parts)

    def pad(a: FloatArray) -> FloatArray:
        return np.pad(a, ((0, 0), (0, k - a.shape[1])))

    out: dict[str, object] = {}
    for f in fields(HardEvents):
        vals = [getattr(p, f.name) for p in parts]
        if f.name == "jets":
            out[f.name] = P4(*(np.concatenate([pad(v[i]) for v in vals]) for i in range(4)))
        elif isinstance(vals[0], P4):
            out[f.name] = P4(*(np.concatenate([v[i] for v in vals]) for i in range(4)))
        elif isinstance(vals[0], dict):
            out[f.name] = {key: np.concatenate([v[key] for v in vals]) for key in vals[0]}
        else:
            out[f.name] = np.concatenate(vals)
    return HardEvents(**out)  # type: ignore[arg-type]


def _counts(rng: np.random.Generator, n: int, fractions: list[float]) -> list[int]:
    p = np.asarray(fractions, dtype=np.float64)
    return [int(c) for c in rng.multinomial(n, p / p.sum())]


# --------------------------------------------------------------------------- helpers


def _sample_qt(rng: np.random.Generator, n: int, a: float, b: float) -> FloatArray:
    u = rng.random(n)  # float64: the tail of the power law needs u near 1
    return (a * np.sqrt(np.expm1(-np.log1p(-u) / (b - 1.0)))).astype(F32)


def _system(
    rng: np.random.Generator, mass: FloatArray, qt_a: float, qt_b: float, y_sigma: float
) -> P4:
    """A system of given mass with a Drell–Yan-like qT and a Gaussian rapidity."""
    n = int(mass.shape[0])
    qt = _sample_qt(rng, n, qt_a, qt_b)
    phi = uniform(rng, -math.pi, math.pi, n)
    y = normal(rng, 0.0, y_sigma, n)
    mt = np.sqrt(mass * mass + qt * qt)
    return P4(mt * np.cosh(y), qt * cos(phi), qt * sin(phi), mt * np.sinh(y))


def _relativistic_bw(
    rng: np.random.Generator, n: int, mass: float, width: float, lo: float, hi: float
) -> FloatArray:
    r"""Masses from :math:`d\sigma/ds \propto 1/((s - M^2)^2 + M^2\Gamma^2)` on [lo², hi²]."""
    mg = mass * width
    a_lo = math.atan((lo * lo - mass * mass) / mg)
    a_hi = math.atan((hi * hi - mass * mass) / mg)
    s = np.tan(uniform(rng, a_lo, a_hi, n))
    s *= mg
    s += mass * mass
    return np.sqrt(s, out=s)


def _two_body(
    rng: np.random.Generator,
    parent: P4,
    m1: FloatArray | float,
    m2: FloatArray | float,
    cos_theta: FloatArray | None = None,
    mass: FloatArray | None = None,
) -> tuple[P4, P4]:
    """Two-body decay, isotropic (or with ``cos_theta`` about the z axis) in the rest frame.

    ``mass``: the parent's mass where known (√(E² − p²) of a very forward parent loses
    its digits in float32).
    """
    n = int(parent.e.shape[0])
    m = parent.mass if mass is None else mass
    p = two_body_momentum(m, m1, m2)
    if cos_theta is None:
        cos_theta = uniform(rng, -1.0, 1.0, n)
    dx, dy, dz = rest_frame_direction(cos_theta, uniform(rng, -math.pi, math.pi, n))
    e1 = np.sqrt(p * p + m1 * m1)
    e2 = np.sqrt(p * p + m2 * m2)
    px, py, pz = p * dx, p * dy, p * dz
    d1, d2 = boost_many(parent, m, P4(e1, px, py, pz), P4(e2, -px, -py, -pz))
    return d1, d2


def _one_plus_cos2(u: FloatArray) -> FloatArray:
    r"""Invert the CDF of :math:`\frac{3}{8}(1 + c^2)`.

    The CDF equals u at the real root of :math:`c^3 + 3c + 4 - 8u = 0` (Cardano).
    """
    q = 4.0 - 8.0 * u
    r = np.sqrt(0.25 * q * q + 1.0)
    return np.asarray(np.cbrt(-0.5 * q + r) + np.cbrt(-0.5 * q - r))


def _w_helicity_cos(rng: np.random.Generator, n: int, f0: float) -> FloatArray:
    r"""Charged-lepton helicity angle in t → bW, W → ℓν (F_R = 0).

    :math:`\frac{1}{\Gamma}\frac{d\Gamma}{d\cos\theta^*} = \frac34 F_0 \sin^2\theta^*
    + \frac38 F_L (1 - \cos\theta^*)^2`; the first term is the law of the median of
    three uniform numbers on [-1, 1], the second inverts to :math:`1 - 2u^{1/3}`.
    """
    longitudinal = random(rng, n) < f0
    a, b, c = uniform(rng, -1.0, 1.0, (3, n))
    med = np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))  # median of three
    left = 1.0 - 2.0 * np.cbrt(random(rng, n))
    return select(longitudinal, med, left)


def _massless(p: P4) -> P4:
    """Same three-momentum, zero mass (a parton or jet)."""
    pabs = np.sqrt(p.px * p.px + p.py * p.py + p.pz * p.pz)
    return P4(pabs, p.px, p.py, p.pz)


def _stack(*parts: P4) -> P4:
    """Stack per-event four-vectors into an (n, k) block."""
    return P4(*(np.stack([p[i] for p in parts], axis=1) for i in range(4)))


def _no_jets(n: int) -> P4:
    z = np.zeros((n, 0), dtype=F32)
    return P4(z, z, z, z)


def _system_truth(system: P4, mass: FloatArray | None = None) -> dict[str, FloatArray]:
    """The ``gen_boson_*`` columns; ``mass``: the generated mass where known (a resonance)."""
    pt, eta, phi = pt_eta_phi(system)
    y = rapidity(system)
    return {
        "gen_boson_pt": pt,
        "gen_boson_eta": eta,
        "gen_boson_y": y,
        "gen_boson_phi": phi,
        "gen_boson_mass": system.mass if mass is None else mass,
    }


def _finish_truth(
    truth: dict[str, FloatArray],
    lep: P4,
    had: P4,
    nu_x: FloatArray,
    nu_y: FloatArray,
    lep_x: FloatArray,
    had_x: FloatArray,
    had_mode: npt.NDArray[np.int8],
    lep_from_tau: FloatArray,
) -> dict[str, FloatArray]:
    truth = dict(truth)
    truth["gen_lep_pt"] = lep.pt
    truth["gen_had_pt"] = had.pt
    truth["gen_met"] = hypot(nu_x, nu_y)
    truth["gen_lep_x"] = lep_x
    truth["gen_had_x"] = had_x
    truth["gen_had_mode"] = had_mode.astype(np.float64)
    truth["gen_lep_from_tau"] = lep_from_tau
    return truth


# --------------------------------------------------------------------------- resonances


class TruthCuts(NamedTuple):
    """Generator-level lower bounds of the visible pT that can still pass the raw selection.

    Set by the detector model from its thresholds and resolution ranges; events
    below them are dropped before the expensive steps (this changes nothing but
    the speed).  ``with_truth = False`` leaves :attr:`HardEvents.truth` empty (no
    ``gen_*`` columns wanted: their work is skipped; the random draws are the same).
    """

    lep_pt_min: float
    had_pt_min: float
    with_truth: bool = True


def _resonance_to_lephad(
    rng: np.random.Generator,
    res: P4,
    mass: FloatArray,
    cos_theta: FloatArray,
    pol_minus: FloatArray,
    pol_plus: FloatArray,
    cuts: TruthCuts,
) -> tuple[npt.NDArray[np.intp], TauDecay, TauDecay, P4, P4]:
    """Decay a resonance into τ⁻τ⁺, one τ leptonically and the other hadronically.

    Returns the indices of the events kept (those whose visible pT bounds reach
    ``cuts``), the two decays and the two τ of the kept events.  The leptonic side
    is drawn and bounded first (it rejects most), the hadronic side only for the
    events it keeps.
    """
    n = int(mass.shape[0])
    p = np.sqrt(np.maximum(0.25 * mass * mass - M_TAU * M_TAU, 0.0))
    dx, dy, dz = rest_frame_direction(cos_theta, uniform(rng, -math.pi, math.pi, n))
    e = 0.5 * mass
    # τ_a decays leptonically, τ_b hadronically; whether τ_a is the τ⁻ only sets the
    # polarisations (the angular distributions are symmetric under d -> -d)
    px, py, pz = p * dx, p * dy, p * dz
    tau_lep = boost(P4(e, px, py, pz), res, mass)
    if pol_minus is pol_plus:  # (Z: the same helicity for both) no choice to draw
        pol_lep = pol_had = pol_minus
    else:
        minus_is_lep = random(rng, n) < 0.5
        pol_lep = select(minus_is_lep, pol_minus, pol_plus)
        pol_had = select(minus_is_lep, pol_plus, pol_minus)
    lep_decay = sample_leptonic(rng, pol_lep)
    keep = np.flatnonzero(lep_decay.visible_pt_bound(tau_lep) >= cuts.lep_pt_min)
    tau_lep, lep_decay = tau_lep.take(keep), lep_decay.take(keep)
    res, mass, e = res.take(keep), take_rows(mass, keep), take_rows(e, keep)
    back = P4(e, *(-take_rows(c, keep) for c in (px, py, pz)))
    tau_had = boost(back, res, mass)
    had_decay = sample_hadronic(rng, take_rows(pol_had, keep))
    keep_had = np.flatnonzero(had_decay.visible_pt_bound(tau_had) >= cuts.had_pt_min)
    keep = take_rows(keep, keep_had)
    tau_lep, tau_had = tau_lep.take(keep_had), tau_had.take(keep_had)
    lep = lep_decay.take(keep_had).apply(tau_lep)
    had = had_decay.take(keep_had).apply(tau_had)
    return keep, lep, had, tau_lep, tau_had


def _tautau_events(
    rng: np.random.Generator,
    res: P4,
    mass: FloatArray,
    cos_theta: FloatArray,
    pol_minus: FloatArray,
    pol_plus: FloatArray,
    jets: P4,
    system: P4,
    isr_rate: float,
    mode: int,
    cuts: TruthCuts,
) -> HardEvents:
    keep, lep, had, tau_lep, tau_had = _resonance_to_lephad(
        rng, res, mass, cos_theta, pol_minus, pol_plus, cuts
    )
    n = keep.size
    res, system = res.take(keep), system.take(keep)
    jets = jets.take(keep)
    nu = p4_sum(lep.neutrinos, had.neutrinos)
    truth = (
        {}
        if not cuts.with_truth
        else _finish_truth(
            _system_truth(res, take_rows(mass, keep)),
            lep.visible,
            had.visible,
            nu.px,
            nu.py,
            lep.visible.e / tau_lep.e,
            had.visible.e / tau_had.e,
            had.mode,
            np.ones(n),
        )
    )
    zeros = np.zeros(n, dtype=F32)
    return HardEvents(
        lep.visible,
        had.visible,
        nu.px,
        nu.py,
        system,
        jets,
        zeros,
        zeros.copy(),
        np.full(n, isr_rate, dtype=F32),
        res.pt,
        np.full(n, mode, dtype=np.int8),
        truth,
    )


def generate_ztautau(
    rng: np.random.Generator, n: int, cfg: SimulationConfig, cuts: TruthCuts
) -> HardEvents:
    """Z/γ* → ττ: Breit–Wigner mass plus a γ*/Z continuum, Drell–Yan qT and rapidity.

    The decay is (1 + cos²θ) in the rest frame; the continuum (a fraction
    ``z_continuum_fraction`` of the pairs, dσ/dm ∝ m^-k) reaches the Higgs mass and
    beyond, an irreducible background to H → ττ.

    The τ pair carries the Z's longitudinal spin correlation: opposite helicities,
    the τ⁻ helicity +1 with probability (1 + P_τ)/2.
    """
    mass = _relativistic_bw(rng, n, cfg.z_mass, cfg.z_width, cfg.z_mass_min, cfg.z_mass_max)
    # γ*/Z continuum (Drell–Yan): dσ/dm ∝ m^-k on [z_continuum_min, z_continuum_max]
    k1 = 1.0 - cfg.z_continuum_power
    lo, hi = cfg.z_continuum_min**k1, cfg.z_continuum_max**k1
    continuum = uniform(rng, lo, hi, n) ** (1.0 / k1)
    mass = select(random(rng, n) < cfg.z_continuum_fraction, continuum, mass)
    z = _system(rng, mass, cfg.z_qt_scale, cfg.z_qt_power, cfg.z_rapidity_sigma)
    cos_theta = _one_plus_cos2(random(rng, n))
    h = sign(rng, 0.5 * (1.0 + cfg.z_tau_polarisation), n)
    return _tautau_events(
        rng, z, mass, cos_theta, h, h, _no_jets(n), z, cfg.isr_rate_z, MODE_NONE, cuts
    )


def _higgs_ggh(
    rng: np.random.Generator, n: int, cfg: SimulationConfig, cuts: TruthCuts
) -> HardEvents:
    mass = np.full(n, cfg.h_mass, dtype=F32)
    h = _system(rng, mass, cfg.ggh_qt_scale, cfg.ggh_qt_power, cfg.h_rapidity_sigma)
    return _higgs_decay(rng, h, mass, _no_jets(n), h, cfg.isr_rate_ggh, MODE_GGH, cuts)


def _higgs_vbf(
    rng: np.random.Generator, n: int, cfg: SimulationConfig, cuts: TruthCuts
) -> HardEvents:
    """VBF: two forward tag jets with a large rapidity gap; the Higgs balances them."""
    mass = np.full(n, cfg.h_mass, dtype=F32)
    pt1, pt2 = rng.standard_gamma(2.0, (2, n), dtype=F32) * cfg.vbf_jet_pt_scale
    phi1, phi2 = uniform(rng, -math.pi, math.pi, (2, n))
    centre = normal(rng, 0.0, cfg.vbf_eta_centre_sigma, n)
    deta = np.abs(normal(rng, cfg.vbf_deta_mean, cfg.vbf_deta_sigma, n))
    half = 0.5 * sign(rng, 0.5, n) * deta
    j1 = from_pt_eta_phi_m(pt1, centre + half, phi1, 0.0)
    j2 = from_pt_eta_phi_m(pt2, centre - half, phi2, 0.0)
    qx = -(j1.px + j2.px)
    qy = -(j1.py + j2.py)
    y = centre + normal(rng, 0.0, 0.6, n)
    mt = np.sqrt(mass * mass + qx * qx + qy * qy)
    h = P4(mt * np.cosh(y), qx, qy, mt * np.sinh(y))
    system = p4_sum(h, j1, j2)
    return _higgs_decay(rng, h, mass, _stack(j1, j2), system, cfg.isr_rate_vbf, MODE_VBF, cuts)


def _higgs_decay(
    rng: np.random.Generator,
    h: P4,
    mass: FloatArray,
    jets: P4,
    system: P4,
    isr_rate: float,
    mode: int,
    cuts: TruthCuts,
) -> HardEvents:
    """H → ττ: isotropic, equal τ helicities (scalar), i.e. opposite effective polarisations."""
    n = int(mass.shape[0])
    hel = sign(rng, 0.5, n)
    return _tautau_events(
        rng, h, mass, uniform(rng, -1.0, 1.0, n), hel, -hel, jets, system, isr_rate, mode, cuts
    )


def generate_htautau(
    rng: np.random.Generator, n: int, cfg: SimulationConfig, cuts: TruthCuts
) -> HardEvents:
    """H → ττ from gluon fusion (ISR jets) and VBF (two tag jets)."""
    n_ggh, n_vbf = _counts(rng, n, [1.0 - cfg.vbf_fraction, cfg.vbf_fraction])
    return _concat([_higgs_ggh(rng, n_ggh, cfg, cuts), _higgs_vbf(rng, n_vbf, cfg, cuts)])


# --------------------------------------------------------------------------- tt̄ and dibosons


def _w_to_charged(
    rng: np.random.Generator,
    w: P4,
    m_charged: float,
    cos_theta: FloatArray,
    mw: FloatArray | None = None,
) -> tuple[P4, P4]:
    """W → (ℓ or τ) ν with a given helicity angle of the charged lepton (W in any frame).

    ``mw``: the W mass where known (as for :func:`_two_body`).
    """
    n = int(w.e.shape[0])
    mw = w.mass if mw is None else mw
    p = two_body_momentum(mw, m_charged, 0.0)
    e = np.sqrt(p * p + m_charged * m_charged)
    charged = decay_along_axis(w, e, p, cos_theta, uniform(rng, -math.pi, math.pi, n), mw)
    return charged, w - charged


def _top_decay(rng: np.random.Generator, top: P4, cfg: SimulationConfig) -> tuple[P4, P4]:
    """t → bW in the top rest frame (isotropic): returns (b, W) in the top rest frame."""
    n = int(top.e.shape[0])
    mw = _relativistic_bw(rng, n, cfg.w_mass, cfg.w_width, 50.0, cfg.top_mass - cfg.b_mass - 1.0)
    zeros = np.zeros(n, dtype=F32)
    rest = P4(np.full(n, cfg.top_mass, dtype=F32), zeros, zeros, zeros)
    w, b = _two_body(rng, rest, mw, cfg.b_mass)
    return b, w


def _leptonic_leg(
    rng: np.random.Generator,
    w: P4,
    from_tau: npt.NDArray[np.bool_],
    cfg: SimulationConfig,
    mw: FloatArray | None = None,
) -> tuple[P4, P4, FloatArray]:
    """W → ℓν, or W → τν with τ → ℓνν (P = -1); returns (lepton, neutrinos, lepton x).

    ``mw``: the W mass where known (as for :func:`_two_body`).
    """
    n = int(w.e.shape[0])
    cos_theta = _w_helicity_cos(rng, n, cfg.w_longitudinal_fraction)
    mass = from_tau * F32(M_TAU)
    mw = w.mass if mw is None else mw
    p = two_body_momentum(mw, mass, 0.0)
    e = np.sqrt(p * p + mass * mass)
    charged = decay_along_axis(w, e, p, cos_theta, uniform(rng, -math.pi, math.pi, n), mw)
    nu = w - charged
    lep = _massless(charged)
    x = np.full(n, np.nan, dtype=F32)
    taus = np.flatnonzero(from_tau)  # decayed alone (15 % in tt̄): no work for direct leptons
    tau = charged.take(taus)
    dec = decay_leptonic(rng, tau, np.full(taus.size, -1.0, dtype=F32))
    for c_lep, c_vis, c_nu, c_inv in zip(lep, dec.visible, nu, dec.neutrinos, strict=True):
        c_lep[taus] = c_vis
        c_nu[taus] += c_inv
    x[taus] = dec.visible.e / tau.e
    return lep, nu, x


class _Partons(NamedTuple):
    """The inputs of a tt̄ event's leg B: its top and W (top frame), both b, the W angle."""

    t_b: P4
    w_b: P4
    b_a: P4
    b_b: P4
    cos_b: FloatArray


class _TauLeg(NamedTuple):
    """The τ_h side of a tt̄ event: the τ_h, its truth, the neutrinos, the jets, the deposits."""

    had: P4
    had_mode: npt.NDArray[np.int8]
    had_x: FloatArray
    nu: P4
    jets: P4
    unc_x: FloatArray
    unc_y: FloatArray


def _true_tau_leg(rng: np.random.Generator, legs: _Partons, cfg: SimulationConfig) -> _TauLeg:
    """Leg B with W → τν, τ → τ_h ν (top frame → lab); jets: the two b quarks."""
    t_b, w_b, b_a, b_b, cos_b = legs
    n = int(t_b.e.shape[0])
    zeros = np.zeros(n, dtype=F32)
    tau, nu_b = _w_to_charged(rng, w_b, M_TAU, cos_b)
    mt = cfg.top_mass
    tau, nu_b, b_b = boost_many(t_b, mt, tau, nu_b, b_b)
    dec = decay_hadronic(rng, tau, np.full(n, -1.0, dtype=F32))
    had, had_mode, had_x = dec.visible, dec.mode, dec.visible.e / tau.e
    nu_b = p4_sum(nu_b, dec.neutrinos)
    jets = _stack(_massless(b_a), _massless(b_b))
    return _TauLeg(had, had_mode, had_x, nu_b, jets, zeros, zeros.copy())


def _fake_tau_leg(rng: np.random.Generator, legs: _Partons, cfg: SimulationConfig) -> _TauLeg:
    """Leg B with W → qq̄' and one of the four partons misidentified as τ_h."""
    t_b, w_b, b_a, b_b, cos_b = legs
    n = int(t_b.e.shape[0])
    zeros = np.zeros(n, dtype=F32)
    cos_b = cos_b * sign(rng, 0.5, n)  # quark and antiquark alike
    q1, q2 = _w_to_charged(rng, w_b, 0.0, cos_b)
    mt = cfg.top_mass
    q1, q2, b_b = boost_many(t_b, mt, q1, q2, b_b)
    b_b = _massless(b_b)
    q2 = _massless(q2)
    b_a = _massless(b_a)
    # which parton fakes τ_h: the τ-ID fake rate of a jet falls with its pT
    # (∝ pT^-k) and is smaller for b jets (relative weight fake_b_weight)
    cand = [q1, q2, b_a, b_b]
    block = _stack(*cand)
    pt = np.maximum(hypot(block.px, block.py), 1.0)
    flavour = np.array([1.0, 1.0, cfg.fake_b_weight, cfg.fake_b_weight], dtype=F32)
    rate = flavour[None, :] * pt ** (-cfg.fake_pt_power)
    cum = np.cumsum(rate, axis=1)
    u = random(rng, n) * cum[:, -1]
    choice = np.minimum(row_sum((cum < u[:, None]).astype(F32)).astype(np.intp), 3)
    rows = np.arange(n)
    jet = P4(*(c[rows, choice] for c in block))
    x = rng.beta(cfg.fake_x_alpha, cfg.fake_x_beta, n).astype(F32)
    had = jet.scaled(x)
    unc_x, unc_y = jet.px * (1.0 - x), jet.py * (1.0 - x)
    keep = np.ones((n, 4), dtype=bool)
    keep[rows, choice] = False
    jets = P4(*(c * keep for c in block))  # where(keep, c, 0) without its branches
    nu_b = P4(zeros, zeros.copy(), zeros.copy(), zeros.copy())
    had_mode = np.full(n, -1, dtype=np.int8)
    had_x = np.full(n, np.nan, dtype=F32)
    return _TauLeg(had, had_mode, had_x, nu_b, jets, unc_x, unc_y)


def _ttbar_block(
    rng: np.random.Generator, n: int, cfg: SimulationConfig, cuts: TruthCuts, fake: bool
) -> HardEvents:
    m_tt = rng.standard_gamma(cfg.mtt_excess_shape, n, dtype=F32)
    m_tt *= cfg.mtt_excess_scale
    m_tt += 2.0 * cfg.top_mass
    tt = _system(rng, m_tt, cfg.ttbar_qt_scale, cfg.ttbar_qt_power, cfg.ttbar_rapidity_sigma)
    t_a, t_b = _two_body(rng, tt, cfg.top_mass, cfg.top_mass, mass=m_tt)
    # leg A: leptonic W (directly or through τ → ℓ)
    b_a, w_a = _top_decay(rng, t_a, cfg)
    from_tau = random(rng, n) < cfg.ttbar_lep_from_tau
    lep, nu_a, lep_x = _leptonic_leg(rng, w_a, from_tau, cfg)
    lep = boost(lep, t_a, cfg.top_mass)
    keep = np.flatnonzero(lep.pt >= cuts.lep_pt_min)
    n = keep.size
    lep, t_a, t_b, tt, b_a, nu_a = (v.take(keep) for v in (lep, t_a, t_b, tt, b_a, nu_a))
    lep_x, from_tau = take_rows(lep_x, keep), take_rows(from_tau, keep)
    nu_a, b_a = boost_many(t_a, cfg.top_mass, nu_a, b_a)
    # leg B: W → τν, τ → τ_h ν (true), or W → qq̄' with a jet faking τ_h
    b_b, w_b = _top_decay(rng, t_b, cfg)
    cos_b = _w_helicity_cos(rng, n, cfg.w_longitudinal_fraction)
    partons = _Partons(t_b, w_b, b_a, b_b, cos_b)
    leg = (_fake_tau_leg if fake else _true_tau_leg)(rng, partons, cfg)
    had, had_mode, had_x, nu_b, jets, unc_x, unc_y = leg
    nu = p4_sum(nu_a, nu_b)
    truth = (
        {}
        if not cuts.with_truth
        else _finish_truth(
            _system_truth(tt),
            lep,
            had,
            nu.px,
            nu.py,
            lep_x,
            had_x,
            had_mode,
            from_tau.astype(np.float64),
        )
    )
    return HardEvents(
        lep,
        had,
        nu.px,
        nu.py,
        tt,
        jets,
        unc_x,
        unc_y,
        np.full(n, cfg.isr_rate_ttbar, dtype=F32),
        tt.pt,
        np.full(n, MODE_NONE, dtype=np.int8),
        truth,
    )


def generate_ttbar(
    rng: np.random.Generator, n: int, cfg: SimulationConfig, cuts: TruthCuts
) -> HardEvents:
    """tt̄ → (bℓν)(bτ_hν) or (bℓν)(bqq̄') with a quark or b jet misidentified as τ_h.

    m_tt = 2 m_t + Gamma-distributed excess (threshold-dominated), tops isotropic
    in the tt̄ frame, t → bW isotropic, W helicity fractions (F0, F_L) in the W
    decay angle, W → τν gives a left-handed τ⁻ (effective polarisation -1).
    """
    n_true, n_fake = _counts(rng, n, [1.0 - cfg.ttbar_fake_fraction, cfg.ttbar_fake_fraction])
    return _concat(
        [_ttbar_block(rng, n_true, cfg, cuts, False), _ttbar_block(rng, n_fake, cfg, cuts, True)],
    )


def _diboson_block(
    rng: np.random.Generator, n: int, cfg: SimulationConfig, cuts: TruthCuts, channel: int
) -> HardEvents:
    """channel 0: WW → ℓν τ_hν; 1: VZ → qq̄ ττ; 2: ZZ → νν ττ."""
    mz = _relativistic_bw(rng, n, cfg.z_mass, cfg.z_width, cfg.z_mass_min, cfg.z_mass_max)
    mw = _relativistic_bw(rng, n, cfg.w_mass, cfg.w_width, 50.0, 110.0)
    if channel == 0:
        m1, m2 = mw, _relativistic_bw(rng, n, cfg.w_mass, cfg.w_width, 50.0, 110.0)
    elif channel == 1:
        m1, m2 = select(random(rng, n) < 0.5, mw, mz), mz
    else:
        m1 = _relativistic_bw(rng, n, cfg.z_mass, cfg.z_width, cfg.z_mass_min, cfg.z_mass_max)
        m2 = mz
    m_vv = rng.standard_exponential(n, dtype=F32)
    m_vv *= cfg.diboson_excess_scale
    m_vv += m1
    m_vv += m2
    vv = _system(rng, m_vv, cfg.diboson_qt_scale, cfg.diboson_qt_power, cfg.diboson_rapidity_sigma)
    v1, v2 = _two_body(rng, vv, m1, m2, mass=m_vv)
    if channel == 0:
        from_tau = random(rng, n) < cfg.ttbar_lep_from_tau
        lep, nu_a, lep_x = _leptonic_leg(rng, v1, from_tau, cfg, mw=m1)
        keep = np.flatnonzero(lep.pt >= cuts.lep_pt_min)
        n = keep.size
        lep, nu_a, vv, v2 = (v.take(keep) for v in (lep, nu_a, vv, v2))
        lep_x, from_tau = take_rows(lep_x, keep), take_rows(from_tau, keep)
        tau, nu_b = _w_to_charged(
            rng, v2, M_TAU, uniform(rng, -1.0, 1.0, n), mw=take_rows(m2, keep)
        )
        dec = decay_hadronic(rng, tau, np.full(n, -1.0, dtype=F32))
        nu = p4_sum(nu_a, nu_b, dec.neutrinos)
        had, had_x = dec.visible, dec.visible.e / tau.e
        jets = _no_jets(n)
        lep_from_tau = from_tau.astype(np.float64)
    else:
        hel = sign(rng, 0.5 * (1.0 + cfg.z_tau_polarisation), n)
        keep, ldec, dec, tau_l, tau = _resonance_to_lephad(
            rng, v2, m2, uniform(rng, -1.0, 1.0, n), hel, hel, cuts
        )
        n = keep.size
        vv, v1 = vv.take(keep), v1.take(keep)
        lep, lep_x = ldec.visible, ldec.visible.e / tau_l.e
        had, had_x = dec.visible, dec.visible.e / tau.e
        d1, d2 = _two_body(rng, v1, 0.0, 0.0, mass=take_rows(m1, keep))
        if channel == 1:
            jets = _stack(d1, d2)
            nu = p4_sum(ldec.neutrinos, dec.neutrinos)
        else:
            jets = _no_jets(n)
            nu = p4_sum(ldec.neutrinos, dec.neutrinos, d1, d2)
        lep_from_tau = np.ones(n)
    zeros = np.zeros(n, dtype=F32)
    truth = (
        {}
        if not cuts.with_truth
        else _finish_truth(
            _system_truth(vv), lep, had, nu.px, nu.py, lep_x, had_x, dec.mode, lep_from_tau
        )
    )
    return HardEvents(
        lep,
        had,
        nu.px,
        nu.py,
        vv,
        jets,
        zeros,
        zeros.copy(),
        np.full(n, cfg.isr_rate_diboson, dtype=F32),
        vv.pt,
        np.full(n, MODE_NONE, dtype=np.int8),
        truth,
    )


def generate_diboson(
    rng: np.random.Generator, n: int, cfg: SimulationConfig, cuts: TruthCuts
) -> HardEvents:
    """WW → ℓν τ_hν, VZ → qq̄ ττ and ZZ → νν ττ (lep–had)."""
    f_ww, f_vz = cfg.diboson_ww_fraction, cfg.diboson_vz_qq_fraction
    counts = _counts(rng, n, [f_ww, f_vz, max(1.0 - f_ww - f_vz, 0.0)])
    return _concat([_diboson_block(rng, c, cfg, cuts, k) for k, c in enumerate(counts)])


Generator = Callable[[np.random.Generator, int, SimulationConfig, TruthCuts], HardEvents]

GENERATORS: dict[str, Generator] = {
    "htautau": generate_htautau,
    "ztautau": generate_ztautau,
    "ttbar": generate_ttbar,
    "diboson": generate_diboson,
}
"""One generator per challenge process."""


# --------------------------------------------------------------------------- ISR

_ISR_SPLIT_SLOTS = 3
_ISR_SOFT_SLOTS = 2


def isr_jets(
    rng: np.random.Generator, events: HardEvents, cfg: SimulationConfig
) -> tuple[FloatArray, FloatArray, FloatArray]:
    r"""Initial-state radiation that balances the hard system's transverse momentum.

    The recoil :math:`-\vec q_T` starts as one parton and is split a Poisson
    number of times, with mean :math:`r \ln(1 + q_T/q_{ref})` (growing with the
    hard scale as the phase space for radiation opens; :math:`q_T` is the
    system's, or the Higgs boson's for VBF): each splitting moves a fraction
    :math:`z \sim U(0.15, 0.5)` of the leading recoil parton into a new one at an
    azimuth :math:`\Delta\phi \sim N(0, \sigma_\phi)` away, so the jets recoil
    together against the boson.  On top, a Poisson number (mean ``isr_soft_rate``)
    of soft emissions with :math:`dN/dk_T \propto k_T^{-p}` above :math:`k_0` and
    uniform azimuth, balanced by the leading recoil parton.  Rapidities scatter
    about a fraction ``isr_eta_follow`` of the system's rapidity.

    Returns
    -------
    tuple
        (pt, eta, phi) of the massless partons, each of shape ``(n, 1 + 3 + 2)``.
    """
    n = len(events)
    ks, kk = _ISR_SPLIT_SLOTS, _ISR_SOFT_SLOTS
    # soft emissions, balanced by the recoil
    n_soft = capped_poisson(rng, cfg.isr_soft_rate, kk, n)
    u = 1.0 - random(rng, (n, kk))  # on (0, 1]: a float32 uniform is 0 once in 2^24
    kt = cfg.isr_k0 * u ** (-1.0 / (cfg.isr_power - 1.0))
    np.minimum(kt, 1000.0, out=kt)
    kt *= np.arange(kk)[None, :] < n_soft[:, None]  # 0 beyond n_soft (kt > 0)
    soft_phi = uniform(rng, -math.pi, math.pi, (n, kk))
    rx = -events.system.px - row_sum(kt * cos(soft_phi))
    ry = -events.system.py - row_sum(kt * sin(soft_phi))
    # hard splittings of the recoil
    rate = events.isr_rate * np.log1p(events.isr_qt / cfg.isr_qt_ref)
    n_split = capped_poisson(rng, rate, ks, n)
    z = uniform(rng, 0.15, 0.5, (n, ks))
    dphi = normal(rng, 0.0, cfg.isr_split_dphi, (n, ks))
    split_pt = np.zeros((n, ks), dtype=F32)
    split_phi = np.zeros((n, ks), dtype=F32)
    for j in range(ks):
        active = j < n_split
        pt0 = hypot(rx, ry)
        phi_j = np.arctan2(ry, rx) + dphi[:, j]
        pt_j = z[:, j] * pt0
        pt_j *= active  # 0 where inactive (pt_j >= 0)
        rx = rx - pt_j * cos(phi_j)
        ry = ry - pt_j * sin(phi_j)
        split_pt[:, j] = pt_j
        split_phi[:, j] = phi_j
    pt = np.concatenate([hypot(rx, ry)[:, None], split_pt, kt], axis=1)
    # into [-π, π): only the split azimuths (arctan2 + Δφ) can leave it
    split_phi = wrap_angle(split_phi)
    phi_all = np.concatenate([np.arctan2(ry, rx)[:, None], split_phi, soft_phi], axis=1)
    sys_y = rapidity(events.system)
    eta = normal(rng, 0.0, cfg.isr_eta_sigma, (n, 1 + ks + kk))
    eta += cfg.isr_eta_follow * sys_y[:, None]
    return pt, eta, phi_all
