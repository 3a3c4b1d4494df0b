import json

import numpy as np
import pytest
import torch

from unbinned.exceptions import ConfigError, DataError, FitError, ModelFileError, OutOfRangeWarning
from unbinned.response import GPYieldModel, YieldModel, anova_components, design_yield_model


@pytest.fixture(autouse=True)
def _one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _log_yield(nu):
    return 0.08 * nu[..., 0] - 0.03 * nu[..., 1] + 0.02 * nu[..., 0] * nu[..., 1]


def _grad(nu):
    return np.stack([0.08 + 0.02 * nu[..., 1], -0.03 + 0.02 * nu[..., 0]], axis=-1)


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    pts = np.array(
        [[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1], [1, 1], [-1, -1], [1, -1], [-1, 1]],
        dtype=np.float64,
    )
    return GPYieldModel(bounds=[(-2, 2), (-2, 2)], n_restarts=1).fit(
        pts, _log_yield(pts), _grad(pts)
    )


def test_gp_yield_model_follows_the_protocol(model):
    assert isinstance(model, YieldModel)
    assert model.n_nuisances == 2
    nu = np.random.default_rng(0).uniform(-1.5, 1.5, (4, 3, 2))
    out = model(nu)
    assert out.shape == (4, 3)
    np.testing.assert_allclose(out, _log_yield(nu), atol=5e-3)
    assert model.predict_std(nu).shape == (4, 3)


def test_log_yield_torch_has_exact_gradients(model):
    nu = torch.tensor([[0.3, -0.4], [1.2, 0.7]], dtype=torch.float64, requires_grad=True)
    out = model.log_yield_torch(nu)
    np.testing.assert_allclose(out.detach().numpy(), model(nu.detach().numpy()), rtol=1e-12)
    (grad,) = torch.autograd.grad(out.sum(), nu)
    np.testing.assert_allclose(grad.numpy(), _grad(nu.detach().numpy()), atol=5e-3)
    assert torch.autograd.gradcheck(lambda x: model.log_yield_torch(x), (nu,))
    out32 = model.log_yield_torch(nu.detach().float())
    assert out32.dtype == torch.float32


def test_json_round_trip(model):
    state = json.loads(json.dumps(model.to_dict()))
    again = GPYieldModel.from_dict(state)
    nu = np.array([[0.1, 0.2], [-0.7, 1.1]])
    np.testing.assert_allclose(again(nu), model(nu), rtol=1e-12)
    with pytest.raises(ModelFileError, match="gp_yield"):
        GPYieldModel.from_dict({"kind": "polynomial"})


def test_out_of_range_warns_and_unfitted_raises(model):
    with pytest.warns(OutOfRangeWarning, match="outside"):
        model(np.array([[3.0, 0.0]]))
    with pytest.raises(FitError, match="not fitted"):
        GPYieldModel()(np.zeros((1, 2)))
    with pytest.raises(DataError, match="shape"):
        model(np.zeros((2, 3)))


def test_design_yield_model_chooses_its_points():
    def simulate(nu):
        return float(_log_yield(nu)), _grad(nu)

    model, result = design_yield_model(simulate, [(-1, 1), (-1, 1)], 6, seed=0)
    assert result.points.shape == (6, 2)
    grid = np.stack(np.meshgrid(np.linspace(-1, 1, 7), np.linspace(-1, 1, 7)), -1).reshape(-1, 2)
    np.testing.assert_allclose(model(grid), _log_yield(grid), atol=0.01)
    additive, _ = design_yield_model(
        simulate,
        [(-1, 1), (-1, 1)],
        6,
        seed=0,
        gp_options={"components": anova_components(2, (1, 2))},
    )
    assert additive.gp.components == ((0,), (1,), (0, 1))
    np.testing.assert_allclose(additive(grid), _log_yield(grid), atol=0.01)


def test_fit_by_design_adds_designed_points_and_reuses_the_given_ones():
    start = np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1]], dtype=np.float64)
    calls = []

    def simulate(nu):
        calls.append(np.array(nu))
        return float(_log_yield(nu))

    model = GPYieldModel(n_restarts=1, design_points=8, gp_options={"kernel": "rbf"})
    assert model.fit_by_design(simulate, start, _log_yield(start)) is model
    assert len(calls) == 8  # the given points are not simulated again
    assert model.gp.kernel == "rbf"
    x = np.asarray(model.gp.to_dict()["x"])
    assert x.shape == (13, 2)
    for p in calls:  # designed points are new and inside the trained box
        assert np.min(np.abs(start - p).sum(axis=1)) > 1e-6
        assert np.all(np.abs(p) <= 1.0 + 1e-12)
    grid = np.random.default_rng(3).uniform(-1, 1, (50, 2))
    np.testing.assert_allclose(model(grid), _log_yield(grid), atol=0.005)


def test_fit_by_design_checks_its_inputs():
    with pytest.raises(ConfigError, match="design_points"):
        GPYieldModel(design_points=-1)
    with pytest.raises(ConfigError, match="n_restarts"):
        GPYieldModel(gp_options={"n_restarts": 2})
    start = np.array([[0.0], [1.0], [-1.0]])
    model = GPYieldModel(design_points=1)
    with pytest.raises(DataError, match="NaN"):
        model.fit_by_design(lambda nu: 0.0, start, np.array([0.0, np.nan, 0.1]))
    with pytest.raises(DataError, match="not finite"):
        model.fit_by_design(lambda nu: float("inf"), start, np.array([0.0, 0.1, -0.1]))
