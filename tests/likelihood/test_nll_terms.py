"""The terms of q(θ) in nll.py on tiny inputs, against numpy hand computations."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from unbinned.exceptions import ConfigError, DataError
from unbinned.likelihood import (
    CountingRegion,
    EventTensors,
    Likelihood,
    ShapeParameter,
    UnbinnedRegion,
)
from unbinned.likelihood.moments import MomentAccumulator
from unbinned.model import ModelSpec

C = np.array([[0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])  # c_p(x_i), 3 events, 2 processes
W = np.array([1.0, 2.0, 0.5])
SIGMA = np.array([3.0, 7.0])  # nominal yields σ_p


@dataclass(frozen=True)
class LinearResponse:
    """φ(ν) = (ν,), ln Y_p(ν) = a_p ν, for one shape parameter ``alpha``."""

    a: tuple[float, float] = (0.1, -0.2)

    @property
    def shape_parameters(self) -> tuple[ShapeParameter, ...]:
        return (ShapeParameter("alpha", 0.5, 2.0),)

    def monomials_torch(self, nu: torch.Tensor) -> torch.Tensor:
        return nu[:1]

    def log_yield_torch(self, nu: torch.Tensor) -> torch.Tensor:
        return torch.tensor(self.a, dtype=torch.float64) * nu[0]


def _spec(shape: bool = False, kappa: float | None = None) -> ModelSpec:
    nuis: list[dict[str, object]] = [
        {"name": "bnorm", "nominal": 1.0, "width": 0.1, "bounds": [0.1, 3.0]}
    ]
    bmods: list[dict[str, object]] = [{"parameter": "bnorm"}]
    if shape:
        nuis.append({"name": "alpha", "nominal": 0.5, "width": 2.0, "acts_on": "shape"})
    if kappa is not None:
        nuis.append({"name": "lumi", "nominal": 0.0, "width": 1.0})
        bmods.append({"parameter": "lumi", "kind": "lognormal", "kappa": kappa})
    return ModelSpec.from_dict(
        {
            "pois": [{"name": "mu", "bounds": [0.0, 10.0]}],
            "nuisances": nuis,
            "processes": [
                {"name": "s", "signal": True, "modifiers": [{"parameter": "mu"}]},
                {"name": "b", "modifiers": bmods},
            ],
            "regions": [{"name": "sr"}, {"name": "cr", "kind": "counting"}],
        }
    )


def _fd_grad(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def _check_derivatives(lik: Likelihood, x: np.ndarray) -> None:
    """Gradient and Hessian against torch autograd of q_torch and finite differences."""
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    (g_auto,) = torch.autograd.grad(lik.q_torch(t), t)
    h_auto = torch.autograd.functional.hessian(lik.q_torch, torch.tensor(x)).numpy()
    assert lik.grad(x) == pytest.approx(g_auto.numpy(), rel=1e-10, abs=1e-10)
    assert lik.grad(x) == pytest.approx(_fd_grad(lik, x), rel=1e-6, abs=1e-6)
    assert lik.hessian(x) == pytest.approx(h_auto, rel=1e-10, abs=1e-10)


def test_extended_poisson_and_per_event_terms_with_nominal_yields():
    spec = _spec()
    lik = Likelihood(spec, [UnbinnedRegion("sr", ("s", "b"), EventTensors(C, W), SIGMA)])
    x = np.array([1.7, 1.2])
    f = np.array([1.7, 1.2])
    want = 2.0 * (f @ SIGMA - W @ np.log(C @ f)) + ((1.2 - 1.0) / 0.1) ** 2
    assert lik(x) == pytest.approx(want, rel=1e-13)
    assert float(lik.q_torch(torch.tensor(x))) == pytest.approx(want, rel=1e-13)
    r = C @ f
    grad_mu = 2.0 * (SIGMA[0] - W @ (C[:, 0] / r))
    assert lik.grad(x)[0] == pytest.approx(grad_mu, rel=1e-12)
    assert lik.hessian(x)[0, 0] == pytest.approx(2.0 * W @ (C[:, 0] ** 2 / r**2), rel=1e-12)
    _check_derivatives(lik, x)


def test_counting_term_and_lognormal_rate_modifier():
    spec = _spec(kappa=1.1)
    nominal = np.array([5.0, 20.0])
    lik = Likelihood(spec, [CountingRegion("cr", ("s", "b"), 30.0, nominal)])
    x = np.array([2.0, 0.9, 0.3])  # mu, bnorm, lumi
    lam = 2.0 * 5.0 + 0.9 * 1.1**0.3 * 20.0
    want = 2.0 * (lam - 30.0 * np.log(lam)) + ((0.9 - 1.0) / 0.1) ** 2 + 0.3**2
    assert lik(x) == pytest.approx(want, rel=1e-13)
    assert lik.expected_yields(x)["cr"] == pytest.approx([10.0, 0.9 * 1.1**0.3 * 20.0])
    _check_derivatives(lik, x)


def test_integrated_expected_yield_with_a_shape_response():
    spec = _spec(shape=True)
    rng = np.random.default_rng(3)
    delta = rng.normal(0.0, 0.3, (3, 2, 1))
    ci = np.array([[0.3, 0.7], [0.1, 0.9]])
    wi = np.array([4.0, 6.0])
    di = rng.normal(0.0, 0.3, (2, 2, 1))
    resp = LinearResponse()
    region = UnbinnedRegion(
        "sr",
        ("s", "b"),
        EventTensors(C, W, delta),
        integration=EventTensors(ci, wi, di),
        response=resp,
    )
    lik = Likelihood(spec, [region])
    x = np.array([1.5, 1.1, 1.3])  # mu, bnorm, alpha
    nu = (1.3 - 0.5) / 2.0
    big_f = np.array([1.5, 1.1]) * np.exp(np.array(resp.a) * nu)
    r = (C * np.exp(delta[:, :, 0] * nu)) @ big_f
    expected = (wi[:, None] * ci * np.exp(di[:, :, 0] * nu)).sum(0) * big_f
    want = 2.0 * (expected.sum() - W @ np.log(r)) + 1.0 + ((1.3 - 0.5) / 2.0) ** 2
    assert lik(x) == pytest.approx(want, rel=1e-12)
    assert lik.expected_yields(x)["sr"] == pytest.approx(expected, rel=1e-12)
    _check_derivatives(lik, x)


def test_normalised_region_density_and_yield():
    spec = _spec(shape=True)
    rng = np.random.default_rng(4)
    delta = rng.normal(0.0, 0.3, (3, 2, 1))
    ci = np.array([[0.3, 0.7], [0.1, 0.9], [0.5, 0.5]])
    wi = np.array([4.0, 6.0, 2.0])
    di = rng.normal(0.0, 0.3, (3, 2, 1))
    resp = LinearResponse()
    region = UnbinnedRegion(
        "sr",
        ("s", "b"),
        EventTensors(C, W, delta),
        integration=EventTensors(ci, wi, di),
        response=resp,
        normalised=True,
    )
    lik = Likelihood(spec, [region])
    x = np.array([0.8, 1.05, -0.4])
    nu = (-0.4 - 0.5) / 2.0
    big_f = np.array([0.8, 1.05]) * np.exp(np.array(resp.a) * nu)
    s = (wi[:, None] * ci).sum(0)
    integral = (wi[:, None] * ci * np.exp(di[:, :, 0] * nu)).sum(0)
    r = (C * np.exp(delta[:, :, 0] * nu)) @ (big_f * s / integral)
    want = 2.0 * ((big_f * s).sum() - W @ np.log(r)) + 0.5**2 + nu**2
    assert lik(x) == pytest.approx(want, rel=1e-12)
    assert lik.expected_yields(x)["sr"] == pytest.approx(big_f * s, rel=1e-12)
    _check_derivatives(lik, x)
    # the same region with the integration sample compressed into its moments
    acc = MomentAccumulator()
    acc.add(EventTensors(ci, wi, di))
    compressed = dataclasses.replace(region, integration=acc.result())
    lik_m = Likelihood(spec, [compressed])
    assert lik_m(x) == pytest.approx(want, rel=1e-6)
    _check_derivatives(lik_m, x)


def test_region_validation_errors():
    with pytest.raises(ConfigError, match="give nominal_yields or integration"):
        UnbinnedRegion("sr", ("s", "b"), EventTensors(C, W))
    with pytest.raises(DataError, match="nominal_yields must have shape"):
        UnbinnedRegion("sr", ("s", "b"), EventTensors(C, W), np.ones(3))
    with pytest.raises(ConfigError, match="must be given together"):
        UnbinnedRegion("sr", ("s", "b"), EventTensors(C, W, np.zeros((3, 2, 1))), SIGMA)
    with pytest.raises(DataError, match="observed count must be finite"):
        CountingRegion("cr", ("s", "b"), -1.0, SIGMA)
    with pytest.raises(ConfigError, match="declared unbinned but given as counting"):
        Likelihood(_spec(), [CountingRegion("sr", ("s", "b"), 1.0, SIGMA)])
    with pytest.raises(ConfigError, match="at least one region"):
        Likelihood(_spec(), [])


def test_derivatives_without_constraint_terms():
    """Every nuisance fixed, the yield in the event sums: the other terms are a constant."""
    spec = ModelSpec.from_dict(
        {
            "pois": [{"name": "mu", "bounds": [0.0, 10.0]}],
            "nuisances": [{"name": "alpha", "nominal": 0.5, "prior": "fixed", "acts_on": "shape"}],
            "processes": [
                {"name": "s", "signal": True, "modifiers": [{"parameter": "mu"}]},
                {"name": "b"},
            ],
            "regions": [{"name": "sr"}],
        }
    )
    rng = np.random.default_rng(5)
    ci, wi = np.array([[0.3, 0.7], [0.1, 0.9]]), np.array([4.0, 6.0])
    data = EventTensors(C, W, rng.normal(0.0, 0.3, (3, 2, 1)))
    integ = EventTensors(ci, wi, rng.normal(0.0, 0.3, (2, 2, 1)))
    for normalised in (False, True):
        region = UnbinnedRegion("sr", ("s", "b"), data, integration=integ,
                                response=LinearResponse(), normalised=normalised)  # fmt: skip
        lik = Likelihood(spec, [region])
        _check_derivatives(lik, np.array([1.5, 0.5]))
