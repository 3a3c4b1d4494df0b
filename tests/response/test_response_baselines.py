import numpy as np
import pytest

from unbinned.exceptions import ConfigError, DataError
from unbinned.response import (
    OnAxisModel,
    grid_design,
    on_axis_design,
    random_design,
    regular_grid,
)

BOUNDS = [(0.5, 1.5)] * 3


def _factorised(x):
    # cubic polynomials per axis: exactly represented by a not-a-knot cubic spline
    return (
        (1 + 0.5 * x[:, 0] - 0.3 * x[:, 0] ** 3)
        * (2 - x[:, 1] ** 2)
        * (0.5 + 0.2 * x[:, 2] + 0.1 * x[:, 2] ** 2)
    )


def test_on_axis_is_exact_for_a_factorisable_function():
    pts = on_axis_design(BOUNDS, 13)
    assert pts.shape == (13, 3)
    np.testing.assert_allclose(pts[0], [1.0, 1.0, 1.0])
    model = OnAxisModel(nominal=[1.0, 1.0, 1.0]).fit(pts, _factorised(pts))
    test = np.random.default_rng(0).uniform(0.5, 1.5, (500, 3))
    np.testing.assert_allclose(model.predict(test), _factorised(test), rtol=1e-10)


def test_on_axis_is_exact_at_the_nodes_for_any_factorisable_function():
    def f(x):
        return np.exp(np.sin(4 * x[:, 0])) * np.cosh(x[:, 1]) * (1 + x[:, 2] ** 4)

    pts = on_axis_design(BOUNDS, 10)
    model = OnAxisModel(nominal=[1.0, 1.0, 1.0]).fit(pts, f(pts))
    axis_values = np.unique(pts[:, 0])
    mesh = np.stack(np.meshgrid(*([axis_values] * 3), indexing="ij"), -1).reshape(-1, 3)
    np.testing.assert_allclose(model.predict(mesh), f(mesh), rtol=1e-12)


def test_on_axis_misses_an_interaction():
    def f(x):
        return 1 + (x[:, 0] - 1) * (x[:, 1] - 1)

    pts = on_axis_design(BOUNDS, 13)
    model = OnAxisModel(nominal=[1.0, 1.0, 1.0]).fit(pts, f(pts))
    assert model.predict(np.array([[1.5, 1.5, 1.0]]))[0] == pytest.approx(1.0)


def test_grids_and_random_points():
    assert regular_grid(BOUNDS, 3).shape == (27, 3)
    assert grid_design(BOUNDS, 30).shape == (27, 3)
    assert grid_design([(0, 1)] * 4, 30).shape == (16, 4)
    pts = random_design(BOUNDS, 50, np.random.default_rng(1))
    assert pts.shape == (50, 3)
    assert np.all((pts >= 0.5) & (pts <= 1.5))


def test_baseline_input_checks():
    with pytest.raises(ConfigError, match="n_points"):
        on_axis_design(BOUNDS, 3)
    with pytest.raises(ConfigError, match="bounds"):
        regular_grid([(1.0, 0.0)], 3)
    pts = on_axis_design(BOUNDS, 7)
    with pytest.raises(DataError, match="nominal"):
        OnAxisModel(nominal=[0.0, 0.0, 0.0]).fit(pts, np.ones(7))
    with pytest.raises(DataError, match="nuisance 2"):
        OnAxisModel(nominal=[1.0, 1.0, 1.0]).fit(pts[:5], np.ones(5))
