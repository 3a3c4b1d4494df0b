"""The 12 DER formulas of DESIGN.md §1: hand-computed cases and the real sample."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from unbinned.data.challenge import SAMPLE_FILE, find_sample_data
from unbinned.data.schema import DER_FEATURES, MISSING, PRI_FEATURES
from unbinned.sim.derived import compute_derived, delta_phi, invariant_mass_massless

PI = math.pi


def event(**values: float) -> dict[str, np.ndarray]:
    """One event: lepton (40, 0, 0), tau_h (30, 0, pi/2), MET (20, pi), no jet."""
    base = {
        "PRI_lep_pt": 40.0,
        "PRI_lep_eta": 0.0,
        "PRI_lep_phi": 0.0,
        "PRI_had_pt": 30.0,
        "PRI_had_eta": 0.0,
        "PRI_had_phi": PI / 2,
        "PRI_jet_leading_pt": MISSING,
        "PRI_jet_leading_eta": MISSING,
        "PRI_jet_leading_phi": MISSING,
        "PRI_jet_subleading_pt": MISSING,
        "PRI_jet_subleading_eta": MISSING,
        "PRI_jet_subleading_phi": MISSING,
        "PRI_n_jets": 0.0,
        "PRI_jet_all_pt": 0.0,
        "PRI_met": 20.0,
        "PRI_met_phi": PI,
    }
    unknown = set(values) - set(base)
    assert not unknown, unknown
    base.update(values)
    return {k: np.array([v]) for k, v in base.items()}


TWO_JETS = {
    "PRI_n_jets": 2.0,
    "PRI_jet_leading_pt": 50.0,
    "PRI_jet_leading_eta": 1.5,
    "PRI_jet_leading_phi": 0.0,
    "PRI_jet_subleading_pt": 40.0,
    "PRI_jet_subleading_eta": -0.5,
    "PRI_jet_subleading_phi": PI / 2,
    "PRI_jet_all_pt": 90.0,
}


def der(**values: float) -> dict[str, float]:
    return {k: float(v[0]) for k, v in compute_derived(event(**values)).items()}


def four_vector(pt: float, eta: float, phi: float) -> np.ndarray:
    """Massless (E, px, py, pz), written out independently of the library."""
    return np.array(
        [pt * math.cosh(eta), pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)]
    )


def mass(p: np.ndarray) -> float:
    return math.sqrt(max(p[0] ** 2 - p[1] ** 2 - p[2] ** 2 - p[3] ** 2, 0.0))


def test_returns_every_der_feature_in_order():
    out = compute_derived(event())
    assert tuple(out) == DER_FEATURES
    assert all(v.dtype == np.float64 and v.shape == (1,) for v in out.values())


def test_mass_transverse_met_lep():
    # MET (30, phi=pi) against the lepton (40, phi=0): (30+40)^2 - (40-30)^2 = 4800
    assert der(PRI_met=30.0, PRI_met_phi=PI)["DER_mass_transverse_met_lep"] == pytest.approx(
        math.sqrt(4800.0), rel=1e-12
    )
    # perpendicular: mT^2 = 2 * 40 * 30 * (1 - cos 90deg) = 2400
    assert der(PRI_met=30.0, PRI_met_phi=PI / 2)["DER_mass_transverse_met_lep"] == pytest.approx(
        math.sqrt(2400.0), rel=1e-12
    )
    # collinear: 0 (the max(0, .) guards rounding)
    assert der(PRI_met=30.0, PRI_met_phi=0.0)["DER_mass_transverse_met_lep"] == pytest.approx(
        0.0, abs=1e-6
    )


def test_mass_vis():
    # back to back at eta 0: m = 40 + 40
    assert der(PRI_had_pt=40.0, PRI_had_phi=PI)["DER_mass_vis"] == pytest.approx(80.0, rel=1e-12)
    # general case against an explicit four-vector sum
    lep, had = (35.0, 1.0, 0.3), (25.0, -0.7, 2.5)
    expected = mass(four_vector(*lep) + four_vector(*had))
    got = der(
        PRI_lep_pt=lep[0], PRI_lep_eta=lep[1], PRI_lep_phi=lep[2],
        PRI_had_pt=had[0], PRI_had_eta=had[1], PRI_had_phi=had[2],
    )["DER_mass_vis"]  # fmt: skip
    assert got == pytest.approx(expected, rel=1e-12)
    # 2 pt1 pt2 (cosh deta - cos dphi) with deta = 2, same phi
    m = invariant_mass_massless(*(np.array([v]) for v in (10.0, 1.0, 0.0, 10.0, -1.0, 0.0)))
    assert float(m[0]) == pytest.approx(math.sqrt(200.0 * (math.cosh(2.0) - 1.0)), rel=1e-12)


def test_pt_h():
    # had (0, 30) + lep (40, 0) + MET (-20, 0) = (20, 30)
    assert der()["DER_pt_h"] == pytest.approx(math.hypot(20.0, 30.0), rel=1e-12)


def test_dijet_features():
    d = der(**TWO_JETS, PRI_lep_eta=0.5)
    assert d["DER_deltaeta_jet_jet"] == pytest.approx(2.0, rel=1e-12)
    assert d["DER_prodeta_jet_jet"] == pytest.approx(-0.75, rel=1e-12)
    # 2 * 50 * 40 * (cosh 2 - cos 90deg)
    assert d["DER_mass_jet_jet"] == pytest.approx(math.sqrt(4000.0 * math.cosh(2.0)), rel=1e-12)
    j1, j2 = four_vector(50.0, 1.5, 0.0), four_vector(40.0, -0.5, PI / 2)
    assert d["DER_mass_jet_jet"] == pytest.approx(mass(j1 + j2), rel=1e-12)
    # the lepton at the centre of the two jets (eta 0.5): exp(0) = 1
    assert d["DER_lep_eta_centrality"] == pytest.approx(1.0, rel=1e-12)
    # the lepton on the leading jet (eta 1.5): exp(-4 * 1^2 / 2^2) = 1/e
    d = der(**TWO_JETS, PRI_lep_eta=1.5)
    assert d["DER_lep_eta_centrality"] == pytest.approx(math.exp(-1.0), rel=1e-12)


@pytest.mark.parametrize("n_jets", [0, 1])
def test_dijet_features_missing_below_two_jets(n_jets):
    values = {"PRI_n_jets": float(n_jets)}
    if n_jets == 1:
        values |= {
            "PRI_jet_leading_pt": 50.0,
            "PRI_jet_leading_eta": 1.0,
            "PRI_jet_leading_phi": 0.0,
            "PRI_jet_all_pt": 50.0,
        }
    d = der(**values)
    for name in (
        "DER_deltaeta_jet_jet",
        "DER_mass_jet_jet",
        "DER_prodeta_jet_jet",
        "DER_lep_eta_centrality",
    ):
        assert d[name] == MISSING


def test_deltar_had_lep_wraps_phi():
    # dphi = 3.0 - (-3.0) = 6.0, wrapped to 6 - 2 pi
    d = der(PRI_had_eta=0.3, PRI_had_phi=3.0, PRI_lep_eta=-0.1, PRI_lep_phi=-3.0)
    assert d["DER_deltar_had_lep"] == pytest.approx(math.hypot(0.4, 6.0 - 2 * PI), rel=1e-12)
    assert float(delta_phi(np.array([3.0]), np.array([-3.0]))[0]) == pytest.approx(6.0 - 2 * PI)


def test_pt_tot_counts_only_existing_jets():
    # lepton (40, 0) and tau_h (40, pi) cancel, no MET: only jets remain
    base = {"PRI_had_pt": 40.0, "PRI_had_phi": PI, "PRI_met": 0.0, "PRI_met_phi": 0.0}
    assert der(**base)["DER_pt_tot"] == pytest.approx(0.0, abs=1e-9)
    one = {
        "PRI_n_jets": 1.0,
        "PRI_jet_leading_pt": 30.0,
        "PRI_jet_leading_eta": 0.2,
        "PRI_jet_leading_phi": PI / 2,
        "PRI_jet_all_pt": 30.0,
    }
    assert der(**base, **one)["DER_pt_tot"] == pytest.approx(30.0, rel=1e-12)
    two = one | {
        "PRI_n_jets": 2.0,
        "PRI_jet_subleading_pt": 30.0,
        "PRI_jet_subleading_eta": -1.0,
        "PRI_jet_subleading_phi": -PI / 2,
        "PRI_jet_all_pt": 60.0,
    }
    assert der(**base, **two)["DER_pt_tot"] == pytest.approx(0.0, abs=1e-9)
    # a third jet (in jet_all_pt only) does not enter pt_tot
    assert der(**base, **(two | {"PRI_n_jets": 3.0, "PRI_jet_all_pt": 85.0}))[
        "DER_pt_tot"
    ] == pytest.approx(0.0, abs=1e-9)


def test_sum_pt_and_pt_ratio():
    d = der(PRI_n_jets=3.0, PRI_jet_all_pt=75.0, **{
        k: v for k, v in TWO_JETS.items() if k not in ("PRI_n_jets", "PRI_jet_all_pt")
    })  # fmt: skip
    assert d["DER_sum_pt"] == pytest.approx(30.0 + 40.0 + 75.0, rel=1e-12)
    assert d["DER_pt_ratio_lep_had"] == pytest.approx(40.0 / 30.0, rel=1e-12)


@pytest.mark.parametrize(
    ("lep_phi", "had_phi", "met_phi", "expected"),
    [
        (0.0, PI / 2, PI / 4, math.sqrt(2.0)),  # MET on the bisector between them
        (PI / 2, 0.0, PI / 4, math.sqrt(2.0)),  # same with lepton and tau_h swapped
        (0.0, PI / 2, 0.0, 1.0),  # MET along the lepton: A = 0
        (0.0, PI / 2, PI / 2, 1.0),  # MET along the tau_h: B = 0
        (0.0, PI / 2, -3 * PI / 4, -math.sqrt(2.0)),  # MET opposite the bisector
    ],
)
def test_met_phi_centrality(lep_phi, had_phi, met_phi, expected):
    d = der(PRI_lep_phi=lep_phi, PRI_had_phi=had_phi, PRI_met_phi=met_phi)
    assert d["DER_met_phi_centrality"] == pytest.approx(expected, abs=1e-12)


@pytest.fixture(scope="module")
def real_frame() -> pd.DataFrame:
    folder = find_sample_data()
    if folder is None:
        pytest.skip(
            f"real FAIR Universe sample {SAMPLE_FILE} not found ($UNBINNED_SAMPLE_DATA or "
            "../shared/data); set UNBINNED_SAMPLE_DATA to its folder to run this test"
        )
    return pd.read_parquet(folder / SAMPLE_FILE)


@pytest.mark.data
@pytest.mark.parametrize("name", DER_FEATURES)
def test_recomputed_der_matches_real_sample(real_frame, name):
    recomputed = compute_derived({c: real_frame[c].to_numpy() for c in PRI_FEATURES})[name]
    stored = real_frame[name].to_numpy(dtype=np.float64)
    # the same missing markers, and the values within the float32 storage precision
    np.testing.assert_array_equal(recomputed == MISSING, stored == MISSING)
    assert np.max(np.abs(recomputed - stored)) < 0.01
