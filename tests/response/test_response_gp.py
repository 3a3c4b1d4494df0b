import json

import numpy as np
import pytest
import torch

from unbinned.exceptions import ConfigError, DataError, FitError, ModelFileError
from unbinned.response import DerivativeGP, GPHyperparameters, anova_components


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # small matrices: intra-op threads only add overhead on a shared machine
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _fixed(ls, s2, noise, mean=0.0, gnoise=1e-10):
    return GPHyperparameters(
        lengthscales=tuple(ls), outputscale=s2, value_noise=noise, gradient_noise=gnoise, mean=mean
    )


def test_posterior_mean_and_variance_closed_form_values():
    # bounds [0, 1]: internal x = x; y = [1, 3]: y_mean 2, y_scale 1, internal y = [-1, 1]
    x = np.array([[0.2], [0.7]])
    y = np.array([1.0, 3.0])
    ls, s2, noise, c = 0.3, 1.5, 1e-2, 0.2
    gp = DerivativeGP([(0.0, 1.0)]).fit(x, y, hyperparameters=_fixed([ls], s2, noise, c))
    xs = np.linspace(-0.2, 1.2, 15)

    def k(a, b):
        return s2 * np.exp(-0.5 * (a[:, None] - b[None, :]) ** 2 / ls**2)

    kk = k(x[:, 0], x[:, 0]) + noise * np.eye(2)
    ks = k(xs, x[:, 0])
    mean = 2.0 + c + ks @ np.linalg.solve(kk, (y - 2.0) - c)
    var = s2 - np.einsum("ij,ji->i", ks, np.linalg.solve(kk, ks.T))
    got_mean, got_var = gp.predict(xs[:, None], return_var=True)
    np.testing.assert_allclose(got_mean, mean, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got_var, var, rtol=1e-8, atol=1e-12)


def test_posterior_closed_form_with_a_gradient_observation():
    # one point x0 = 0 with value y0 and gradient g0, noise-free, zero prior mean:
    # mean(x0 + δ) = y0 + exp(-δ²/2ℓ²) δ g0, var = s² (1 - exp(-δ²/ℓ²)(1 + δ²/ℓ²))
    # (bounds [-1, 1]: internal units are half the original ones, hence ℓ_orig = 2 ℓ)
    y0, g0, ls, s2 = 0.7, 1.3, 0.2, 0.9
    gp = DerivativeGP([(-1.0, 1.0)]).fit(
        np.array([[0.0]]), np.array([y0]), np.array([[g0]]), hyperparameters=_fixed([ls], s2, 1e-12)
    )
    delta = np.linspace(-0.8, 0.8, 17)
    lo = 2 * ls
    mean = y0 + np.exp(-0.5 * delta**2 / lo**2) * delta * g0
    var = s2 * (1 - np.exp(-(delta**2) / lo**2) * (1 + delta**2 / lo**2))
    got_mean, got_var = gp.predict(delta[:, None], return_var=True)
    np.testing.assert_allclose(got_mean, mean, atol=1e-8)
    np.testing.assert_allclose(got_var, var, atol=1e-8)


def _f(x):
    return np.sin(3 * x[:, 0]) * np.cos(2 * x[:, 1])


def _grad(x):
    return np.stack(
        [
            3 * np.cos(3 * x[:, 0]) * np.cos(2 * x[:, 1]),
            -2 * np.sin(3 * x[:, 0]) * np.sin(2 * x[:, 1]),
        ],
        axis=1,
    )


def test_gradient_observations_reduce_the_error():
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (10, 2))
    test = rng.uniform(-1, 1, (2000, 2))
    bounds = [(-1.0, 1.0)] * 2
    plain = DerivativeGP(bounds, seed=1, n_restarts=1).fit(x, _f(x))
    deriv = DerivativeGP(bounds, seed=1, n_restarts=1).fit(x, _f(x), _grad(x))
    mse_plain = np.mean((plain.predict(test) - _f(test)) ** 2)
    mse_deriv = np.mean((deriv.predict(test) - _f(test)) ** 2)
    assert deriv.has_gradients
    assert not plain.has_gradients
    assert mse_deriv < 0.2 * mse_plain
    assert mse_deriv < 2e-3
    grad_err = np.mean((deriv.predict_gradient(test[:200]) - _grad(test[:200])) ** 2)
    assert grad_err < 0.05 * np.mean(_grad(test[:200]) ** 2)


