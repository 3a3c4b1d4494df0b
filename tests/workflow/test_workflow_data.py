from __future__ import annotations

import numpy as np
import pytest

from unbinned.ml import GaussianToySource
from unbinned.model import ModelSpec
from unbinned.workflow.data import draw_parameters, rate_factors, source_pseudo_data

SPEC = ModelSpec.from_dict(
    {
        "pois": [{"name": "mu", "bounds": [0, 5]}],
        "nuisances": [
            {"name": "scale", "prior": "gaussian", "width": 1.0, "acts_on": "shape",
             "bounds": [-3, 3]},
            {"name": "shift", "prior": "gaussian", "width": 1.0, "acts_on": "shape"},
            {"name": "norm", "nominal": 0.0, "prior": "gaussian", "width": 1.0},
        ],
        "processes": [
            {"name": "sig", "signal": True, "modifiers": [{"parameter": "mu"}]},
            {"name": "bkg",
             "modifiers": [{"parameter": "norm", "kind": "lognormal", "kappa": 1.2}]},
        ],
    }
)  # fmt: skip


def test_rate_factors_follow_the_modifiers():
    f = rate_factors(SPEC, {"mu": 2.0, "norm": 1.0})
    assert f == pytest.approx({"sig": 2.0, "bkg": 1.2})


def test_draw_parameters_respects_priors_and_bounds():
    rng = np.random.default_rng(0)
    draws = [draw_parameters(SPEC, rng) for _ in range(300)]
    scale = np.array([d["scale"] for d in draws])
    assert scale.min() >= -3
    assert scale.max() <= 3
    assert abs(scale.std() - 1.0) < 0.15


def test_source_pseudo_data_is_poisson_around_the_expected_yield():
    src = GaussianToySource(2000, seed=1)
    expected = sum(src.nominal(p).sum_weights for p in src.processes)
    ev = source_pseudo_data(src, SPEC, {"mu": 1.0}, seed=3)
    assert abs(ev.sum_weights - expected) < 5 * np.sqrt(expected)
    assert np.all(ev.weights >= 1.0)
    assert np.all(ev.weights == np.round(ev.weights))
    again = source_pseudo_data(src, SPEC, {"mu": 1.0}, seed=3)
    assert np.array_equal(ev.features.to_numpy(), again.features.to_numpy())
    more = source_pseudo_data(src, SPEC, {"mu": 4.0}, seed=3)
    n_sig = lambda e: float(e.weights[e.process_mask("sig")].sum())  # noqa: E731
    assert n_sig(more) > 2.5 * n_sig(ev)
