r"""Detector model: resolutions, acceptance, jet reconstruction, MET and the raw selection.

* Lepton and τ_h: Gaussian relative pT resolution (truncated at ±5σ so that the
  generator-level pre-selection of :func:`truth_cuts` is exactly conservative);
  directions are taken as measured.  The τ_h carries a jet-like calibration
  (:func:`had_response`).
* Jets: each parton is a jet with :math:`\sigma_E/E = S/\sqrt{E} \oplus C`; a jet
  is reconstructed with pT ≥ 22 GeV, :math:`|\eta|` < 4.7 and ΔR > 0.4 from the
  lepton and the τ_h.  Everything else is unclustered.
* MET is minus the sum of the reconstructed objects (τ_h before its calibration),
  of the deposits outside any object and of the unclustered true momentum
  (response ``soft_response``), plus Gaussian noise in x and y of width
  :math:`\sigma_0 \oplus k\sqrt{\Sigma E_T}` (pile-up and calorimeter resolution).  Since
  the true event balances, this is the neutrino momentum plus every mismeasurement.
* Raw selection: lepton pT ≥ 20, τ_h pT ≥ 22, both within the η acceptance and
  ΔR(ℓ, τ_h) > 0.4.  The generators drop events that cannot pass it before the
  expensive steps (:func:`truth_cuts`), with the resolutions truncated at ±5σ so
  that this changes nothing but the speed.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from unbinned.data._fastmath import select
from unbinned.data.schema import MISSING
from unbinned.sim.htautau._config import (
    RAW_HAD_PT_MIN,
    RAW_JET_PT_MIN,
    RAW_LEP_PT_MIN,
    SimulationConfig,
)
from unbinned.sim.htautau._kinematics import (
    FloatArray,
    cos,
    hypot,
    pt_eta_phi,
    row_sum,
    sin,
    take_rows,
)
from unbinned.sim.htautau._processes import HardEvents, TruthCuts
from unbinned.sim.htautau._random import F32, standard_normal

__all__ = [
    "SMEAR_CLIP",
    "RecoLeptons",
    "had_response",
    "had_sigma",
    "raw_had_threshold",
    "reconstruct",
    "reconstruct_leptons",
    "truth_cuts",
]

SMEAR_CLIP = 5.0
"""Resolution functions are Gaussians truncated at ±5σ."""


def _clipped_normal(rng: np.random.Generator, shape: int | tuple[int, ...]) -> FloatArray:
    z = standard_normal(rng, shape)
    return np.clip(z, -SMEAR_CLIP, SMEAR_CLIP, out=z)


def _delta_r(eta1: FloatArray, phi1: FloatArray, eta2: FloatArray, phi2: FloatArray) -> FloatArray:
    """ΔR for azimuths in [-π, π] (a cheaper wrap than a modulo)."""
    dphi = np.abs(phi1 - phi2)
    dphi = np.minimum(dphi, 2.0 * np.pi - dphi)  # = where(dphi > π, 2π - dphi, dphi)
    return hypot(eta1 - eta2, dphi)


def had_response(pt: FloatArray, eta: FloatArray, cfg: SimulationConfig) -> FloatArray:
    r"""Mean τ_h energy response :math:`\sqrt{A^2/p_T + 1}`, :math:`A = a - b|\eta|`.

    The form of the jet energy scale correction of the Delphes ATLAS card
    (de Favereau et al., JHEP 02 (2014) 057).  The calibrated pT,
    :math:`\sqrt{A^2 p_T + p_T^2}`, increases with the raw pT.
    """
    a = np.maximum(cfg.had_response_a - cfg.had_response_b * np.abs(eta), 0.0)
    return np.asarray(np.sqrt(a * a / np.maximum(pt, 1.0) + 1.0))


def raw_had_threshold(cfg: SimulationConfig) -> float:
    r"""Smallest raw τ_h pT whose calibrated pT can reach the raw selection (22 GeV).

    The root of :math:`p^2 + A^2 p = p_{min}^2` with the largest A (at η = 0).
    """
    a2 = max(cfg.had_response_a, 0.0) ** 2
    return float(0.5 * (-a2 + np.sqrt(a2 * a2 + 4.0 * RAW_HAD_PT_MIN**2)))


def had_sigma(pt: FloatArray, cfg: SimulationConfig) -> FloatArray:
    r"""Relative τ_h pT resolution :math:`\sqrt{S^2/p_T + C^2}` (a jet-like form)."""
    s2 = cfg.had_resolution_stochastic**2
    return np.asarray(np.sqrt(s2 / np.maximum(pt, 1.0) + cfg.had_resolution**2))


def _min_true_had_pt(threshold: float, cfg: SimulationConfig) -> float:
    r"""Smallest true pT p with :math:`p\,(1 + 5\sigma(p)) \ge` ``threshold``.

    :math:`p + 5\sqrt{S^2 p + C^2 p^2}` increases with p; its root solves
    :math:`(1 - 25C^2)p^2 - (2t + 25S^2)p + t^2 = 0` (the smaller root).
    Below 1 GeV the resolution saturates, so the bound is at least that of σ(1).
    """
    k2 = SMEAR_CLIP**2
    a = 1.0 - k2 * cfg.had_resolution**2
    b = 2.0 * threshold + k2 * cfg.had_resolution_stochastic**2
    if a <= 0.0:
        return 0.0
    root = (b - np.sqrt(max(b * b - 4.0 * a * threshold**2, 0.0))) / (2.0 * a)
    return float(max(min(root, threshold), 0.0) * 0.999)


def truth_cuts(cfg: SimulationConfig) -> TruthCuts:
    """The lowest true visible pT of lepton and τ_h that can pass the raw selection."""
    return TruthCuts(
        RAW_LEP_PT_MIN / (1.0 + SMEAR_CLIP * cfg.lep_resolution),
        _min_true_had_pt(raw_had_threshold(cfg), cfg),
    )


class RecoLeptons(NamedTuple):
    """Reconstructed lepton and τ_h (``had_raw``: the τ_h pT before its calibration)."""

    lep_pt: FloatArray
    lep_eta: FloatArray
    lep_phi: FloatArray
    had_pt: FloatArray
    had_raw: FloatArray
    had_eta: FloatArray
    had_phi: FloatArray

    def take(self, idx: npt.NDArray[np.intp]) -> RecoLeptons:
        """Return the entries at ``idx``."""
        return RecoLeptons(*(take_rows(a, idx) for a in self))


def reconstruct_leptons(
    rng: np.random.Generator, events: HardEvents, cfg: SimulationConfig
) -> tuple[RecoLeptons, npt.NDArray[np.bool_]]:
    """Smear lepton and τ_h; return them with the raw-selection mask."""
    n = len(events)
    lep_pt, lep_eta, lep_phi = pt_eta_phi(events.lep)
    had_pt, had_eta, had_phi = pt_eta_phi(events.had)
    lep_pt = lep_pt * (1.0 + cfg.lep_resolution * _clipped_normal(rng, n))
    had_raw = had_pt * (1.0 + had_sigma(had_pt, cfg) * _clipped_normal(rng, n))
    had_pt = had_raw * had_response(had_raw, had_eta, cfg)
    selected = np.asarray(
        (lep_pt >= RAW_LEP_PT_MIN)
        & (had_pt >= RAW_HAD_PT_MIN)
        & (np.abs(lep_eta) < cfg.lep_eta_max)
        & (np.abs(had_eta) < cfg.had_eta_max)
        & (_delta_r(lep_eta, lep_phi, had_eta, had_phi) > cfg.overlap_dr),
        dtype=bool,
    )
    return RecoLeptons(lep_pt, lep_eta, lep_phi, had_pt, had_raw, had_eta, had_phi), selected


class _Jets(NamedTuple):
    """The parton jets of an event block, ``(n, k)`` each."""

    reco: FloatArray  # reconstructed pT, 0 where the parton is no jet
    eta: FloatArray
    phi: FloatArray
    cos_phi: FloatArray
    sin_phi: FloatArray
    is_jet: npt.NDArray[np.bool_]
    true_out: FloatArray  # true pT of the partons that are no jet, else 0


def _reco_jets(
    rng: np.random.Generator,
    events: HardEvents,
    leptons: RecoLeptons,
    isr: tuple[FloatArray, FloatArray, FloatArray],
    cfg: SimulationConfig,
) -> _Jets:
    """Smear the hard-process and ISR partons, apply the acceptance and the overlap removal."""
    h_pt, h_eta, h_phi = pt_eta_phi(events.jets)
    j_pt = np.concatenate([h_pt, isr[0]], axis=1)
    j_eta = np.concatenate([h_eta, isr[1]], axis=1)
    j_phi = np.concatenate([h_phi, isr[2]], axis=1)
    cos_phi, sin_phi = cos(j_phi), sin(j_phi)
    energy = j_pt * np.cosh(np.minimum(np.abs(j_eta), 20.0))
    sigma = np.sqrt(cfg.jet_stochastic**2 / np.maximum(energy, 1.0e-3) + cfg.jet_constant**2)
    j_reco = j_pt * np.maximum(1.0 + sigma * _clipped_normal(rng, j_pt.shape), 0.0)
    is_jet = (j_reco >= RAW_JET_PT_MIN) & (np.abs(j_eta) < cfg.jet_eta_max)
    # overlap removal, evaluated on the jet candidates only
    # (flat indices into the C-ordered blocks: numpy.take is faster than 2-D fancy indexing)
    flat = np.flatnonzero(is_jet)
    rows = flat // j_pt.shape[1]
    eta_c, phi_c = np.take(j_eta, flat), np.take(j_phi, flat)
    lep_eta, lep_phi = np.take(leptons.lep_eta, rows), np.take(leptons.lep_phi, rows)
    had_eta, had_phi = np.take(leptons.had_eta, rows), np.take(leptons.had_phi, rows)
    isolated = (_delta_r(eta_c, phi_c, lep_eta, lep_phi) > cfg.overlap_dr) & (
        _delta_r(eta_c, phi_c, had_eta, had_phi) > cfg.overlap_dr
    )
    is_jet.reshape(-1)[flat[~isolated]] = False
    # where(is_jet, j_reco, 0) and where(is_jet, 0, j_pt) as products (both are >= 0):
    # the same values without np.where's mispredicted branches
    j_true_out = j_pt * ~is_jet
    j_reco *= is_jet
    return _Jets(j_reco, j_eta, j_phi, cos_phi, sin_phi, is_jet, j_true_out)


def _met_xy(
    rng: np.random.Generator,
    events: HardEvents,
    leptons: RecoLeptons,
    jets: _Jets,
    jet_all_pt: FloatArray,
    cfg: SimulationConfig,
) -> tuple[FloatArray, FloatArray]:
    """MET x and y: minus the measured objects, deposits and soft term, plus the noise."""
    lep_pt, _, lep_phi, _, had_raw, _, had_phi = leptons
    unclustered_x = row_sum(jets.true_out * jets.cos_phi)
    unclustered_y = row_sum(jets.true_out * jets.sin_phi)
    jets_x = row_sum(jets.reco * jets.cos_phi)
    jets_y = row_sum(jets.reco * jets.sin_phi)

    # MET resolution: a pile-up/noise constant ⊕ a stochastic term in the scalar sum
    # of the measured transverse energy
    sum_et = lep_pt + had_raw + jet_all_pt + row_sum(jets.true_out)
    met_sigma = np.sqrt(cfg.soft_met_sigma**2 + cfg.soft_met_sumet_coeff**2 * sum_et)
    noise = met_sigma * standard_normal(rng, (2, len(events)))
    met_x = noise[0] - (
        lep_pt * cos(lep_phi)
        + had_raw * cos(had_phi)
        + jets_x
        + events.deposit_x
        + cfg.soft_response * unclustered_x
    )
    met_y = noise[1] - (
        lep_pt * sin(lep_phi)
        + had_raw * sin(had_phi)
        + jets_y
        + events.deposit_y
        + cfg.soft_response * unclustered_y
    )
    return met_x, met_y


def _two_leading(pt: FloatArray) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Flat indices (into the C-ordered ``(n, k)`` block) of the two largest entries of each row.

    The first two of a stable descending sort (ties: the lower index first),
    from two ``argmax`` passes instead of a sort.
    """
    base = np.arange(0, pt.size, pt.shape[1])
    first = np.argmax(pt, axis=1)
    first += base
    rest = pt.copy()
    rest.reshape(-1)[first] = -np.inf
    second = np.argmax(rest, axis=1)
    second += base
    return first, second