def test_fit_is_deterministic_and_serialisable():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (8, 2))
    bounds = [(-1.0, 1.0)] * 2
    a = DerivativeGP(bounds, seed=5, n_restarts=1).fit(x, _f(x), _grad(x))
    b = DerivativeGP(bounds, seed=5, n_restarts=1).fit(x, _f(x), _grad(x))
    assert a.hyperparameters == b.hyperparameters
    assert np.isfinite(a.log_marginal_likelihood)
    state = json.loads(json.dumps(a.to_dict()))
    c = DerivativeGP.from_dict(state)
    test = rng.uniform(-1, 1, (30, 2))
    np.testing.assert_allclose(c.predict(test), a.predict(test), rtol=1e-12)
    assert "DerivativeGP(d=2" in repr(c)


def test_predict_torch_matches_and_is_differentiable():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (8, 2))
    gp = DerivativeGP([(-1.0, 1.0)] * 2, n_restarts=0).fit(x, _f(x), _grad(x))
    pts = torch.tensor(rng.uniform(-1, 1, (5, 2)), requires_grad=True)
    out = gp.predict_torch(pts)
    np.testing.assert_allclose(out.detach().numpy(), gp.predict(pts.detach().numpy()))
    (grad,) = torch.autograd.grad(out.sum(), pts)
    np.testing.assert_allclose(grad.numpy(), gp.predict_gradient(pts.detach().numpy()))


def test_fitted_noise_is_separate_for_values_and_gradients():
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, (25, 1))
    y = np.sin(2 * x[:, 0]) + rng.normal(0, 0.1, 25)
    g = 2 * np.cos(2 * x) + rng.normal(0, 1e-3, (25, 1))
    gp = DerivativeGP([(-1.0, 1.0)], seed=0, n_restarts=1).fit(x, y, g)
    h = gp.hyperparameters
    value_sd = np.sqrt(h.value_noise) * gp._y_scale  # original units
    gradient_sd = np.sqrt(h.gradient_noise) * gp._y_scale / 2.0  # width of the box is 2
    assert 0.05 < value_sd < 0.2
    assert gradient_sd < 0.02


def test_input_checks():
    with pytest.raises(ConfigError, match="bounds"):
        DerivativeGP([(1.0, 0.0)])
    with pytest.raises(ConfigError, match="kernel"):
        DerivativeGP([(0.0, 1.0)], kernel="linear")
    gp = DerivativeGP([(0.0, 1.0), (0.0, 1.0)])
    with pytest.raises(FitError, match="not fitted"):
        gp.predict(np.zeros((1, 2)))
    with pytest.raises(DataError, match="shape"):
        gp.fit(np.zeros((3, 3)), np.zeros(3))
    with pytest.raises(DataError, match="NaN"):
        gp.fit(np.zeros((1, 2)), np.array([np.nan]))
    with pytest.raises(DataError, match="gradients"):
        gp.fit(np.zeros((2, 2)), np.zeros(2), np.zeros((2, 3)))
    with pytest.raises(ModelFileError, match="derivative_gp"):
        DerivativeGP.from_dict({"kind": "other"})


def test_anova_components():
    assert anova_components(3, (1, 3)) == ((0,), (1,), (2,), (0, 1, 2))
    assert len(anova_components(4, (1, 2, 4))) == 4 + 6 + 1
    assert anova_components(2, (2, 1, 2)) == ((0,), (1,), (0, 1))
    with pytest.raises(ConfigError, match="orders"):
        anova_components(3, (4,))
    with pytest.raises(ConfigError, match="orders"):
        anova_components(3, ())


def _additive(x):
    # a sum of one- and two-dimensional pieces: no (0, 2) or three-way interaction
    return np.sin(3 * x[:, 0]) + x[:, 1] * x[:, 2] + 0.5 * x[:, 2] ** 2


def _additive_grad(x):
    return np.stack([3 * np.cos(3 * x[:, 0]), x[:, 2], x[:, 1] + x[:, 2]], axis=1)


