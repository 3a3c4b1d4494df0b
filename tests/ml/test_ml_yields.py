import numpy as np
import pytest
import torch

from unbinned.exceptions import ConfigError, DataError
from unbinned.ml.yields import (
    PolynomialYieldModel,
    monomial_jacobian,
    monomial_names,
    monomials,
    monomials_torch,
    n_monomials,
)


@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_monomial_count_and_order(d):
    nu = np.arange(1.0, d + 1)
    phi = monomials(nu)
    assert phi.shape == (n_monomials(d),) == (d + d * (d + 1) // 2,)
    np.testing.assert_array_equal(phi[:d], nu)
    expected = [nu[a] * nu[b] for a in range(d) for b in range(a, d)]
    np.testing.assert_array_equal(phi[d:], expected)
    assert len(monomial_names([f"n{i}" for i in range(d)])) == phi.size


def test_monomial_names():
    assert monomial_names(["tes", "jes"]) == ("tes", "jes", "tes*tes", "tes*jes", "jes*jes")


def test_monomials_batched_and_torch_agree():
    rng = np.random.default_rng(0)
    nu = rng.normal(size=(7, 3))
    out_np = monomials(nu)
    out_t = monomials(torch.from_numpy(nu))
    assert isinstance(out_t, torch.Tensor)
    np.testing.assert_array_equal(out_np, out_t.numpy())
    assert monomials(np.zeros(3)).tolist() == [0.0] * 9


def test_monomials_torch_gradient_matches_jacobian():
    nu = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64, requires_grad=True)
    jac = torch.autograd.functional.jacobian(monomials_torch, nu)
    np.testing.assert_allclose(jac.numpy(), monomial_jacobian(nu.detach().numpy()), rtol=0, atol=0)


def test_monomials_rejects_scalars():
    with pytest.raises(DataError, match="scalar"):
        monomials(1.0)
    with pytest.raises(TypeError, match="torch.Tensor"):
        monomials_torch(np.zeros(2))  # type: ignore[arg-type]


def _points(d):
    from unbinned.ml.design import ShapeNuisance, default_design

    return default_design([ShapeNuisance(f"n{i}", 0.0, 1.0) for i in range(d)]).points


@pytest.mark.parametrize("d", [1, 2, 3])
def test_polynomial_recovers_exact_quadratic(d):
    rng = np.random.default_rng(d)
    coef = rng.normal(size=n_monomials(d)) * 0.1
    pts = _points(d)
    model = PolynomialYieldModel(d).fit(pts, monomials(pts) @ coef)
    np.testing.assert_allclose(model.coefficients, coef, atol=1e-12)
    test = rng.normal(size=(5, d))
    np.testing.assert_allclose(model(test), monomials(test) @ coef, atol=1e-12)
    assert model(np.zeros(d)) == 0.0
    t = torch.from_numpy(test[0]).requires_grad_(True)
    value = model.log_yield_torch(t)
    (grad,) = torch.autograd.grad(value, t)
    np.testing.assert_allclose(grad.numpy(), model.gradient(test[0]), atol=1e-12)


def test_polynomial_with_gradients_and_intercept():
    pts = _points(2)
    coef = np.array([0.1, -0.2, 0.03, 0.01, -0.02])
    grads = np.einsum("kmd,m->kd", monomial_jacobian(pts), coef)
    model = PolynomialYieldModel(2, fit_intercept=True).fit(pts, monomials(pts) @ coef + 0.5, grads)
    assert model.intercept == pytest.approx(0.5)
    np.testing.assert_allclose(model.coefficients, coef, atol=1e-12)


def test_polynomial_errors():
    model = PolynomialYieldModel(2)
    with pytest.raises(ConfigError, match="not fitted"):
        model(np.zeros(2))
    with pytest.raises(ConfigError, match="determine only"):
        model.fit(np.array([[1.0, 0.0], [2.0, 0.0]]), np.array([0.1, 0.2]))
    with pytest.raises(DataError, match="expected"):
        model.fit(np.zeros((3, 3)), np.zeros(3))
    with pytest.raises(DataError, match="finite"):
        model.fit(_points(2), np.full(len(_points(2)), -np.inf))
    with pytest.raises(ConfigError, match="n_nuisances"):
        PolynomialYieldModel(0)


def test_polynomial_dict_round_trip():
    pts = _points(2)
    model = PolynomialYieldModel(2).fit(pts, 0.1 * pts[:, 0] - 0.05 * pts[:, 1] ** 2)
    again = PolynomialYieldModel.from_dict(model.to_dict())
    np.testing.assert_array_equal(again.coefficients, model.coefficients)
    bad = model.to_dict() | {"coefficients": [1.0]}
    with pytest.raises(ConfigError, match="coefficients"):
        PolynomialYieldModel.from_dict(bad)
    with pytest.raises(ConfigError, match="kind"):
        PolynomialYieldModel.from_dict(model.to_dict() | {"kind": "gp_yield"})


def test_locality_weighting_recovers_the_slope_at_nominal():
    from unbinned.ml.yields import PolynomialYieldModel

    pts = np.array([[v] for v in (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)])
    ln_y = 0.012 * pts[:, 0] - 0.0005 * pts[:, 0] ** 3  # a cubic part
    plain = PolynomialYieldModel(1).fit(pts, ln_y)
    local = PolynomialYieldModel(1, locality=1.0).fit(pts, ln_y)
    slope = lambda m: float(m.coefficients[0])  # noqa: E731
    assert abs(slope(local) - 0.012) < 0.5 * abs(slope(plain) - 0.012)
    with pytest.raises(ConfigError, match="locality"):
        PolynomialYieldModel(1, locality=0.0)
