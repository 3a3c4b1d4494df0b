"""Column names and constants of the FAIR Universe HiggsML challenge format.

See DESIGN.md §1.  Units are GeV and radians.  A missing jet is marked by
``MISSING = -25`` in its pt, eta and phi (and in the four dijet DER features).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "DER_FEATURES",
    "EXPECTED_YIELDS_10FB",
    "FEATURES",
    "HAD_PT_MIN",
    "JET_PT_MIN",
    "LABEL_COLUMN",
    "LEP_PT_MIN",
    "MISSING",
    "PRI_FEATURES",
    "PROCESSES",
    "PROCESS_COLUMN",
    "SIGNAL_PROCESSES",
    "WEIGHT_COLUMN",
]

PRI_FEATURES: Final[tuple[str, ...]] = (
    "PRI_lep_pt",
    "PRI_lep_eta",
    "PRI_lep_phi",
    "PRI_had_pt",
    "PRI_had_eta",
    "PRI_had_phi",
    "PRI_jet_leading_pt",
    "PRI_jet_leading_eta",
    "PRI_jet_leading_phi",
    "PRI_jet_subleading_pt",
    "PRI_jet_subleading_eta",
    "PRI_jet_subleading_phi",
    "PRI_n_jets",
    "PRI_jet_all_pt",
    "PRI_met",
    "PRI_met_phi",
)
"""The 16 primary (measured) features."""

DER_FEATURES: Final[tuple[str, ...]] = (
    "DER_mass_transverse_met_lep",
    "DER_mass_vis",
    "DER_pt_h",
    "DER_deltaeta_jet_jet",
    "DER_mass_jet_jet",
    "DER_prodeta_jet_jet",
    "DER_deltar_had_lep",
    "DER_pt_tot",
    "DER_sum_pt",
    "DER_pt_ratio_lep_had",
    "DER_met_phi_centrality",
    "DER_lep_eta_centrality",
)
"""The 12 derived features, functions of the primary ones (DESIGN.md §1)."""

FEATURES: Final[tuple[str, ...]] = PRI_FEATURES + DER_FEATURES
"""All 28 feature columns, in the challenge's order."""

WEIGHT_COLUMN: Final = "weights"
LABEL_COLUMN: Final = "labels"
PROCESS_COLUMN: Final = "detailed_labels"

PROCESSES: Final[tuple[str, ...]] = ("htautau", "ztautau", "ttbar", "diboson")
"""The four processes of the challenge, signal first."""

SIGNAL_PROCESSES: Final[frozenset[str]] = frozenset({"htautau"})

EXPECTED_YIELDS_10FB: Final[dict[str, float]] = {
    "htautau": 1015.0,
    "ztautau": 1_002_395.0,
    "ttbar": 44_192.0,
    "diboson": 3_783.0,
}
"""Expected selected yields per process at 10 fb^-1 (DESIGN.md §1)."""

MISSING: Final = -25.0
"""Marker of an absent jet (and of undefined dijet features)."""

HAD_PT_MIN: Final = 26.0
LEP_PT_MIN: Final = 20.0
JET_PT_MIN: Final = 26.0
"""Selection thresholds in GeV re-applied after every systematic variation."""
