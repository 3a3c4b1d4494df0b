"""Tests of the H→ττ simulator: schema, determinism, weights, physics and realism."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from unbinned.data.schema import (
    DER_FEATURES,
    EXPECTED_YIELDS_10FB,
    FEATURES,
    MISSING,
    PRI_FEATURES,
    PROCESSES,
)
from unbinned.exceptions import ConfigError
from unbinned.sim.derived import compute_derived
from unbinned.sim.htautau import (
    CHALLENGE_COLUMNS,
    PRODUCTION_MODE_COLUMN,
    RAW_HAD_PT_MIN,
    RAW_JET_PT_MIN,
    RAW_LEP_PT_MIN,
    TRAINING_EVENTS,
    TRUTH_COLUMNS,
    SimulationConfig,
    simulate,
)
from unbinned.sim.htautau._kinematics import P4, boost, from_pt_eta_phi_m
from unbinned.sim.htautau._tau import M_TAU, decay_hadronic, decay_leptonic
from unbinned.sim.systematics import Nuisances, apply_systematics

N_SMALL = 3000


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return simulate(N_SMALL, seed=7, with_truth=True)


def _nominal(df: pd.DataFrame) -> pd.DataFrame:
    """The nominal re-selection (had_pt >= 26, lep_pt >= 20, jets >= 26) of DESIGN.md §2."""
    return apply_systematics(df, Nuisances())


# --------------------------------------------------------------------------- schema


def test_schema_columns_order_and_dtypes(small: pd.DataFrame) -> None:
    assert list(small.columns[:31]) == list(CHALLENGE_COLUMNS)
    assert small.columns[31] == PRODUCTION_MODE_COLUMN
    assert list(small.columns[32:]) == list(TRUTH_COLUMNS)
    for c in (*FEATURES, "weights", "labels", *TRUTH_COLUMNS):
        assert small[c].dtype == np.float64, c
    assert pd.api.types.is_string_dtype(small["detailed_labels"])
    assert pd.api.types.is_string_dtype(small[PRODUCTION_MODE_COLUMN])
    assert small.groupby("detailed_labels").size().to_dict() == dict.fromkeys(PROCESSES, N_SMALL)
    assert np.isfinite(small[list(FEATURES)].to_numpy()).all()
    labels = small.set_index("detailed_labels")["labels"]
    assert (labels.loc["htautau"] == 1.0).all()
    assert (small.loc[small["detailed_labels"] != "htautau", "labels"] == 0.0).all()
    modes = small.groupby("detailed_labels")[PRODUCTION_MODE_COLUMN].unique()
    assert set(modes["htautau"]) == {"ggH", "VBF"}
    for p in ("ztautau", "ttbar", "diboson"):
        assert set(modes[p]) == {"none"}


def test_columns_match_the_challenge_metadata(real_sample_path) -> None:
    meta = real_sample_path.with_name("FAIR_Universe_HiggsML_sample_metadata.json")
    if not meta.is_file():
        pytest.skip(f"metadata file {meta.name} not found next to the sample")
    assert list(CHALLENGE_COLUMNS) == json.loads(meta.read_text())["columns"]


def test_without_truth_has_32_columns() -> None:
    df = simulate(50, seed=1, processes=["diboson"])
    assert list(df.columns) == [*CHALLENGE_COLUMNS, PRODUCTION_MODE_COLUMN]


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_events_and_processes_are_independent(small: pd.DataFrame) -> None:
    again = simulate(N_SMALL, seed=7, with_truth=True)
    pd.testing.assert_frame_equal(small, again)
    alone = simulate(N_SMALL, seed=7, with_truth=True, processes=["ttbar"])
    part = small[small["detailed_labels"] == "ttbar"].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone, part)
    other = simulate(200, seed=8, processes=["ttbar"])
    assert not np.allclose(other["PRI_lep_pt"], part["PRI_lep_pt"].iloc[:200])


def test_counts_per_process_give_each_process_its_own_events_and_weights() -> None:
    counts = {"htautau": 300, "ztautau": 900}
    df = simulate(counts, seed=7, processes=["htautau", "ztautau"])
    assert df["detailed_labels"].value_counts().to_dict() == counts
    for p, n in counts.items():  # each process as simulated alone with its own count
        alone = simulate(n, seed=7, processes=[p])
        part = df[df["detailed_labels"] == p].reset_index(drop=True)
        pd.testing.assert_frame_equal(alone, part)
    assert set(TRAINING_EVENTS) == set(PROCESSES)


# --------------------------------------------------------------------------- weights, selection


@pytest.mark.parametrize("luminosity", [10.0, 25.0])
def test_weights_give_expected_yields_after_nominal_selection(luminosity: float) -> None:
    df = simulate(800, seed=2, luminosity=luminosity)
    nominal = df[(df["PRI_had_pt"] >= 26.0) & (df["PRI_lep_pt"] >= 20.0)]
    yields = nominal.groupby("detailed_labels")["weights"].sum()
    for p in PROCESSES:
        assert yields[p] == pytest.approx(EXPECTED_YIELDS_10FB[p] * luminosity / 10.0, rel=1e-9)
        assert df.loc[df["detailed_labels"] == p, "weights"].nunique() == 1


def test_yields_after_systematics_reselection(small: pd.DataFrame) -> None:
    yields = _nominal(small).groupby("detailed_labels")["weights"].sum()
    for p in PROCESSES:
        assert yields[p] == pytest.approx(EXPECTED_YIELDS_10FB[p], rel=1e-9)


def test_raw_selection_and_acceptance(small: pd.DataFrame) -> None:
    assert (small["PRI_lep_pt"] >= RAW_LEP_PT_MIN).all()
    assert (small["PRI_had_pt"] >= RAW_HAD_PT_MIN).all()
    assert (small["PRI_had_pt"] < 26.0).any()  # the raw sample keeps events below 26 GeV
    assert (small["PRI_lep_eta"].abs() < 2.5).all()
    assert (small["PRI_had_eta"].abs() < 2.5).all()
    assert (small["DER_deltar_had_lep"] > 0.4).all()
    assert (small["PRI_met"] >= 0.0).all()
    for c in ("PRI_lep_phi", "PRI_had_phi", "PRI_met_phi"):
        assert (small[c].abs() <= np.pi).all()


def test_jet_markers_are_consistent(small: pd.DataFrame) -> None:
    n = small["PRI_n_jets"].to_numpy()
    assert np.array_equal(n, np.round(n))
    assert (n >= 0).all()
    lead = small[[f"PRI_jet_leading_{c}" for c in ("pt", "eta", "phi")]].to_numpy()
    sub = small[[f"PRI_jet_subleading_{c}" for c in ("pt", "eta", "phi")]].to_numpy()
    assert (lead[n == 0] == MISSING).all()
    assert (lead[n >= 1] != MISSING).all()
    assert (sub[n <= 1] == MISSING).all()
    assert (sub[n >= 2] != MISSING).all()
    all_pt = small["PRI_jet_all_pt"].to_numpy()
    assert (all_pt[n == 0] == 0.0).all()
    j1, j2 = lead[:, 0], sub[:, 0]
    assert (j1[n >= 1] >= RAW_JET_PT_MIN).all()
    assert (j2[n >= 2] >= RAW_JET_PT_MIN).all()
    assert (j1[n >= 2] >= j2[n >= 2]).all()
    assert (np.abs(lead[n >= 1, 1]) < 4.7).all()
    np.testing.assert_allclose(all_pt[n == 1], j1[n == 1], rtol=1e-12)
    two = n >= 2
    assert (all_pt[two] >= (j1[two] + j2[two]) * (1 - 1e-12)).all()
    three = n >= 3
    assert (all_pt[three] - j1[three] - j2[three] >= (n[three] - 2) * RAW_JET_PT_MIN - 1e-9).all()
    for c in (*DER_FEATURES[3:6], "DER_lep_eta_centrality"):
        assert (small.loc[n < 2, c] == MISSING).all()


def test_der_features_equal_compute_derived(small: pd.DataFrame) -> None:
    der = compute_derived(small[list(PRI_FEATURES)])
    for k, v in der.items():
        np.testing.assert_allclose(small[k].to_numpy(), v, rtol=1e-12, atol=1e-12, err_msg=k)


# --------------------------------------------------------------------------- physics


def test_vbf_has_forward_dijets() -> None:
    h = simulate(8000, seed=4, processes=["htautau"])
    two = h[h["PRI_n_jets"] >= 2]
    vbf = two[two[PRODUCTION_MODE_COLUMN] == "VBF"]
    ggh = two[two[PRODUCTION_MODE_COLUMN] == "ggH"]
    assert len(vbf) > 100
    assert len(ggh) > 100
    assert vbf["DER_mass_jet_jet"].median() > 1.5 * ggh["DER_mass_jet_jet"].median()
    assert vbf["DER_deltaeta_jet_jet"].median() > ggh["DER_deltaeta_jet_jet"].median() + 1.0
    assert vbf["DER_mass_jet_jet"].median() > 300.0
    # VBF is ~8 % of production and enriched by the selection
    frac = (h[PRODUCTION_MODE_COLUMN] == "VBF").mean()
    assert 0.07 < frac < 0.2


def test_truth_columns(small: pd.DataFrame) -> None:
    h = small[small["detailed_labels"] == "htautau"]
    np.testing.assert_allclose(h["gen_boson_mass"], 125.0, rtol=1e-9)
    z = small[small["detailed_labels"] == "ztautau"]
    assert abs(z["gen_boson_mass"].median() - 91.19) < 1.5
    assert z["gen_boson_mass"].between(60.0, 1000.0).all()
    # the γ*/Z continuum reaches the Higgs mass: a few per cent of the selected events
    assert 0.005 < (z["gen_boson_mass"] > 110.0).mean() < 0.1
    tt = small[small["detailed_labels"] == "ttbar"]
    assert (tt["gen_boson_mass"] > 2 * 172.0).all()
    assert (h["gen_boson_pt"] >= 0).all()
    for frame in (h, z):
        assert frame["gen_lep_x"].between(0.0, 1.0).all()
        assert frame["gen_had_x"].between(0.0, 1.0).all()
    assert set(np.unique(tt["gen_had_mode"])) <= {-1.0, 0.0, 1.0, 2.0}
    # the true MET is a genuine neutrino sum: Z→ττ lep–had has a few GeV to tens of GeV
    assert 3.0 < z["gen_met"].median() < 30.0


def test_massless_boost_and_michel_spectrum() -> None:
    rng = np.random.default_rng(0)
    n = 200_000
    # τ of pT 400 GeV in random directions: the collinear limit
    tau = from_pt_eta_phi_m(
        np.full(n, 400.0), rng.uniform(-1, 1, n), rng.uniform(-np.pi, np.pi, n), M_TAU
    )
    lep = decay_leptonic(rng, tau, np.zeros(n))
    x = lep.visible.e / tau.e
    # f(x) = 5/3 - 3x^2 + 4/3 x^3: first moments 7/20 and 8/45
    assert x.mean() == pytest.approx(7.0 / 20.0, abs=0.003)
    assert (x**2).mean() == pytest.approx(8.0 / 45.0, abs=0.003)  # 5/9 - 3/5 + 2/9
    np.testing.assert_allclose(lep.visible.mass, 0.0, atol=1e-4 * 400)
    total = P4(*(a + b for a, b in zip(lep.visible, lep.neutrinos, strict=True)))
    np.testing.assert_allclose(total.mass, M_TAU, rtol=1e-6)
    # pions: uniform x unpolarised, mean 1/3 or 2/3 for P = -1, +1
    for pol, mean in ((0.0, 0.5), (1.0, 2.0 / 3.0), (-1.0, 1.0 / 3.0)):
        had = decay_hadronic(rng, tau, np.full(n, pol))
        is_pi = had.mode == 0
        xh = had.visible.e[is_pi] / tau.e[is_pi]
        assert xh.mean() == pytest.approx(mean, abs=0.01)
        rho = had.mode == 1
        x_rho = had.visible.e[rho] / tau.e[rho]
        assert x_rho.min() > (0.3 / M_TAU) ** 2 - 1e-3
    # a boost preserves the mass
    parent = from_pt_eta_phi_m(np.full(5, 50.0), np.zeros(5), np.zeros(5), 91.0)
    child = P4(np.full(5, 45.5), np.full(5, 10.0), np.zeros(5), np.sqrt(45.5**2 - 100.0 - 4))
    np.testing.assert_allclose(boost(child, parent).mass, child.mass, rtol=1e-10)


# --------------------------------------------------------------------------- errors


def test_bad_arguments_raise() -> None:
    with pytest.raises(TypeError, match="events_per_process"):
        simulate(10.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="events_per_process"):
        simulate(0)
    with pytest.raises(ConfigError, match=r"missing \['ttbar', 'diboson'\]"):
        simulate({"htautau": 10, "ztautau": 10})
    with pytest.raises(ConfigError, match=r"\['ttbar'\] are not simulated"):
        simulate({"htautau": 10, "ttbar": 10}, processes=["htautau"])
    with pytest.raises(ConfigError, match="0 for 'htautau'"):
        simulate({"htautau": 0}, processes=["htautau"])
    with pytest.raises(TypeError, match="float for 'htautau'"):
        simulate({"htautau": 1.5}, processes=["htautau"])  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="seed"):
        simulate(10, seed=-1)
    with pytest.raises(ConfigError, match="luminosity"):
        simulate(10, luminosity=-1.0)
    with pytest.raises(ConfigError, match="processes"):
        simulate(10, processes=["higgs"])
    with pytest.raises(ConfigError, match="processes"):
        simulate(10, processes=["ttbar", "ttbar"])
    with pytest.raises(TypeError, match="processes"):
        simulate(10, processes="ttbar")
    with pytest.raises(TypeError, match="config"):
        simulate(10, config={"had_resolution": 0.1})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="vbf_fraction"):
        SimulationConfig(vbf_fraction=1.5)
    with pytest.raises(ConfigError, match="z_qt_power"):
        SimulationConfig(z_qt_power=1.0)
    with pytest.raises(TypeError, match="had_resolution"):
        SimulationConfig(had_resolution="big")  # type: ignore[arg-type]


def test_config_changes_the_physics() -> None:
    base = simulate(2000, seed=3, processes=["ztautau"])
    cfg = dataclasses.replace(SimulationConfig(), soft_met_sigma=30.0)
    noisy = simulate(2000, seed=3, processes=["ztautau"], config=cfg)
    assert noisy["PRI_met"].median() > base["PRI_met"].median() + 10.0


# --------------------------------------------------------------------------- realism

# medians (n_jets: mean) after the nominal selection, DESIGN.md §1, and tolerances
_QUANTITIES = {
    "lep_pt": "PRI_lep_pt",
    "had_pt": "PRI_had_pt",
    "met": "PRI_met",
    "m_vis": "DER_mass_vis",
    "mt": "DER_mass_transverse_met_lep",
}
_TOLERANCE = {"htautau": 0.15, "ztautau": 0.15, "ttbar": 0.25}


def _summary(df: pd.DataFrame, process: str) -> dict[str, float]:
    sel = df[df["detailed_labels"] == process]
    out = {k: float(sel[c].median()) for k, c in _QUANTITIES.items()}
    out["n_jets"] = float(sel["PRI_n_jets"].mean())
    return out


@pytest.mark.data
def test_realism_against_the_real_sample(real_sample_path) -> None:
    real = _nominal(pd.read_parquet(real_sample_path))
    sim = _nominal(simulate(30_000, seed=11, processes=list(_TOLERANCE)))
    for process, tol in _TOLERANCE.items():
        r, s = _summary(real, process), _summary(sim, process)
        for key in r:
            assert s[key] == pytest.approx(r[key], rel=tol), (process, key, s[key], r[key])