def test_additive_components_fit_an_additive_function():
    rng = np.random.default_rng(4)
    x = rng.uniform(-1, 1, (12, 3))
    test = rng.uniform(-1, 1, (2000, 3))
    bounds = [(-1.0, 1.0)] * 3
    comps = anova_components(3, (1, 2))
    gp = DerivativeGP(bounds, seed=0, n_restarts=1, components=comps).fit(
        x, _additive(x), _additive_grad(x)
    )
    full = DerivativeGP(bounds, seed=0, n_restarts=1).fit(x, _additive(x), _additive_grad(x))
    weights = gp.hyperparameters.component_weights
    assert weights is not None
    assert len(weights) == len(comps)
    assert sum(weights) == pytest.approx(1.0)
    mse = np.mean((gp.predict(test) - _additive(test)) ** 2)
    mse_full = np.mean((full.predict(test) - _additive(test)) ** 2)
    assert mse < mse_full
    assert mse < 1e-3
    # the prior variance is the sum of the components' variances
    _, var = gp.predict(np.array([[1e4, 1e4, 1e4]]), return_var=True)
    assert var[0] == pytest.approx(gp.hyperparameters.outputscale * gp._y_scale**2, rel=1e-6)
    assert "components=6" in repr(gp)


def test_log_input_warp_converts_gradients_by_the_chain_rule():
    # f = sin(2 ln x) is a stationary function of ln x
    x = np.geomspace(0.5, 2.0, 6)[:, None]
    y = np.sin(2 * np.log(x[:, 0]))
    g = 2 * np.cos(2 * np.log(x)) / x
    gp = DerivativeGP([(0.5, 2.0)], input_warp="log", seed=0, n_restarts=1).fit(x, y, g)
    test = np.linspace(0.5, 2.0, 50)[:, None]
    np.testing.assert_allclose(gp.predict(test), np.sin(2 * np.log(test[:, 0])), atol=2e-3)
    np.testing.assert_allclose(
        gp.predict_gradient(test), 2 * np.cos(2 * np.log(test)) / test, atol=2e-2
    )
    # internal coordinates: u = ln(x/0.5)/ln 4; length scales reported in units of ln x
    np.testing.assert_allclose(gp._from_unit(gp._to_unit(torch.tensor(test)).numpy()), test)
    assert gp.lengthscales[0] == pytest.approx(gp.hyperparameters.lengthscales[0] * np.log(4.0))
    with pytest.raises(DataError, match="non-positive"):
        gp.predict(np.array([[0.0]]))
    with pytest.raises(ConfigError, match="positive bounds"):
        DerivativeGP([(-1.0, 1.0)], input_warp="log")
    with pytest.raises(ConfigError, match="input_warp"):
        DerivativeGP([(1.0, 2.0)], input_warp="sqrt")


def test_components_and_warp_survive_serialisation():
    rng = np.random.default_rng(6)
    x = rng.uniform(0.5, 1.5, (8, 3))
    bounds = [(0.5, 1.5)] * 3
    gp = DerivativeGP(
        bounds, seed=2, n_restarts=0, components=anova_components(3, (1, 2)), input_warp="log"
    ).fit(x, _additive(x), _additive_grad(x))
    state = json.loads(json.dumps(gp.to_dict()))
    assert state["version"] == 2
    back = DerivativeGP.from_dict(state)
    assert back.components == gp.components
    assert back.input_warp == "log"
    test = rng.uniform(0.5, 1.5, (20, 3))
    np.testing.assert_allclose(back.predict(test), gp.predict(test), rtol=1e-12)
    # a version-1 state (no components, no warp) is still read
    plain = DerivativeGP(bounds, n_restarts=0).fit(x, _additive(x))
    old = plain.to_dict()
    old["version"] = 1
    del old["options"]["components"], old["options"]["input_warp"]
    np.testing.assert_allclose(DerivativeGP.from_dict(old).predict(test), plain.predict(test))


def test_component_checks():
    bounds = [(0.0, 1.0)] * 2
    for bad in ([()], [(0, 0)], [(2,)], [(0,), (0,)], []):
        with pytest.raises(ConfigError, match="component"):
            DerivativeGP(bounds, components=bad)
    gp = DerivativeGP(bounds, components=[(0,), (1,)])
    x = np.array([[0.1, 0.2], [0.7, 0.4]])
    with pytest.raises(ConfigError, match="component_weights"):
        gp.fit(x, np.array([0.0, 1.0]), hyperparameters=_fixed([0.3, 0.3], 1.0, 1e-4))
    with pytest.raises(ConfigError, match="one kernel"):
        DerivativeGP(bounds).fit(
            x,
            np.array([0.0, 1.0]),
            hyperparameters=GPHyperparameters(
                lengthscales=(0.3, 0.3),
                outputscale=1.0,
                value_noise=1e-4,
                gradient_noise=1e-4,
                mean=0.0,
                component_weights=(0.5, 0.5),
            ),
        )


