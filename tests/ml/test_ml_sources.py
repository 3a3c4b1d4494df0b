import numpy as np
import pytest

from unbinned.data.schema import FEATURES
from unbinned.exceptions import ConfigError, DataError, SchemaError
from unbinned.ml.design import ShapeNuisance, default_design, validation_design
from unbinned.ml.sources import (
    EVENT_ID,
    HTAUTAU_SHAPE_NUISANCES,
    GaussianToySource,
    HTauTauSource,
    OracleSource,
    VariationSource,
)


@pytest.fixture(scope="module")
def raw():
    from unbinned.sim.htautau import simulate

    return simulate(400, seed=4)


def test_htautau_source_nominal_and_varied(raw):
    src = HTauTauSource(raw, seed=1)
    assert isinstance(src, VariationSource)
    assert src.processes == ("htautau", "ztautau", "ttbar", "diboson")
    nom = src.nominal("ztautau")
    assert nom.feature_names == FEATURES
    assert EVENT_ID in nom.extras.columns
    assert nom.extras[EVENT_ID].isin(src.generated_ids("ztautau")).all()
    assert (nom.features["PRI_had_pt"] >= 26).all()
    up = src.varied("ztautau", np.array([2.0, 0.0, 0.0]))
    # tes +2 sigma: more events pass the 26 GeV cut, pT scaled by 1.02
    assert up.weights.sum() > nom.weights.sum()
    common = np.intersect1d(nom.extras[EVENT_ID], up.extras[EVENT_ID])
    a = nom.features["PRI_had_pt"].to_numpy()[np.isin(nom.extras[EVENT_ID], common)]
    b = up.features["PRI_had_pt"].to_numpy()[np.isin(up.extras[EVENT_ID], common)]
    np.testing.assert_allclose(b, 1.02 * a)
    # soft_met smearing: fixed seed per point, so a point is reproducible
    s1 = src.varied("ztautau", np.array([0.0, 0.0, 3.0]))
    s2 = src.varied("ztautau", np.array([0.0, 0.0, 3.0]))
    np.testing.assert_array_equal(s1.features["PRI_met"], s2.features["PRI_met"])
    subset = src.generated_ids("ztautau")[:50]
    assert set(src.varied("ztautau", np.zeros(3), event_ids=subset).extras[EVENT_ID]) <= set(subset)
    assert len(src.nominal()) == sum(len(src.nominal(p)) for p in src.processes)


def test_htautau_source_errors(raw):
    with pytest.raises(SchemaError, match="weights"):
        HTauTauSource(raw.drop(columns=["weights"]))
    with pytest.raises(ConfigError, match="not challenge nuisances"):
        HTauTauSource(raw, nuisances=[ShapeNuisance("tau_scale", 1.0, 0.01)])
    src = HTauTauSource(raw)
    with pytest.raises(DataError, match="3 finite standardised values"):
        src.varied("ttbar", np.zeros(2))
    with pytest.raises(ConfigError, match="unknown process"):
        src.nominal("wjets")


def test_oracle_source():
    from unbinned.sim.oracle import ResonanceModel

    model = ResonanceModel()
    src = OracleSource(model, 500, seed=0)
    assert [n.name for n in src.nuisances] == ["energy_scale", "resolution", "mix_frac"]
    nom = src.nominal("signal")
    assert nom.sum_weights == pytest.approx(model.expected_yields()["signal"])
    nu = np.array([1.0, 0.0, 0.0])
    var = src.varied("signal", nu)
    assert var.sum_weights == pytest.approx(model.expected_yields(nu=src.physical(nu))["signal"])
    x = nom.feature_array()
    np.testing.assert_allclose(
        src.exact_log_ratio(x, "signal", nu), model.log_ratio(x, "signal", src.physical(nu))
    )
    rw = OracleSource(model, 500, seed=0, mode="reweight").varied("signal", nu)
    np.testing.assert_array_equal(rw.feature_array(), x)
    assert rw.sum_weights == pytest.approx(var.sum_weights, rel=0.05)


