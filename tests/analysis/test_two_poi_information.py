"""The information on two signal strengths: what the fractions and the templates carry.

At the Asimov point (every parameter nominal) the stat-only Fisher information of
two POIs μ_a, μ_b that scale two signal processes is, in q = −2 ln L units (½ ∂²q),

* unbinned: Σ_SR w c_a c_b (the learned fractions of the integration events; both
  signals in the extended term) plus the counting CR's S_a S_b / N with S_p its
  classifier-weighted yields;
* binned: Σ_bins T_a T_b / T of the nominal templates (every region's bins).

A two-POI analysis whose unbinned interval differs from the binned one must differ in
these sums (the classifier's calibration, the Monte-Carlo statistics of the
reference), not in how the likelihood counts the two signals.
"""

from __future__ import annotations

import numpy as np
import pytest

from unbinned.analysis import AnalysisModel, TemplateOptions, train_analysis
from unbinned.ml import SurrogateConfig, TrainConfig
from unbinned.ml.runtime import RunOptions
from unbinned.ml.sources import GaussianToySource
from unbinned.model import ModelSpec


class TwoSignalToy(GaussianToySource):
    """The Gaussian toy with two signal processes apart in x1."""

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
POIS = ("mu_a", "mu_b")


@pytest.fixture(scope="module")
def model() -> AnalysisModel:
    with pytest.warns(UserWarning, match="optimiser steps"):
        return train_analysis(
            TwoSignalToy(3000, seed=1), ModelSpec.from_dict(SPEC),
            reference=TwoSignalToy(3000, seed=2), surrogate_config=CFG,
            templates=TemplateOptions(bins=4), run=RunOptions(progress=False),
        )  # fmt: skip


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