def test_component_weights_round_trip_through_the_optimiser_parameters():
    # a warm start must begin exactly at the previous weights, tiny ones included
    gp = DerivativeGP([(0.0, 1.0)] * 2, components=anova_components(2, (1, 2)))
    weights = (0.7, 0.3 - 1e-10, 1e-10)
    raw = torch.tensor(gp._weights_to_raw(weights), dtype=torch.float64)
    np.testing.assert_allclose(gp._raw_to_weights(raw).numpy(), weights, rtol=1e-9)


def _ridge(x):
    # varies fast across the diagonal x0 = x1 and slowly along it
    return np.exp(-((x[:, 0] - x[:, 1]) ** 2) / (2 * 0.15**2)) * (1 + 0.3 * x[:, 0])


def _ridge_grad(x):
    d = x[:, 0] - x[:, 1]
    e = np.exp(-(d**2) / (2 * 0.15**2))
    a = 1 + 0.3 * x[:, 0]
    return np.stack([-e * d / 0.15**2 * a + 0.3 * e, e * d / 0.15**2 * a], axis=1)


def test_pair_differences_learn_a_diagonal_ridge():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (12, 2))
    test = rng.uniform(-1, 1, (2000, 2))
    errors = {}
    for pd in (False, True):
        gp = DerivativeGP([(-1, 1)] * 2, n_restarts=0, pair_differences=pd)
        gp.fit(x, _ridge(x), _ridge_grad(x))
        errors[pd] = np.mean((gp.predict(test) - _ridge(test)) ** 2)
    assert errors[True] < 0.2 * errors[False]
    # one length scale per input and per pair; the input ones are long, the pair one short
    ls = gp.hyperparameters.lengthscales
    assert len(ls) == 3
    assert ls[2] < 0.3 * min(ls[:2])
    assert gp.lengthscales.shape == (2,)
    np.testing.assert_allclose(gp.lengthscales, np.array(ls[:2]) * 2.0)
    # the posterior mean's gradient is consistent with the mean
    grad = gp.predict_gradient(test[:3])
    step = np.array([1e-6, 0.0])
    fd = (gp.predict(test[:3] + step) - gp.predict(test[:3] - step)) / 2e-6
    np.testing.assert_allclose(grad[:, 0], fd, rtol=1e-5, atol=1e-7)


def test_pair_differences_survive_serialisation_and_check_the_hyperparameters():
    rng = np.random.default_rng(7)
    x = rng.uniform(0.5, 1.5, (8, 3))
    bounds = [(0.5, 1.5)] * 3
    options = {
        "components": anova_components(3, (1, 2)),
        "input_warp": "log",
        "pair_differences": True,
    }
    gp = DerivativeGP(bounds, seed=1, n_restarts=0, **options).fit(
        x, _additive(x), _additive_grad(x)
    )
    assert len(gp.hyperparameters.lengthscales) == 6
    state = json.loads(json.dumps(gp.to_dict()))
    assert state["version"] == 3
    assert state["options"]["pair_differences"] is True
    back = DerivativeGP.from_dict(state)
    assert back.pair_differences
    test = rng.uniform(0.5, 1.5, (20, 3))
    np.testing.assert_allclose(back.predict(test), gp.predict(test), rtol=1e-12)
    _, var = back.predict(test, return_var=True)
    np.testing.assert_allclose(var, gp.predict(test, return_var=True)[1], rtol=1e-10)
    with pytest.raises(ConfigError, match="expected 6 .*pair differences"):
        DerivativeGP(bounds, **options).fit(
            x,
            _additive(x),
            hyperparameters=GPHyperparameters(
                lengthscales=(0.3,) * 3,
                outputscale=1.0,
                value_noise=1e-4,
                gradient_noise=1e-4,
                mean=0.0,
                component_weights=(1 / 6,) * 6,
            ),
        )
