"""Several regions (an unbinned signal region and a counting control region) and several POIs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from unbinned.analysis import (
    AnalysisModel,
    IntegrationOptions,
    TemplateOptions,
    build_analysis,
    train_analysis,
)
from unbinned.analysis.regions import RegionLayout
from unbinned.exceptions import ConfigError, DataError
from unbinned.ml import SurrogateConfig, TrainConfig
from unbinned.ml.runtime import RunOptions
from unbinned.ml.sources import GaussianToySource
from unbinned.model import ModelSpec


class ThreeProcessToy(GaussianToySource):
    """The Gaussian toy with two signal processes (a and b) apart in x1."""

    _SPEC = {  # noqa: RUF012 (the parent's class constant, overridden)
        "siga": (1.0, 0.8, 0.5, 0.5, 100.0),
        "sigb": (0.5, -0.8, 0.5, 0.5, 100.0),
        "bkg": (0.0, 0.0, 1.0, 1.0, 1000.0),
    }


SPEC = {
    "pois": [{"name": "mu_a", "bounds": [0.0, 10.0]}, {"name": "mu_b", "bounds": [0.0, 10.0]}],
    "nuisances": [
        {"name": "scale", "nominal": 0.0, "width": 1.0, "bounds": [-3, 3], "acts_on": "shape"},
        {"name": "shift", "nominal": 0.0, "width": 1.0, "bounds": [-3, 3], "acts_on": "shape"},
        {"name": "bnorm", "nominal": 1.0, "width": 0.05, "bounds": [0.5, 1.5]},
    ],
    "processes": [
        {"name": "siga", "signal": True, "modifiers": [{"parameter": "mu_a"}]},
        {"name": "sigb", "signal": True, "modifiers": [{"parameter": "mu_b"}]},
        {"name": "bkg", "modifiers": [{"parameter": "bnorm"}]},
    ],
    "regions": [{"name": "SR"}, {"name": "CR", "kind": "counting", "selection": "x0 < -0.5"}],
}
CFG = SurrogateConfig(
    classifier=TrainConfig(hidden=(16, 16), epochs=3, batch_size=1024, patience=2),
    response=TrainConfig(hidden=(16, 16), epochs=3, batch_size=2048, patience=2),
    max_events_per_point=2000,
)


def _spec(**changes) -> ModelSpec:
    return ModelSpec.from_dict({**SPEC, **changes})


@pytest.fixture(scope="module")
def model() -> AnalysisModel:
    with pytest.warns(UserWarning, match="optimiser steps"):
        return train_analysis(
            ThreeProcessToy(3000, seed=1), _spec(), reference=ThreeProcessToy(3000, seed=2),
            surrogate_config=CFG, templates=TemplateOptions(bins=3),
            run=RunOptions(progress=False),
        )  # fmt: skip


def _data(seed: int = 5):
    return ThreeProcessToy(2000, seed=seed).nominal()


def test_two_regions_two_pois_measure_each_poi_and_their_correlation(model):
    assert model.layout.names == ("SR", "CR")
    assert model.pois == ("mu_a", "mu_b")
    assert "regions ['SR', 'CR']" in repr(model)
    m = model.measure(_data())
    assert m.poi == "mu_a"
    assert m.pois is not None
    assert set(m.pois) == {"mu_a", "mu_b"}
    for name in ("mu_a", "mu_b"):
        one = m[name]
        assert one.valid, one.fit
        assert one.lower < one.value < one.upper
        assert one.value == m.values[name]
    rho = m.correlation_of("mu_a", "mu_b")
    assert -1 < rho < 1
    assert rho != 0
    assert m.binned is not None
    assert m.binned.pois is not None
    assert m.binned["mu_b"].valid
    assert set(m.binned.counts) == {"SR", "CR"}
    assert m.binned.counts["CR"].shape == (1,)
    # the CR count is the events its selection holds
    data = _data()
    assert m.binned.counts["CR"][0] == pytest.approx(data.weights[data.features["x0"] < -0.5].sum())
    text = repr(m)
    assert "corr(mu_a, mu_b)" in text
    d = json.loads(json.dumps(m.to_dict()))
    assert set(d["pois"]) == {"mu_a", "mu_b"}
    assert model.measure(data, poi="mu_b", binned=False).poi == "mu_b"
    with pytest.raises(ConfigError, match="not a parameter of interest"):
        model.measure(data, poi="bnorm")


def test_asimov_returns_the_point_in_both_regions(model):
    theta = {"mu_a": 1.3, "mu_b": 0.7}  # nuisances nominal: their priors agree
    a = model.measure_asimov(theta)
    for name, value in (("mu_a", 1.3), ("mu_b", 0.7), ("scale", 0.0), ("bnorm", 1.0)):
        assert a.values[name] == pytest.approx(value, abs=1e-4)
    assert a.binned is not None
    assert a.binned.values["mu_b"] == pytest.approx(0.7, abs=1e-4)
    lik = model.asimov_likelihood(theta)
    yields = lik.expected_yields(lik.vector(theta))
    assert set(yields) == {"SR", "CR"}


def test_the_region_yields_add_up_to_the_surrogates(model):
    """SR + CR expected yields at a shifted ν equal the learned yield of every event."""
    theta = {"scale": 1.5, "shift": -1.0}
    lik = model.asimov_likelihood()
    x = lik.vector(theta)
    y = lik.expected_yields(x)
    total = y["SR"] + y["CR"]
    one = AnalysisModel(_spec(regions=[{"name": "SR"}]), model.surrogate, model.integration)
    single = one.asimov_likelihood()
    np.testing.assert_allclose(total, single.expected_yields(single.vector(theta))["SR"],
                               rtol=1e-10)  # fmt: skip
    assert y["CR"][2] / y["SR"][2] != pytest.approx(
        lik.expected_yields(lik.vector({}))["CR"][2] / lik.expected_yields(lik.vector({}))["SR"][2]
    )  # the scale nuisance moves events across x0 = -0.5


def test_scan_2d_is_zero_at_the_best_fit(model):
    scan = model.scan_2d((np.array([0.5, 1.0, 1.5]), np.array([1.0])))
    assert scan.pois == ("mu_a", "mu_b")
    assert scan.delta_q.shape == (3, 1)
    assert scan.delta_q[1, 0] == pytest.approx(0.0, abs=1e-6)
    assert (scan.delta_q[[0, 2], 0] > 0).all()
    assert scan.level() == pytest.approx(2.2957, abs=1e-3)
    json.dumps(scan.to_dict())
    assert "mu_a × mu_b" in repr(scan)
    binned = model.scan_2d((np.array([1.0]), np.array([1.0])), binned=True)
    assert binned.method == "binned"


def test_save_and_load_keep_the_regions(model, tmp_path):
    model.save(tmp_path / "a")
    back = AnalysisModel.load(tmp_path / "a")
    np.testing.assert_array_equal(back.integration_regions, model.integration_regions)
    m1 = model.measure(_data(), binned=False)
    m2 = back.measure(_data(), binned=False)
    assert m2.value == pytest.approx(m1.value, rel=1e-9)
    assert m2["mu_b"].upper == pytest.approx(m1["mu_b"].upper, rel=1e-9)


def test_unsupported_region_layouts_are_clear_errors(model):
    with pytest.raises(ConfigError, match="exactly one unbinned region"):
        RegionLayout.from_spec(_spec(regions=[{"name": "A"}, {"name": "B"}]))
    with pytest.raises(ConfigError, match="has no selection"):
        RegionLayout.from_spec(_spec(regions=[{"name": "A"}, {"name": "B", "kind": "counting"}]))
    with pytest.raises(ConfigError, match="does not parse"):
        RegionLayout.from_spec(
            _spec(regions=[{"name": "A"}, {"name": "B", "kind": "counting", "selection": "x0 <"}])
        )
    with pytest.raises(ConfigError, match="moments"):
        build_analysis(model.surrogate, ThreeProcessToy(500, seed=3), _spec(),
                       integration=IntegrationOptions(mode="moments"))  # fmt: skip
    with pytest.raises(ConfigError, match="integration_regions"):
        AnalysisModel(_spec(), model.surrogate, model.integration)
    with pytest.raises(ConfigError, match="EventTensors"):
        model.measure(model.tensors(_data()))
    cr = {"name": "CR", "kind": "counting", "selection": "x0 < -0.5"}
    overlapping = _spec(regions=[{"name": "SR", "selection": "x0 > -1"}, cr])
    with pytest.raises(DataError, match="must not overlap"):
        RegionLayout.from_spec(overlapping).labels(_data())


# The information on two signal strengths: what the fractions and the templates carry.
#
# At the Asimov point (every parameter nominal) the stat-only Fisher information of
# two POIs μ_a, μ_b that scale two signal processes is, in q = −2 ln L units (½ ∂²q),
#
# * unbinned: Σ_SR w c_a c_b (the learned fractions of the integration events; both
#   signals in the extended term) plus the counting CR's S_a S_b / N with S_p its
#   classifier-weighted yields;
# * binned: Σ_bins T_a T_b / T of the nominal templates (every region's bins).
#
# A two-POI analysis whose unbinned interval differs from the binned one must differ in
# these sums (the classifier's calibration, the Monte-Carlo statistics of the
# reference), not in how the likelihood counts the two signals.

POIS = ("mu_a", "mu_b")


def _poi_information(lik) -> np.ndarray:
    """½ ∂²q/∂μ∂μ' at the nominal point: the stat-only Fisher information of the POIs."""
    h = np.asarray(lik.hessian(lik.vector({})))
    idx = [list(lik.parameter_names).index(p) for p in POIS]
    return 0.5 * h[np.ix_(idx, idx)]


