"""Systematic variations of DESIGN.md §2: invariants, re-selection, normalisations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from unbinned.data.challenge import SAMPLE_FILE, find_sample_data
from unbinned.data.schema import DER_FEATURES, MISSING, PRI_FEATURES, PROCESSES
from unbinned.exceptions import ConfigError, DataError, SchemaError
from unbinned.sim.derived import compute_derived
from unbinned.sim.systematics import (
    CHALLENGE_PRIORS,
    NUISANCE_NAMES,
    ClippedNormal,
    Nuisances,
    apply_systematics,
    apply_systematics_events,
)


def toy_frame(n: int = 3000, seed: int = 0, dtype: type = np.float64) -> pd.DataFrame:
    """Challenge-format toy events, raw (objects from 22 GeV, pt-ordered jets)."""
    rng = np.random.default_rng(seed)
    n_jets = rng.integers(0, 5, n)
    j1 = 22 + rng.exponential(25, n)
    j2 = 22 + (j1 - 22) * rng.uniform(size=n)
    others = np.zeros(n)
    for k in range(3, 5):
        others += np.where(n_jets >= k, 22 + (j2 - 22) * rng.uniform(size=n), 0.0)
    has1, has2 = n_jets >= 1, n_jets >= 2

    def jet(values, present):
        return np.where(present, values, MISSING)

    cols = {
        "PRI_lep_pt": 19 + rng.exponential(15, n),
        "PRI_lep_eta": rng.uniform(-2.5, 2.5, n),
        "PRI_lep_phi": rng.uniform(-np.pi, np.pi, n),
        "PRI_had_pt": 22 + rng.exponential(15, n),
        "PRI_had_eta": rng.uniform(-2.5, 2.5, n),
        "PRI_had_phi": rng.uniform(-np.pi, np.pi, n),
        "PRI_jet_leading_pt": jet(j1, has1),
        "PRI_jet_leading_eta": jet(rng.uniform(-4, 4, n), has1),
        "PRI_jet_leading_phi": jet(rng.uniform(-np.pi, np.pi, n), has1),
        "PRI_jet_subleading_pt": jet(j2, has2),
        "PRI_jet_subleading_eta": jet(rng.uniform(-4, 4, n), has2),
        "PRI_jet_subleading_phi": jet(rng.uniform(-np.pi, np.pi, n), has2),
        "PRI_n_jets": n_jets.astype(float),
        "PRI_jet_all_pt": np.where(has1, j1, 0) + np.where(has2, j2, 0) + others,
        "PRI_met": rng.exponential(20, n),
        "PRI_met_phi": rng.uniform(-np.pi, np.pi, n),
    }
    frame = pd.DataFrame({k: np.asarray(v, dtype=dtype) for k, v in cols.items()})
    process = rng.choice(np.array(PROCESSES), size=n, p=[0.3, 0.4, 0.2, 0.1])
    frame["weights"] = rng.uniform(0.1, 1.0, n).astype(dtype)
    frame["detailed_labels"] = process
    frame["labels"] = (process == "htautau").astype(dtype)
    for name, values in compute_derived(frame).items():
        frame[name] = values.astype(dtype)
    frame["event_id"] = np.arange(n)
    return frame


def nominal_selection_by_hand(frame: pd.DataFrame) -> pd.DataFrame:
    """An independent, row-by-row implementation of the nominal re-selection."""
    rows = []
    for _, row in frame.iterrows():
        if row.PRI_had_pt < 26 or row.PRI_lep_pt < 20:
            continue
        row = row.copy()
        if row.PRI_n_jets >= 1 and row.PRI_jet_leading_pt < 26:
            for part in ("pt", "eta", "phi"):
                row[f"PRI_jet_leading_{part}"] = MISSING
                row[f"PRI_jet_subleading_{part}"] = MISSING
            row["PRI_n_jets"], row["PRI_jet_all_pt"] = 0.0, 0.0
        elif row.PRI_n_jets >= 2 and row.PRI_jet_subleading_pt < 26:
            for part in ("pt", "eta", "phi"):
                row[f"PRI_jet_subleading_{part}"] = MISSING
            row["PRI_n_jets"], row["PRI_jet_all_pt"] = 1.0, row.PRI_jet_leading_pt
        rows.append(row)
    out = pd.DataFrame(rows).reset_index(drop=True).astype(frame.dtypes.to_dict())
    for name, values in compute_derived(out).items():
        out[name] = values.astype(frame[name].dtype)
    return out


def met_vector(frame: pd.DataFrame) -> np.ndarray:
    return frame.PRI_met.to_numpy()[:, None] * np.stack(
        [np.cos(frame.PRI_met_phi), np.sin(frame.PRI_met_phi)], axis=1
    )


def vec(frame: pd.DataFrame, prefix: str, present: np.ndarray | None = None) -> np.ndarray:
    pt = frame[f"{prefix}_pt"].to_numpy()
    if present is not None:
        pt = np.where(present, pt, 0.0)
    phi = frame[f"{prefix}_phi"].to_numpy()
    return np.stack([pt * np.cos(phi), pt * np.sin(phi)], axis=1)


@pytest.fixture(scope="module")
def toy() -> pd.DataFrame:
    return toy_frame()


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    folder = find_sample_data()
    if folder is None:
        pytest.skip(
            f"real FAIR Universe sample {SAMPLE_FILE} not found ($UNBINNED_SAMPLE_DATA or "
            "../shared/data); set UNBINNED_SAMPLE_DATA to its folder to run this test"
        )
    return pd.read_parquet(folder / SAMPLE_FILE)


# ---------------------------------------------------------------------------- nuisances
def test_nuisances_defaults_validation_and_draw():
    nominal = Nuisances()
    assert nominal.is_nominal
    assert tuple(nominal.to_dict()) == NUISANCE_NAMES
    assert Nuisances(tes=2).tes == 2.0
    assert isinstance(Nuisances(tes=2).tes, float)
    assert Nuisances(diboson_scale=3.0).diboson_scale == 3.0  # out of prior range: allowed
    with pytest.raises(ConfigError, match="tes=0.0 must be > 0"):
        Nuisances(tes=0.0)
    with pytest.raises(ConfigError, match="soft_met=-1.0 must be >= 0"):
        Nuisances(soft_met=-1.0)
    with pytest.raises(ConfigError, match="not finite"):
        Nuisances(jes=float("nan"))
    with pytest.raises(ConfigError, match="ttbar_scale=-0.5"):
        Nuisances(ttbar_scale=-0.5)
    with pytest.raises(TypeError, match="expected a real number"):
        Nuisances(bkg_scale="1")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown nuisance"):
        Nuisances.from_mapping({"tess": 1.0})
    assert Nuisances.from_mapping({"jes": 1.02}) == Nuisances(jes=1.02)

    draws = [Nuisances.draw(np.random.default_rng(s)) for s in range(300)]
    assert Nuisances.draw(5) == Nuisances.draw(5)
    for name in NUISANCE_NAMES:
        values = np.array([getattr(d, name) for d in draws])
        prior = CHALLENGE_PRIORS[name]
        assert values.min() >= prior.low
        assert values.max() <= prior.high
        assert np.unique(values).size > 10
    tes = np.array([d.tes for d in draws])
    assert abs(tes.mean() - 1.0) < 0.003
    assert 0.008 < tes.std() < 0.012
    soft = np.array([d.soft_met for d in draws])
    assert (soft == 5.0).any()  # LogNormal(0, 1) clipped at 5: ~5 % of draws
    with pytest.raises(TypeError):
        CHALLENGE_PRIORS["tes"] = ClippedNormal(1, 1, 0, 2)  # type: ignore[index]
    assert CHALLENGE_PRIORS["mu"].low == 0.1
    assert CHALLENGE_PRIORS["mu"].high == 3.0
    with pytest.raises(ConfigError, match="bounds"):
        ClippedNormal(1.0, 0.1, 2.0, 0.0)


# ---------------------------------------------------------------------------- identity
def test_nominal_equals_nominal_selection_exactly(toy):
    before = toy.copy()
    out = apply_systematics(toy, Nuisances())
    pd.testing.assert_frame_equal(toy, before)  # input untouched
    expected = nominal_selection_by_hand(toy)
    pd.testing.assert_frame_equal(out, expected, check_exact=True)
    # events with no jet removed keep every PRI value bit for bit
    merged = out.merge(toy, on="event_id", suffixes=("", "_in"))
    same_jets = merged.PRI_n_jets == merged.PRI_n_jets_in
    assert same_jets.sum() > 100
    for c in PRI_FEATURES:
        np.testing.assert_array_equal(merged[c][same_jets], merged[f"{c}_in"][same_jets])
    np.testing.assert_array_equal(merged.weights, merged.weights_in)


@pytest.mark.data
def test_nominal_on_real_sample(real):
    before = real.copy()
    out = apply_systematics(real, Nuisances(), seed=1)
    pd.testing.assert_frame_equal(real, before)
    assert list(out.columns) == list(real.columns)
    assert (out.dtypes == real.dtypes).all()
    assert out.index.equals(pd.RangeIndex(len(out)))
    # DESIGN.md §1: 320 htautau, 577 ztautau, 25 ttbar survive the nominal selection
    counts = out.detailed_labels.value_counts()
    assert (counts["htautau"], counts["ztautau"], counts["ttbar"]) == (320, 577, 25)
    pd.testing.assert_frame_equal(out, nominal_selection_by_hand(real), check_exact=True)
    # idempotent, bit for bit
    pd.testing.assert_frame_equal(apply_systematics(out, Nuisances()), out, check_exact=True)
    # where no jet was removed, the recomputed DER agree with the stored ones
    tagged = apply_systematics(real.assign(row_id=np.arange(len(real))), Nuisances())
    stored = real.iloc[tagged.row_id.to_numpy()].reset_index(drop=True)
    same = (tagged.PRI_n_jets == stored.PRI_n_jets).to_numpy()
    assert same.sum() > 800
    for name in DER_FEATURES:
        assert np.max(np.abs(tagged[name][same] - stored[name][same])) < 0.01


# ---------------------------------------------------------------------------- tes
def test_tes_scales_had_pt_and_balances_met(toy):
    tes = 1.03
    out = apply_systematics(toy, Nuisances(tes=tes), dopostselection=False)
    np.testing.assert_allclose(out.PRI_had_pt, toy.PRI_had_pt * tes, rtol=1e-14)
    # MET_vec + had_vec is invariant
    np.testing.assert_allclose(
        met_vector(out) + vec(out, "PRI_had"),
        met_vector(toy) + vec(toy, "PRI_had"),
        atol=1e-9,
    )
    for c in PRI_FEATURES:
        if c not in ("PRI_had_pt", "PRI_met", "PRI_met_phi"):
            np.testing.assert_array_equal(out[c], toy[c])


@pytest.mark.parametrize("tes", [0.97, 1.05])
def test_m_vis_scales_like_sqrt_tes(toy, tes):
    # massless lepton + tau_h: m_vis^2 = 2 pT_l pT_h (cosh deta - cos dphi), so m_vis ∝ sqrt(tes)
    out = apply_systematics(toy, Nuisances(tes=tes), dopostselection=False)
    ratio = out.DER_mass_vis / toy.DER_mass_vis
    np.testing.assert_allclose(ratio, math.sqrt(tes), rtol=1e-10)
    assert (np.sign(out.DER_mass_vis - toy.DER_mass_vis) == np.sign(tes - 1)).all()


def test_tes_reselection_count_by_hand(toy):
    for tes in (0.9, 1.1):
        out = apply_systematics(toy, Nuisances(tes=tes))
        hand = int(((toy.PRI_had_pt * tes >= 26) & (toy.PRI_lep_pt >= 20)).sum())
        assert len(out) == hand
        assert (out.PRI_had_pt >= 26).all()
        assert (out.PRI_lep_pt >= 20).all()
    assert len(apply_systematics(toy, Nuisances(tes=1.1))) > len(
        apply_systematics(toy, Nuisances(tes=0.9))
    )


# ---------------------------------------------------------------------------- jes
def test_jes_scales_jets_and_balances_met(toy):
    jes = 0.95
    out = apply_systematics(toy, Nuisances(jes=jes), dopostselection=False)
    has1, has2 = toy.PRI_n_jets >= 1, toy.PRI_n_jets >= 2
    np.testing.assert_allclose(
        out.PRI_jet_leading_pt, np.where(has1, toy.PRI_jet_leading_pt * jes, MISSING)
    )
    np.testing.assert_allclose(
        out.PRI_jet_subleading_pt, np.where(has2, toy.PRI_jet_subleading_pt * jes, MISSING)
    )
    np.testing.assert_allclose(out.PRI_jet_all_pt, toy.PRI_jet_all_pt * jes)
    np.testing.assert_array_equal(out.PRI_had_pt, toy.PRI_had_pt)
    # MET_vec + j1_vec + j2_vec is invariant (existing jets only)
    np.testing.assert_allclose(
        met_vector(out)
        + vec(out, "PRI_jet_leading", has1.to_numpy())
        + vec(out, "PRI_jet_subleading", has2.to_numpy()),
        met_vector(toy)
        + vec(toy, "PRI_jet_leading", has1.to_numpy())
        + vec(toy, "PRI_jet_subleading", has2.to_numpy()),
        atol=1e-9,
    )
    # no jet: MET unchanged
    no_jet = (toy.PRI_n_jets == 0).to_numpy()
    np.testing.assert_allclose(out.PRI_met[no_jet], toy.PRI_met[no_jet], rtol=1e-12)


def test_jes_reselection_counts_by_hand(toy):
    jes = 0.93
    out = apply_systematics(toy, Nuisances(jes=jes))
    sel = toy[(toy.PRI_had_pt >= 26) & (toy.PRI_lep_pt >= 20)]
    assert len(out) == len(sel)  # jets never remove events
    lead = (sel.PRI_n_jets >= 1) & (sel.PRI_jet_leading_pt * jes >= 26)
    sub = lead & (sel.PRI_n_jets >= 2) & (sel.PRI_jet_subleading_pt * jes >= 26)
    assert int((out.PRI_n_jets >= 1).sum()) == int(lead.sum())
    assert int((out.PRI_n_jets >= 2).sum()) == int(sub.sum())
    jets = out.PRI_n_jets
    assert (out.PRI_jet_leading_pt[jets >= 1] >= 26).all()
    assert (out.PRI_jet_subleading_pt[jets >= 2] >= 26).all()
    assert (out.PRI_jet_leading_pt[jets == 0] == MISSING).all()
    assert (out.PRI_jet_subleading_pt[jets <= 1] == MISSING).all()
    assert (out.PRI_jet_all_pt[jets == 0] == 0).all()
    assert (out.DER_mass_jet_jet[jets <= 1] == MISSING).all()
    assert (out.DER_mass_jet_jet[jets >= 2] > 0).all()


def _jet_event(n_jets: float, j1: float, j2: float, all_pt: float) -> pd.DataFrame:
    row = {c: 0.0 for c in PRI_FEATURES}
    row |= {"PRI_lep_pt": 30.0, "PRI_had_pt": 40.0, "PRI_had_phi": 2.0, "PRI_met": 10.0}
    row |= {"PRI_n_jets": n_jets, "PRI_jet_all_pt": all_pt}
    row |= {"PRI_jet_leading_pt": j1, "PRI_jet_leading_eta": 1.0, "PRI_jet_leading_phi": 0.5}
    row |= {"PRI_jet_subleading_pt": j2, "PRI_jet_subleading_eta": -1.0}
    row |= {"PRI_jet_subleading_phi": -0.5}
    return pd.DataFrame([row])


def test_subleading_jet_removed():
    out = apply_systematics(_jet_event(2, 40.0, 25.0, 65.0), Nuisances()).iloc[0]
    assert out.PRI_n_jets == 1
    assert out.PRI_jet_all_pt == 40.0
    assert out.PRI_jet_leading_pt == 40.0
    assert out.PRI_jet_leading_eta == 1.0
    assert (out.PRI_jet_subleading_pt, out.PRI_jet_subleading_eta) == (MISSING, MISSING)
    assert out.PRI_jet_subleading_phi == MISSING
    assert out.DER_mass_jet_jet == MISSING
    # with three jets the third (softer than the subleading one) goes too
    out = apply_systematics(_jet_event(3, 40.0, 25.0, 88.0), Nuisances()).iloc[0]
    assert out.PRI_n_jets == 1
    assert out.PRI_jet_all_pt == 40.0
    # a jet exactly at threshold stays
    out = apply_systematics(_jet_event(2, 40.0, 26.0, 66.0), Nuisances()).iloc[0]
    assert out.PRI_n_jets == 2
    assert out.PRI_jet_subleading_pt == 26.0


def test_leading_jet_removed_and_subleading_promoted():
    # ordered jets: both go
    out = apply_systematics(_jet_event(2, 25.0, 23.0, 48.0), Nuisances()).iloc[0]
    assert out.PRI_n_jets == 0
    assert out.PRI_jet_all_pt == 0.0
    assert out.PRI_jet_leading_pt == MISSING
    assert out.PRI_jet_subleading_pt == MISSING
    # input not pt-ordered: the subleading jet is promoted
    out = apply_systematics(_jet_event(2, 25.0, 30.0, 55.0), Nuisances()).iloc[0]
    assert out.PRI_n_jets == 1
    assert out.PRI_jet_all_pt == 30.0
    assert (out.PRI_jet_leading_pt, out.PRI_jet_leading_eta) == (30.0, -1.0)
    assert out.PRI_jet_leading_phi == -0.5
    assert out.PRI_jet_subleading_pt == MISSING
    # jes pushes a 25 GeV jet above threshold: kept
    out = apply_systematics(_jet_event(1, 25.0, MISSING, 25.0), Nuisances(jes=1.05)).iloc[0]
    assert out.PRI_n_jets == 1
    assert out.PRI_jet_leading_pt == pytest.approx(26.25)


# ---------------------------------------------------------------------------- soft MET
def test_soft_met_reproducible_and_sized():
    frame = toy_frame(20_000, seed=3)
    nu = Nuisances(soft_met=3.0)
    a = apply_systematics(frame, nu, seed=11, dopostselection=False)
    b = apply_systematics(frame, nu, seed=np.random.default_rng(11), dopostselection=False)
    c = apply_systematics(frame, nu, seed=12, dopostselection=False)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert not np.array_equal(a.PRI_met, c.PRI_met)
    shift = met_vector(a) - met_vector(frame)
    assert np.abs(shift.mean(axis=0)).max() < 0.1
    np.testing.assert_allclose(shift.std(axis=0), 3.0, rtol=0.03)
    assert abs(np.corrcoef(shift.T)[0, 1]) < 0.03
    for col in PRI_FEATURES:
        if col not in ("PRI_met", "PRI_met_phi"):
            np.testing.assert_array_equal(a[col], frame[col])


def test_soft_met_zero_draws_nothing(toy):
    rng = np.random.default_rng(5)
    state = rng.bit_generator.state
    apply_systematics(toy, Nuisances(tes=1.01), seed=rng)
    assert rng.bit_generator.state == state


# ---------------------------------------------------------------------------- normalisations
def test_normalisations_applied_to_the_right_processes(toy):
    nu = Nuisances(ttbar_scale=1.2, diboson_scale=0.5, bkg_scale=1.01)
    out = apply_systematics(toy, nu)
    ref = apply_systematics(toy, Nuisances())
    factor = {"htautau": 1.0, "ztautau": 1.01, "ttbar": 1.2 * 1.01, "diboson": 0.5 * 1.01}
    assert {p: nu.rate_factor(p) for p in factor} == pytest.approx(factor, rel=1e-15)
    expected = ref.weights * ref.detailed_labels.map(factor).astype(float)
    np.testing.assert_allclose(out.weights, expected, rtol=1e-15)
    pd.testing.assert_frame_equal(out.drop(columns="weights"), ref.drop(columns="weights"))
    # without detailed_labels, bkg_scale falls back on labels == 0
    no_detail = toy.drop(columns="detailed_labels")
    out = apply_systematics(no_detail, Nuisances(bkg_scale=0.99))
    ref = apply_systematics(no_detail, Nuisances())
    np.testing.assert_allclose(out.weights, ref.weights * np.where(ref.labels == 1, 1, 0.99))
    with pytest.raises(SchemaError, match="detailed_labels"):
        apply_systematics(no_detail, Nuisances(ttbar_scale=1.1))
    with pytest.raises(SchemaError, match="'weights' column"):
        apply_systematics(toy.drop(columns="weights"), Nuisances(bkg_scale=1.001))


# ---------------------------------------------------------------------------- format
def test_dtypes_columns_and_extras_preserved():
    frame = toy_frame(500, seed=4, dtype=np.float32)
    frame["production_mode"] = pd.Series(["ggH"] * 500, dtype="category")
    out = apply_systematics(frame, Nuisances(tes=1.02, jes=0.98, soft_met=1.0), seed=0)
    assert list(out.columns) == list(frame.columns)
    assert out.dtypes.to_dict() == frame.dtypes.to_dict()
    assert out.index.equals(pd.RangeIndex(len(out)))
    ids = out.event_id.to_numpy()
    np.testing.assert_array_equal(out.detailed_labels, frame.detailed_labels.to_numpy()[ids])
    # DER appended, in order, when the input has none
    pri_only = frame[[*PRI_FEATURES, "weights"]]
    out = apply_systematics(pri_only, Nuisances())
    assert list(out.columns) == [*PRI_FEATURES, "weights", *DER_FEATURES]
    assert out.DER_mass_vis.dtype == np.float32


def test_errors_name_the_problem(toy):
    with pytest.raises(SchemaError, match="PRI_met_phi"):
        apply_systematics(toy.drop(columns="PRI_met_phi"), Nuisances())
    bad = toy.copy()
    bad.loc[7, "PRI_had_eta"] = np.nan
    with pytest.raises(DataError, match=r"'PRI_had_eta'.*row 7"):
        apply_systematics(bad, Nuisances())
    bad = toy.copy()
    bad.loc[3, "weights"] = np.inf
    with pytest.raises(DataError, match="'weights'"):
        apply_systematics(bad, Nuisances())
    with pytest.raises(SchemaError, match="dtype"):
        apply_systematics(toy.assign(PRI_lep_pt=toy.PRI_lep_pt.astype(str)), Nuisances())
    with pytest.raises(TypeError, match="Nuisances"):
        apply_systematics(toy, {"tes": 1.0})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="DataFrame"):
        apply_systematics(toy.to_numpy(), Nuisances())  # type: ignore[arg-type]


def test_empty_and_fully_rejected_input(toy):
    empty = apply_systematics(toy.iloc[:0], Nuisances(tes=1.05, soft_met=1.0), seed=0)
    assert len(empty) == 0
    assert list(empty.columns) == list(toy.columns)
    none_left = apply_systematics(toy, Nuisances(tes=0.1))
    assert len(none_left) == 0


def test_eventset_convenience(toy):
    events_mod = pytest.importorskip("unbinned.data.events")
    frame = toy.drop(columns="event_id")
    events = events_mod.EventSet.from_pandas(frame, extra_columns=("labels",))
    nu = Nuisances(tes=1.02, jes=0.99, soft_met=2.0, ttbar_scale=1.1)
    out = apply_systematics_events(events, nu, seed=3)
    ref = apply_systematics(events.to_pandas(), nu, seed=3)
    assert out.process_names == events.process_names
    assert out.feature_names == events.feature_names
    np.testing.assert_array_equal(out.weights, ref.weights)
    np.testing.assert_array_equal(out.features.to_numpy(), ref[list(events.feature_names)])
    np.testing.assert_array_equal(out.extras.labels, ref.labels)
    with pytest.raises(TypeError, match="EventSet"):
        apply_systematics_events(frame, nu)  # type: ignore[arg-type]


@pytest.mark.parametrize("nuisances", [Nuisances(), Nuisances(tes=1.02)])
def test_output_shares_no_memory_with_the_input(nuisances):
    """Nothing of the output is a view of the input (even when no event is dropped)."""
    frame = toy_frame(500, seed=3)
    frame = frame[(frame["PRI_had_pt"] >= 26) & (frame["PRI_lep_pt"] >= 20)].reset_index(drop=True)
    before = frame.copy(deep=True)
    out = apply_systematics(frame, nuisances, seed=0)
    assert len(out) == len(frame)  # nothing dropped: the case where views could leak
    inputs = [frame[c].to_numpy() for c in frame.columns if isinstance(frame[c].dtype, np.dtype)]
    for c in out.columns:
        if isinstance(out[c].dtype, np.dtype):
            values = out[c].to_numpy()
            assert not any(np.shares_memory(values, a) for a in inputs), c
    out.iloc[:, 0] = -7.0  # writing into the output leaves the input as it was
    pd.testing.assert_frame_equal(frame, before)
