import numpy as np
import pytest
import torch

from unbinned.exceptions import ConfigError, DataError
from unbinned.response import (
    DerivativeGP,
    GPHyperparameters,
    anova_components,
    expected_trace_reduction,
    select_batch,
    sequential_design,
    sobol_points,
)
from unbinned.response.design import _default_candidates


@pytest.fixture(autouse=True)
def _one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


HYPER = GPHyperparameters(
    lengthscales=(0.2, 0.2), outputscale=1.0, value_noise=1e-4, gradient_noise=1e-3, mean=0.0
)
BOUNDS = [(0.0, 1.0), (0.0, 1.0)]


def _clustered_gp(with_gradients):
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 0.3, (6, 2))
    y = np.sin(4 * x[:, 0]) + x[:, 1]
    g = np.stack([4 * np.cos(4 * x[:, 0]), np.ones(6)], axis=1) if with_gradients else None
    return DerivativeGP(BOUNDS).fit(x, y, g, hyperparameters=HYPER), x


@pytest.mark.parametrize("with_gradients", [False, True])
def test_acquisition_prefers_unexplored_regions(with_gradients):
    gp, x = _clustered_gp(with_gradients)
    utility = sobol_points(BOUNDS, 256, seed=3)
    candidates = np.array([[0.15, 0.15], [0.5, 0.5], [0.85, 0.85]])
    scores = expected_trace_reduction(gp, candidates, utility)
    assert np.all(scores >= 0)
    assert scores[0] < 0.2 * scores[1]
    batch = select_batch(gp, 3, utility=utility, seed=1)
    assert batch.shape == (3, 2)
    # the chosen points are far from the explored corner and from each other
    dist_to_data = np.min(np.linalg.norm(batch[:, None, :] - x[None, :, :], axis=-1), axis=1)
    assert np.all(dist_to_data > 0.25)
    assert len({tuple(p) for p in batch}) == 3


@pytest.mark.parametrize("with_gradients", [False, True])
def test_score_equals_the_brute_force_trace_reduction(with_gradients):
    gp, x = _clustered_gp(with_gradients)
    utility = sobol_points(BOUNDS, 64, seed=2)
    candidate = np.array([[0.6, 0.4]])
    score = expected_trace_reduction(gp, candidate, utility)[0]
    _, var_before = gp.predict(utility, return_var=True)
    # the posterior variance does not depend on the observed values: any value will do
    x2 = np.vstack([x, candidate])
    y2 = np.append(gp._y, 0.123)
    g2 = None if gp._g is None else np.vstack([gp._g, [[0.3, -0.2]]])
    gp2 = DerivativeGP(BOUNDS).fit(x2, y2, g2, hyperparameters=HYPER)
    # internal units differ between the fits (y standardisation); compare in original units
    scale = (gp2._y_scale / gp._y_scale) ** 2
    _, var_after = gp2.predict(utility, return_var=True)
    expected = var_before.sum() - var_after.sum() / scale
    assert score == pytest.approx(expected, rel=1e-6)


def test_sequential_design_learns_a_smooth_function():
    def f(nu):
        return np.sin(3 * nu[..., 0]) * np.cos(2 * nu[..., 1])

    def simulate(nu):
        grad = np.array(
            [3 * np.cos(3 * nu[0]) * np.cos(2 * nu[1]), -2 * np.sin(3 * nu[0]) * np.sin(2 * nu[1])]
        )
        return float(f(nu)), grad

    seen = []
    result = sequential_design(
        simulate,
        [(-1, 1), (-1, 1)],
        10,
        batch_size=3,
        seed=0,
        n_candidates=256,
        n_utility=128,
        refit_restarts=0,
        final_restarts=1,
        callback=lambda r: seen.append(len(r.values)),
    )
    assert seen == [1, 4, 7, 10]
    assert result.points.shape == (10, 2)
    assert result.gradients is not None
    assert result.gradients.shape == (10, 2)
    np.testing.assert_allclose(result.points[0], [0.0, 0.0])
    test = sobol_points([(-1, 1), (-1, 1)], 512, seed=9)
    assert np.mean((result.gp.predict(test) - f(test)) ** 2) < 0.01
    assert "DesignResult(n_points=10" in repr(result)


