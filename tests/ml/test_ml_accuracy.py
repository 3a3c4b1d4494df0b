"""Accuracy against analytic truth: the Gaussian toy (and the resonance oracle, slow)."""

import matplotlib
import numpy as np
import pytest
import torch

from unbinned.ml import (
    GaussianToySource,
    SurrogateConfig,
    TrainConfig,
    calibrate,
    closure_test,
    oracle_comparison,
    reliability,
    train_surrogate,
    yield_closure,
)
from unbinned.ml.runtime import RunOptions

matplotlib.use("Agg")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def trained():
    source = GaussianToySource(6000, seed=21)
    cfg = SurrogateConfig(
        classifier=TrainConfig(hidden=(32, 32), epochs=12, batch_size=256),
        response=TrainConfig(hidden=(32, 32), epochs=8, batch_size=4096, learning_rate=3e-3),
    )
    return train_surrogate(source, config=cfg, seed=2, run=RunOptions(progress=False))


@pytest.fixture(scope="module")
def held_out():
    return GaussianToySource(6000, seed=22)


def test_log_ratio_matches_exact(trained, held_out):
    cmp = oracle_comparison(trained, held_out)
    assert cmp.logratio_rms < 0.03, cmp
    assert max(cmp.fractions_rms.values()) < 0.03, cmp
    assert "OracleComparison" in repr(cmp)


def test_calibration_closes_yields_exactly_on_its_own_events(trained, held_out):
    events = held_out.nominal()
    result = calibrate(trained.classifier, events)
    from unbinned.ml.classifier import clf_with_calibration

    clf = clf_with_calibration(trained.classifier, result)
    closure = yield_closure(clf, events)
    assert closure.max_abs_relative_deviation < 1e-6, closure
    assert result.nll_after <= result.nll_before


def test_held_out_yield_closure(trained, held_out):
    closure = yield_closure(trained.classifier, held_out.nominal())
    for p in closure.processes:
        dev = closure.predicted[p] - closure.true[p]
        assert abs(dev) < 4 * closure.uncertainty[p] + 0.01 * closure.true[p], closure


def test_nominal_yields_are_consistent_with_fractions(trained):
    total = sum(trained.nominal_yields.values())
    assert total == pytest.approx(sum(trained.simulated_yields.values()), rel=1e-9)


def test_reliability_diagram(trained, held_out):
    diag = reliability(trained.classifier, held_out.nominal(), n_bins=8)
    assert diag.predicted.shape == (2, 8)
    assert max(diag.calibration_error.values()) < 0.05, diag
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    assert diag.plot(ax=ax)
    plt.close(fig)


def test_closure_test_numbers_and_plot(trained, held_out):
    res = closure_test(trained, held_out, n_bins=10)
    assert res.features == ("x0", "x1", "classifier_score")
    assert len(res.entries) == len(res.yields) * 3
    assert res.max_chi2_ndf < 4.0, res
    assert res.max_abs_yield_deviation < 0.05, res
    paired = closure_test(trained, held_out, n_bins=10, pairing="paired", points=[[1.5, -1.5]])
    assert paired.pairing == "paired"
    assert np.isfinite(paired.max_chi2_ndf)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    assert res.plot(0, ax=ax)
    plt.close(fig)
    assert "ClosureResult" in repr(res)


def test_response_with_gaussian_process_yields():
    from unbinned.response import GPYieldModel

    source = GaussianToySource(800, seed=1)
    tiny = TrainConfig(hidden=(8,), epochs=1)
    cfg = SurrogateConfig(classifier=tiny, response=tiny, response_processes=("bkg",))
    model = train_surrogate(
        source,
        config=cfg,
        run=RunOptions(progress=False),
        yield_model=lambda: GPYieldModel(n_restarts=0, max_iter=50),
    )
    assert model.responses["sig"] is None
    ly = model.log_yield(np.array([1.0, 1.0]))
    assert ly[0] == 0.0
    assert np.isfinite(ly[1])
    nu = torch.tensor([1.0, 1.0], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(model.log_yield_torch(nu)[1], nu)
    assert torch.isfinite(grad).all()
    assert grad.abs().sum() > 0
    t = model.precompute(source.nominal())
    assert np.all(t.delta[:, 0] == 0.0)


def test_response_with_designed_gaussian_process_yields():
    from unbinned.ml import train_response
    from unbinned.response import GPYieldModel

    source = GaussianToySource(3000, seed=2)
    resp = train_response(
        source,
        "bkg",
        config=TrainConfig(hidden=(8,), epochs=1),
        run=RunOptions(progress=False),
        yield_model=lambda: GPYieldModel(n_restarts=1, max_iter=60, design_points=3),
    )
    ym = resp.yield_model
    assert isinstance(ym, GPYieldModel)
    n_train = len(resp.design.points)
    assert np.asarray(ym.gp.to_dict()["x"]).shape[0] == n_train + 3
    # the GP reproduces the simulated yield at a point that is not a design point
    nu = np.array([0.7, -0.4])
    truth = np.log(source.varied("bkg", nu).weights.sum() / source.nominal("bkg").weights.sum())
    assert abs(resp.log_yield(nu) - truth) < 0.01


@pytest.mark.slow
def test_resonance_oracle_log_ratio():
    from unbinned.ml import OracleSource
    from unbinned.sim.oracle import ResonanceModel

    oracle = ResonanceModel()
    source = OracleSource(oracle, 30_000, seed=1)
    cfg = SurrogateConfig(classifier=TrainConfig(epochs=12, batch_size=2048))
    model = train_surrogate(source, config=cfg, run=RunOptions(progress=False))
    cmp = oracle_comparison(model, OracleSource(oracle, 20_000, seed=2))
    assert cmp.logratio_rms < 0.025, cmp