def test_toy_source_exact_log_ratio_matches_varied_histogram():
    src = GaussianToySource(200_000, seed=0)
    nu = np.array([2.0, -1.5])
    nom, var = src.nominal("bkg"), src.varied("bkg", nu)
    x = nom.feature_array()
    r = np.exp(src.exact_log_ratio(x, "bkg", nu))
    edges = np.linspace(-1.5, 3, 10)
    a, _ = np.histogram(x[:, 0], edges, weights=nom.weights * r)
    b, _ = np.histogram(var.feature_array()[:, 0], edges, weights=var.weights)
    np.testing.assert_allclose(a, b, rtol=0.03)
    assert src.exact_fractions(x).shape == (len(x), 2)


def test_designs():
    d = default_design(HTAUTAU_SHAPE_NUISANCES)
    assert d.points.shape[1] == 3
    assert np.all(d.points[0] == 0)
    assert len(d.varied_points) >= 9
    soft = d.points[:, 2]
    assert soft.min() == 0.0
    # soft_met enters as ν = s²/(5 GeV²) in [0, 5]; the axis points are even in s, 5/6 GeV apart
    assert soft.max() == pytest.approx(5.0)
    axis = np.sort(d.points[(d.points[:, 0] == 0) & (d.points[:, 1] == 0), 2])
    np.testing.assert_allclose(np.sqrt(5.0 * axis[1:]), np.arange(1, 7) * 5 / 6)
    lo, _hi = d.trained_range.T
    np.testing.assert_array_equal(lo, [-3, -3, 0])
    val = validation_design(HTAUTAU_SHAPE_NUISANCES)
    train_set = {tuple(p) for p in d.points}
    assert not any(tuple(p) in train_set for p in val.points)
    assert np.all(val.points[:, 2] >= 0)
    one = default_design([ShapeNuisance("a", 0.0, 1.0)])
    assert sorted(one.points[:, 0].tolist()) == [-3, -2, -1, 0, 1, 2, 3]
    with pytest.raises(ConfigError, match="monomials"):
        type(one)(np.array([[0.0], [1.0]]), ("a",)).check()
    with pytest.raises(ConfigError, match="scale"):
        ShapeNuisance("a", 0.0, 0.0)


def test_shape_nuisance_power():
    soft = ShapeNuisance("s", 0.0, 1.0, 0.0, 5.0, power=2)
    assert soft.standardize(3.0) == pytest.approx(9.0)
    assert soft.physical(9.0) == pytest.approx(3.0)
    assert soft.standardized_range == (0.0, 25.0)
    assert soft.linear_range == (0.0, 5.0)
    assert ShapeNuisance.from_dict(soft.to_dict()) == soft
    # files written before the power existed read as power 1
    old = {k: v for k, v in soft.to_dict().items() if k != "power"}
    assert ShapeNuisance.from_dict(old).power == 1
    with pytest.raises(ConfigError, match="one-sided"):
        ShapeNuisance("t", 1.0, 0.01, 0.9, 1.1, power=2)
    with pytest.raises(ConfigError, match="power"):
        ShapeNuisance("s", 0.0, 1.0, 0.0, 5.0, power=3)


@pytest.mark.data
def test_real_challenge_data_works_the_same_way(real_sample_path):
    import pandas as pd

    frame = pd.read_parquet(real_sample_path)
    src = HTauTauSource(frame, seed=0)
    nom = src.nominal()
    assert len(nom) > 0
    assert set(nom.process_names) == {"htautau", "ztautau", "ttbar", "diboson"}
    varied = src.varied("htautau", np.array([1.0, -1.0, 2.0]))
    assert varied.feature_names == FEATURES
    assert set(varied.extras[EVENT_ID]) <= set(src.generated_ids("htautau"))
