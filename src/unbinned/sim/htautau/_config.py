"""Tunable physics and detector parameters of the H→ττ simulator.

The defaults marked "tuned" were adjusted so that the per-process medians of
lep_pt, had_pt, MET, m_vis, mT and the mean jet multiplicity after the nominal
selection match the real FAIR Universe sample (DESIGN.md §1 targets; measured by
``benchmarks/sim_realism.py``: within ~5 % for htautau, ~9 % for ztautau, ~23 % for
ttbar, whose 25 real events leave ±15-20 % statistical uncertainty on each median),
that the jet multiplicities, the Z boost (ΔR, pT of the ττ system) and the Z → ττ
m_vis tail follow the real sample, and that a classifier's H-vs-Z separation on
simulation is close to its separation on the real sample (ROC AUC ≈ 0.90 vs 0.88).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from unbinned.exceptions import ConfigError

__all__ = [
    "RAW_HAD_PT_MIN",
    "RAW_JET_PT_MIN",
    "RAW_LEP_PT_MIN",
    "SimulationConfig",
]

RAW_LEP_PT_MIN = 20.0
"""Lepton pT threshold of the stored (raw) sample, GeV."""
RAW_HAD_PT_MIN = 22.0
"""τ_h pT threshold of the stored sample: below the 26 GeV analysis cut, so that a
τ energy scale up to 1.1 (26/1.1 = 23.6) can move events across it."""
RAW_JET_PT_MIN = 22.0
"""Jets are stored (and counted in n_jets, jet_all_pt) from this pT on (26/1.1 = 23.6)."""


@dataclass(frozen=True)
class SimulationConfig:
    r"""Parameters of the generator and the detector model (GeV, radians).

    Every field has a tuned default; pass a modified copy
    (``dataclasses.replace(SimulationConfig(), had_resolution=0.1)``) to
    :func:`~unbinned.sim.htautau.simulate` to study the effect of one of them.

    Transverse-momentum spectra of the hard systems use the form
    :math:`dN/dq_T \propto q_T/(q_T^2 + a^2)^b`: peak near :math:`a/\sqrt{2b-1}`,
    tail :math:`q_T^{1-2b}` (a Drell–Yan-like resummed shape).
    """

    # --- Z/γ* → ττ -------------------------------------------------------------
    z_mass: float = 91.1876
    """Z pole mass (PDG)."""
    z_width: float = 2.4952
    """Z width (PDG): relativistic Breit–Wigner line shape."""
    z_mass_min: float = 60.0
    """Lower end of the Breit–Wigner mass window (the continuum is separate)."""
    z_mass_max: float = 130.0
    """Upper end of the Breit–Wigner mass window."""
    z_continuum_fraction: float = 0.09
    """Share of the generated ττ pairs from the Drell–Yan γ*/Z continuum, dσ/dm ∝ m^-k
    (tuned to the real sample's m_vis tail: ~1.5 % of selected Z → ττ above 110 GeV)."""
    z_continuum_min: float = 60.0
    """Lower end of the continuum mass range."""
    z_continuum_max: float = 1000.0
    """Upper end of the continuum mass range."""
    z_continuum_power: float = 4.0
    """k of the continuum (1/m² photon propagator times falling parton luminosities)."""
    z_qt_scale: float = 10.0
    """a of the Z qT spectrum (tuned)."""
    z_qt_power: float = 1.75
    """b of the Z qT spectrum (tuned)."""
    z_rapidity_sigma: float = 2.0
    """Width of the (Gaussian) Z rapidity distribution at 13 TeV."""
    z_tau_polarisation: float = -0.147
    """Mean τ⁻ helicity in Z decays (LEP: P_τ = -0.147)."""
    # --- H → ττ ----------------------------------------------------------------
    h_mass: float = 125.0
    """Higgs mass; its 4 MeV width is negligible."""
    ggh_qt_scale: float = 40.0
    """a of the ggH qT spectrum (tuned; gluon fusion radiates more than qq̄ → Z)."""
    ggh_qt_power: float = 2.0
    """b of the ggH qT spectrum (tuned)."""
    h_rapidity_sigma: float = 1.8
    """Width of the ggH rapidity distribution."""
    vbf_fraction: float = 0.078
    """VBF share of the produced Higgs bosons (σ_VBF/σ_H ≈ 3.8/52 pb at 13 TeV)."""
    vbf_jet_pt_scale: float = 25.0
    """Scale of the Gamma(shape 2) pT distribution of each VBF tag jet (tuned)."""
    vbf_deta_mean: float = 3.8
    """Mean |Δη| of the two VBF tag jets."""
    vbf_deta_sigma: float = 1.2
    """Spread of the tag-jet |Δη|."""
    vbf_eta_centre_sigma: float = 0.8
    """Spread of the mean rapidity of the tag jets (the Higgs rapidity follows it)."""
    # --- initial-state radiation (all processes) -------------------------------
    isr_split_dphi: float = 1.2
    """Azimuthal spread of a recoil splitting (the jets recoil together)."""
    isr_soft_rate: float = 0.3
    """Mean number of soft, uncorrelated emissions per event (underlying event)."""
    isr_k0: float = 10.0
    """Lower pT cut-off of the soft emissions."""
    isr_power: float = 2.5
    """Soft emissions have dN/dk ∝ k^-isr_power above isr_k0."""
    isr_eta_sigma: float = 1.6
    """Rapidity spread of ISR jets about (a fraction of) the hard system's rapidity."""
    isr_eta_follow: float = 0.7
    """ISR jets scatter about isr_eta_follow × the hard system's rapidity."""
    isr_qt_ref: float = 20.0
    """The mean number of recoil splittings is rate × ln(1 + qT/isr_qt_ref)."""
    isr_rate_z: float = 0.35
    """Rate of recoil splittings in Z events (tuned)."""
    isr_rate_ggh: float = 1.4
    """Rate of recoil splittings in ggH events (tuned)."""
    isr_rate_vbf: float = 0.3
    """Rate of recoil splittings in VBF events."""
    isr_rate_ttbar: float = 0.8
    """Rate of recoil splittings in tt̄ events (tuned)."""
    isr_rate_diboson: float = 0.5
    """Rate of recoil splittings in diboson events."""
    # --- tt̄ ---------------------------------------------------------------------
    top_mass: float = 172.5
    """Top-quark mass (its width is neglected)."""
    w_mass: float = 80.377
    """W mass (PDG)."""
    w_width: float = 2.085
    """W width (PDG)."""
    b_mass: float = 4.8
    """b-quark mass."""
    w_longitudinal_fraction: float = 0.70
    """F0 of W bosons from top decays (SM NNLO 0.687); F_L = 1 - F0, F_R = 0."""
    mtt_excess_shape: float = 1.5
    """m_tt - 2 m_t follows a Gamma distribution with this shape (tuned)..."""
    mtt_excess_scale: float = 130.0
    """...and this scale (mean m_tt ≈ 2 m_t + 195 GeV ≈ 540 GeV at 13 TeV)."""
    ttbar_qt_scale: float = 35.0
    """a of the tt̄-system qT spectrum (tuned)."""
    ttbar_qt_power: float = 2.5
    """b of the tt̄-system qT spectrum (tuned)."""
    ttbar_rapidity_sigma: float = 1.1
    """Width of the tt̄-system rapidity distribution."""
    ttbar_lep_from_tau: float = 0.15
    """Share of the selected lepton that comes from W → τν → ℓννν (BR ratio 3.8/25.4)."""
    ttbar_fake_fraction: float = 0.6
    """Share of tt̄ lep–had events whose τ_h is a misidentified quark jet (tuned)."""
    fake_b_weight: float = 0.5
    """τ_h fake rate of a b jet relative to a light-quark jet of the same pT."""
    fake_pt_power: float = 2.0
    """The τ_h fake rate of a jet falls as pT^-fake_pt_power (tuned)."""
    fake_x_alpha: float = 8.0
    """A fake τ_h is the jet with the τ_h calibration: it carries a Beta(alpha, beta)
    fraction of the jet's momentum (tuned)..."""
    fake_x_beta: float = 2.0
    """...mean alpha/(alpha + beta)."""
    # --- diboson -----------------------------------------------------------------
    diboson_ww_fraction: float = 0.55
    """WW → ℓν τ_hν share of diboson lep–had events."""
    diboson_vz_qq_fraction: float = 0.35
    """VZ share with Z → ττ (lep–had) and V → qq̄; the rest is ZZ → ττ νν."""
    diboson_excess_scale: float = 90.0
    """m_VV - (m_V1 + m_V2) follows an exponential with this mean."""
    diboson_qt_scale: float = 15.0
    """a of the VV-system qT spectrum."""
    diboson_qt_power: float = 2.0
    """b of the VV-system qT spectrum."""
    diboson_rapidity_sigma: float = 1.5
    """Width of the VV-system rapidity distribution."""
    # --- detector ------------------------------------------------------------------
    lep_resolution: float = 0.015
    """Relative lepton pT resolution (electrons/muons, 1–2 %)."""
    had_resolution: float = 0.07
    """Constant term C of the τ_h pT resolution σ/pT = S/√pT ⊕ C (tuned)."""
    had_resolution_stochastic: float = 0.8
    """Stochastic term S (GeV^½) of the τ_h pT resolution: τ_h candidates are jet-seeded,
    so their resolution is jet-like (≈ 15 % at 30 GeV; tuned)."""
    had_response_a: float = 3.0
    r"""τ_h candidates are jet-seeded and carry the jet calibration, which over-corrects
    the visible τ energy: mean response :math:`\sqrt{A^2/p_T + 1}`, A = a - b|η| (GeV^½),
    as the jet energy scale of the Delphes ATLAS card (tuned)..."""
    had_response_b: float = 0.15
    """...b of that response; MET is built from uncalibrated deposits and does not see it."""
    jet_stochastic: float = 1.0
    """Jet energy resolution stochastic term S in σ_E/E = S/√E ⊕ C (GeV^½; 100 %/√E)."""
    jet_constant: float = 0.1
    """Jet energy resolution constant term C (10 %: parton-to-jet losses included)."""
    soft_met_sumet_coeff: float = 0.0
    """k (GeV^½) of an optional MET resolution term k√ΣET, ΣET the scalar sum of the
    measured transverse momenta (0: off; the constant term alone matches the real sample)."""
    soft_met_sigma: float = 7.5
    """Pile-up/underlying-event noise of the MET soft term, per x and y component (tuned)."""
    soft_response: float = 0.6
    """Calorimeter response to unclustered hadronic activity (sub-threshold jets)."""
    lep_eta_max: float = 2.5
    """Lepton acceptance |η| <."""
    had_eta_max: float = 2.5
    """τ_h acceptance |η| <."""
    jet_eta_max: float = 4.7
    """Jet acceptance |η| <."""
    overlap_dr: float = 0.4
    """Jets within this ΔR of the lepton or τ_h are not jets; also the minimum ΔR(ℓ, τ_h)."""

    def __post_init__(self) -> None:
        """Check that every field is a finite number and the obvious ranges hold."""
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise TypeError(
                    f"SimulationConfig.{f.name} must be a number, got {type(value).__name__}"
                )
            if not math.isfinite(value):
                raise ConfigError(
                    f"SimulationConfig.{f.name} = {value!r}: expected a finite number"
                )
            if f.name != "z_tau_polarisation" and value < 0.0:
                raise ConfigError(
                    f"SimulationConfig.{f.name} = {value!r}: expected a non-negative value"
                )
        if not -1.0 <= self.z_tau_polarisation <= 1.0:
            raise ConfigError(
                f"SimulationConfig.z_tau_polarisation = {self.z_tau_polarisation!r}: "
                "expected a value in [-1, 1]"
            )
        unit_fractions = (
            "vbf_fraction",
            "ttbar_fake_fraction",
            "ttbar_lep_from_tau",
            "w_longitudinal_fraction",
            "diboson_ww_fraction",
            "diboson_vz_qq_fraction",
            "z_continuum_fraction",
            "soft_response",
        )
        for name in unit_fractions:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(
                    f"SimulationConfig.{name} = {value!r}: expected a value in [0, 1]"
                )
        if self.diboson_ww_fraction + self.diboson_vz_qq_fraction > 1.0:
            raise ConfigError(
                "SimulationConfig.diboson_ww_fraction + diboson_vz_qq_fraction = "
                f"{self.diboson_ww_fraction + self.diboson_vz_qq_fraction}: expected <= 1"
            )
        for name in ("z_qt_power", "ggh_qt_power", "ttbar_qt_power", "diboson_qt_power"):
            if getattr(self, name) <= 1.0:
                raise ConfigError(
                    f"SimulationConfig.{name} = {getattr(self, name)!r}: expected > 1 "
                    "(the qT spectrum must be normalisable)"
                )
        if self.isr_power <= 1.0:
            raise ConfigError(f"SimulationConfig.isr_power = {self.isr_power!r}: expected > 1")
        if self.z_continuum_power == 1.0:
            raise ConfigError("SimulationConfig.z_continuum_power = 1.0: expected a value != 1")
        for name in ("z_mass_min", "z_continuum_min", "isr_k0", "isr_qt_ref", "fake_x_alpha",
                     "fake_x_beta", "top_mass", "w_mass", "mtt_excess_shape"):  # fmt: skip
            if getattr(self, name) <= 0.0:
                raise ConfigError(
                    f"SimulationConfig.{name} = {getattr(self, name)!r}: expected a positive value"
                )
        if not 2.0 * 1.777 < self.z_continuum_min < self.z_continuum_max:
            raise ConfigError(
                f"SimulationConfig continuum window [{self.z_continuum_min}, "
                f"{self.z_continuum_max}]: expected 2 m_tau < min < max"
            )
        if not self.z_mass_min < self.z_mass < self.z_mass_max:
            raise ConfigError(
                f"SimulationConfig z mass window [{self.z_mass_min}, {self.z_mass_max}] "
                f"must contain z_mass = {self.z_mass}"
            )