def reconstruct(
    rng: np.random.Generator,
    events: HardEvents,
    leptons: RecoLeptons,
    isr: tuple[FloatArray, FloatArray, FloatArray],
    cfg: SimulationConfig,
) -> dict[str, FloatArray]:
    """Reconstruct jets and MET; return the 16 PRI features.

    ``isr`` holds the (pt, eta, phi) of the ISR partons, ``(n, k)`` each.
    """
    lep_pt, lep_eta, lep_phi, had_pt, _, had_eta, had_phi = leptons
    jets = _reco_jets(rng, events, leptons, isr, cfg)
    first, second = _two_leading(jets.reco)
    j1_pt, j2_pt = np.take(jets.reco, first), np.take(jets.reco, second)
    j1_eta, j2_eta = np.take(jets.eta, first), np.take(jets.eta, second)
    j1_phi, j2_phi = np.take(jets.phi, first), np.take(jets.phi, second)
    n_jets = row_sum(jets.is_jet.astype(F32))
    jet_all_pt = row_sum(jets.reco)
    met_x, met_y = _met_xy(rng, events, leptons, jets, jet_all_pt, cfg)

    has1 = n_jets >= 1
    has2 = n_jets >= 2
    return {
        "PRI_lep_pt": lep_pt,
        "PRI_lep_eta": lep_eta,
        "PRI_lep_phi": lep_phi,
        "PRI_had_pt": had_pt,
        "PRI_had_eta": had_eta,
        "PRI_had_phi": had_phi,
        "PRI_jet_leading_pt": select(has1, j1_pt, MISSING),
        "PRI_jet_leading_eta": select(has1, j1_eta, MISSING),
        "PRI_jet_leading_phi": select(has1, j1_phi, MISSING),
        "PRI_jet_subleading_pt": select(has2, j2_pt, MISSING),
        "PRI_jet_subleading_eta": select(has2, j2_eta, MISSING),
        "PRI_jet_subleading_phi": select(has2, j2_phi, MISSING),
        "PRI_n_jets": n_jets,
        # summed in float64: the sum of the jets' float32 pT exactly (>= the leading two)
        "PRI_jet_all_pt": row_sum(jets.reco.astype(np.float64)),
        "PRI_met": hypot(met_x, met_y),
        "PRI_met_phi": np.arctan2(met_y, met_x),
    }
