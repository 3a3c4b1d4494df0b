import numpy as np
import pytest
import torch

from unbinned.exceptions import ConfigError, DataError
from unbinned.response import OnAxisModel, SqrtTransform, on_axis_design, sequential_design
from unbinned.response.threejet import (
    ThreeJetProblem,
    generate_three_jet_events,
    grid_points,
    jet_nuisance_index,
    selection_efficiency,
)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_generator_is_plausible():
    ev = generate_three_jet_events(20_000, np.random.default_rng(0))
    assert len(ev) == 20_000
    assert np.all(np.diff(ev.pt, axis=1) <= 0)
    assert np.all(np.abs(ev.eta) <= 2.5)
    np.testing.assert_allclose(np.hypot(ev.px, ev.py), ev.pt)
    assert 180 < np.median(ev.pt[:, 0]) < 260
    assert 10 < np.median(np.hypot(ev.met_x, ev.met_y)) < 30
    central = np.mean(np.abs(ev.eta) < 1.0)
    assert 0.4 < central < 0.7
    idx = jet_nuisance_index(ev, 4, 1.0)
    assert set(np.unique(idx[:, 0])) == {0, 1}
    assert set(np.unique(idx[:, 1:])) == {2, 3}


@pytest.mark.parametrize("d", [2, 4])
def test_truth_grid_equals_direct_counting(d):
    problem = ThreeJetProblem(d, n_truth_events=3_000, seed=1)
    axis, truth = problem.truth_grid(5)
    assert truth.shape == (5,) * d
    direct = problem.truth(grid_points(axis, d)).reshape(truth.shape)
    np.testing.assert_allclose(truth, direct, atol=1e-12)
    assert problem.truth(np.ones(d))[0] == pytest.approx(1.0)


def test_simulation_point_matches_the_truth():
    problem = ThreeJetProblem(2, n_truth_events=100_000, n_sim_events=50_000, seed=2)
    rng = np.random.default_rng(3)
    nu = np.array([0.9, 1.1])
    value, grad = problem.simulate(nu, rng)
    assert value == pytest.approx(problem.truth(nu)[0], abs=0.03)
    h = 0.03
    fd = np.array(
        [(problem.truth(nu + h * e)[0] - problem.truth(nu - h * e)[0]) / (2 * h) for e in np.eye(2)]
    )
    np.testing.assert_allclose(grad, fd, rtol=0.15, atol=0.1)


def test_problem_input_checks():
    with pytest.raises(ConfigError, match="n_nuisances"):
        ThreeJetProblem(3, n_truth_events=100)
    ev = generate_three_jet_events(10, np.random.default_rng(0))
    with pytest.raises(DataError, match="positive"):
        selection_efficiency(ev, np.array([[0.0, 1.0]]), jet_nuisance_index(ev, 2, 1.0))


@pytest.mark.slow
def test_reduced_benchmark_two_nuisances():
    problem = ThreeJetProblem(2, n_truth_events=200_000, seed=0)
    axis, truth = problem.truth_grid(25)
    test = grid_points(axis, 2)
    target = truth.reshape(-1)
    pts = on_axis_design(problem.bounds, 21)
    sim = problem.simulator(1)
    onaxis = OnAxisModel(nominal=np.ones(2)).fit(pts, [sim(p)[0] for p in pts])
    mse_onaxis = np.mean((onaxis.predict(test) - target) ** 2)
    transform = SqrtTransform()

    def simulate(nu):
        return transform.forward(*sim(nu))

    result = sequential_design(simulate, problem.bounds, 21, seed=0)
    mse_dgp = np.mean((transform.inverse(result.gp.predict(test)) - target) ** 2)
    assert mse_dgp < 0.1 * mse_onaxis
