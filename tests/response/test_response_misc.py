import numpy as np
import pytest

import unbinned.response
import unbinned.response.plot
from unbinned.exceptions import ConfigError
from unbinned.response import SqrtTransform


def test_public_api_is_deliberate():
    assert sorted(unbinned.response.__all__) == [
        "DerivativeGP",
        "DesignResult",
        "GPHyperparameters",
        "GPYieldModel",
        "OnAxisModel",
        "Simulator",
        "SqrtTransform",
        "YieldModel",
        "anova_components",
        "design_yield_model",
        "expected_trace_reduction",
        "grid_design",
        "on_axis_design",
        "random_design",
        "regular_grid",
        "select_batch",
        "sequential_design",
        "sobol_points",
    ]
    for name in unbinned.response.__all__:
        assert hasattr(unbinned.response, name)


def test_sqrt_transform_round_trip_and_chain_rule():
    t = SqrtTransform(offset=0.01)
    for r in (0.0, 0.3, 1.7):
        y, g = t.forward(r, np.array([1.0, -2.0]))
        assert t.inverse(np.array([y]))[0] == pytest.approx(r)
        h = 1e-6
        dy = (t.forward(r + h)[0] - t.forward(r - h)[0]) / (2 * h) if r > 0 else g[0]
        assert g[0] == pytest.approx(dy, rel=1e-5)
        assert g[1] == pytest.approx(-2 * g[0])
    np.testing.assert_allclose(t.inverse_derivative([0.5, -1.0]), [1.0, 0.0])
    with pytest.raises(ConfigError, match="offset"):
        SqrtTransform(offset=0.0)


def test_sqrt_transform_weights_follow_the_delta_method():
    class _Mean:
        def predict(self, x):
            return np.asarray(x)[:, 0]

    w = SqrtTransform().weights(_Mean(), np.array([[0.5], [1.0], [-0.2]]))
    np.testing.assert_allclose(w, [1.0, 4.0, 0.0])


def test_plots_return_artists():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    lines = unbinned.response.plot.plot_mse_curves(
        [10, 20, 30], {"a": [0.1, 0.05, 0.02], "b": [None, 0.2, 0.1]}, ax=ax, title="t"
    )
    assert len(lines) == 2
    image = unbinned.response.plot.plot_response_slice(
        np.random.default_rng(0).random((5, 5)), (0.5, 1.5, 0.5, 1.5), points=[[1, 1]], ax=ax
    )
    assert len(image) == 2
    plt.close(fig)