def test_design_input_checks():
    gp, _ = _clustered_gp(False)
    with pytest.raises(ConfigError, match="n_points"):
        select_batch(gp, 0)
    with pytest.raises(DataError, match="candidates"):
        expected_trace_reduction(gp, np.zeros((2, 3)), np.zeros((2, 2)))
    with pytest.raises(DataError, match="gradient"):
        sequential_design(lambda nu: (1.0, None), [(0, 1)], 3, use_gradients=True)
    with pytest.raises(ConfigError, match="initial points"):
        sequential_design(lambda nu: (1.0, None), [(0, 1)], 1, initial_points=[[0.1], [0.2]])


def test_utility_weights_steer_the_design():
    gp, _ = _clustered_gp(True)
    utility = sobol_points(BOUNDS, 128, seed=4)
    candidates = sobol_points(BOUNDS, 64, seed=5)
    plain = expected_trace_reduction(gp, candidates, utility)
    ones = expected_trace_reduction(gp, candidates, utility, weights=np.ones(128))
    np.testing.assert_allclose(ones, plain, rtol=1e-10)
    near = (np.linalg.norm(utility - [0.9, 0.1], axis=1) < 0.2).astype(float)
    batch = select_batch(gp, 1, candidates=candidates, utility=utility, weights=near)
    assert np.linalg.norm(batch[0] - [0.9, 0.1]) < 0.3
    with pytest.raises(DataError, match="weights"):
        expected_trace_reduction(gp, candidates, utility, weights=-np.ones(128))


def test_batch_size_schedule():
    sizes = []

    def simulate(nu):
        return float(np.sum(nu**2)), 2 * nu

    result = sequential_design(
        simulate,
        [(-1, 1)],
        7,
        batch_size=lambda n: 1 if n < 3 else 2,
        n_candidates=64,
        n_utility=32,
        refit_restarts=0,
        final_restarts=0,
        callback=lambda r: sizes.append(len(r.values)),
    )
    assert sizes == [1, 2, 3, 5, 7]
    assert result.points.shape == (7, 1)
    with pytest.raises(ConfigError, match="batch_size"):
        sequential_design(simulate, [(-1, 1)], 3, batch_size=lambda n: 0)


@pytest.mark.parametrize("pair_differences", [False, True])
def test_score_with_components_and_log_warp_equals_the_brute_force_reduction(pair_differences):
    # the design's covariances must use the GP's kernel components, input warp and pair
    # differences (whose prior gradient covariance at one point is not diagonal)
    bounds = [(0.5, 1.5), (0.5, 1.5)]
    hyper = GPHyperparameters(
        lengthscales=(0.3, 0.4, 0.2) if pair_differences else (0.3, 0.4),
        outputscale=1.0,
        value_noise=1e-4,
        gradient_noise=1e-3,
        mean=0.0,
        component_weights=(0.3, 0.2, 0.5),
    )
    options = {
        "components": anova_components(2, (1, 2)),
        "input_warp": "log",
        "pair_differences": pair_differences,
    }
    rng = np.random.default_rng(1)
    x = rng.uniform(0.5, 1.0, (5, 2))
    y, g = np.sin(3 * x[:, 0]) * x[:, 1], rng.normal(size=(5, 2))
    gp = DerivativeGP(bounds, **options).fit(x, y, g, hyperparameters=hyper)
    utility = sobol_points(bounds, 64, seed=2)
    candidate = np.array([[1.3, 0.7]])
    score = expected_trace_reduction(gp, candidate, utility)[0]
    _, var_before = gp.predict(utility, return_var=True)
    gp2 = DerivativeGP(bounds, **options).fit(
        np.vstack([x, candidate]),
        np.append(y, 0.4),
        np.vstack([g, [[0.1, 0.2]]]),
        hyperparameters=hyper,
    )
    _, var_after = gp2.predict(utility, return_var=True)
    expected = var_before.sum() - var_after.sum() * (gp._y_scale / gp2._y_scale) ** 2
    assert score == pytest.approx(expected, rel=1e-6)
    # default candidates are uniform in the warped coordinate ln x: denser at low x
    batch = select_batch(gp, 2, n_candidates=256, seed=0)
    assert np.all((batch >= 0.5) & (batch <= 1.5))
    cand = _default_candidates(gp, None, 1024, 0)
    assert np.mean(cand[:, 0] < 1.0) > 0.55