def test_unbinned_information_is_the_fractions_sum_plus_the_counting_term(model):
    integ = model.integration
    labels = model.integration_regions
    assert labels is not None
    procs = list(model.surrogate.processes)
    sig = [procs.index(p) for p in ("siga", "sigb")]
    sr, cr = labels == 0, labels == 1
    c, w = integ.fractions, integ.weights
    expected = (c[sr][:, sig] * w[sr, None]).T @ c[sr][:, sig]
    s_cr = (c[cr][:, sig] * w[cr, None]).sum(0)
    expected += np.outer(s_cr, s_cr) / w[cr].sum()
    got = _poi_information(model.asimov_likelihood())
    np.testing.assert_allclose(got, expected, rtol=1e-8)
    assert got[0, 1] > 0  # the two signals overlap: the POIs anti-correlate


def test_binned_information_is_the_templates_sum(model):
    assert model.templates is not None
    expected = np.zeros((2, 2))
    for region in model.templates.regions:
        t = np.asarray(region.nominal)  # (P, B)
        s = t[[list(region.processes).index(p) for p in ("siga", "sigb")]]
        total = t.sum(0)
        ok = total > 0
        expected += (s[:, ok] / total[ok]) @ s[:, ok].T
    got = _poi_information(model.asimov_likelihood(binned=True))
    np.testing.assert_allclose(got, expected, rtol=1e-8)


def test_the_asimov_interval_follows_the_information(model):
    """The profiled σ of each POI is near the Hessian's and never below the stat-only one."""
    m = model.measure_asimov()
    assert m.pois is not None
    lik = model.asimov_likelihood()
    h = np.asarray(lik.hessian(lik.vector({})))
    cov = 2.0 * np.linalg.inv(h)
    stat = np.linalg.inv(_poi_information(lik))
    for k, name in enumerate(POIS):
        i = list(lik.parameter_names).index(name)
        sigma = m.pois[name].width / 2
        assert sigma == pytest.approx(np.sqrt(cov[i, i]), rel=0.1)
        assert np.sqrt(cov[i, i]) >= np.sqrt(stat[k, k]) * (1 - 1e-9)
