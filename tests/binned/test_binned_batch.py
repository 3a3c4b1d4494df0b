"""BinnedBatch and fit_batch: the vectorised pass equals the single one; fits equal fit()'s."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from unbinned.binned import BinnedBatch, BinnedLikelihood, build_templates
from unbinned.binned._toy import toy_problem
from unbinned.exceptions import DataError
from unbinned.infer import fit, fit_batch
from unbinned.likelihood.priors import Constraint


class _Quartic:
    """A custom constraint on ttbar_scale: ((θ - 1)/0.05)² + ((θ - 1)/0.05)⁴."""

    name = "ttbar_scale"

    def penalty_torch(self, theta: torch.Tensor) -> torch.Tensor:
        z = (theta - 1.0) / 0.05
        return z**2 + z**4


@pytest.fixture(scope="module")
def lik() -> BinnedLikelihood:
    spec, nominal, variations = toy_problem(n_mc=600, seed=5)
    templates = build_templates(spec, nominal, variations, n_bins=8)
    return BinnedLikelihood(spec, templates, "asimov")


@pytest.mark.parametrize("staterror", [False, True])
@pytest.mark.parametrize("custom", [False, True])
def test_batched_derivatives_equal_the_single_data_set_ones(
    lik: BinnedLikelihood, staterror: bool, custom: bool
) -> None:
    constraints: tuple[Constraint, ...] = (_Quartic(),) if custom else ()
    base = BinnedLikelihood(
        lik.declared_spec, lik.templates, "asimov", staterror=staterror, constraints=constraints
    )
    batch = BinnedBatch.poisson(base, n_toys=4, seed=2)
    rng = np.random.default_rng(0)
    x = np.clip(base.vector() * (1 + 0.004 * rng.normal(size=(4, base.npar))),
                base._lo + 1e-6, base._hi - 1e-6)  # fmt: skip
    q, g, h = batch.evaluate(x)
    for t in range(4):
        one = batch.likelihood(t)
        q1, g1 = one.value_and_grad(x[t])
        np.testing.assert_allclose(q[t], q1, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(g[t], g1, rtol=1e-9, atol=1e-8)
        np.testing.assert_allclose(h[t], one.hessian_autodiff(x[t]), rtol=1e-9, atol=1e-7)
    q_rows = batch.evaluate(x[[2]], np.array([2]))[0]
    assert q_rows[0] == pytest.approx(q[2], rel=1e-14)


@pytest.mark.parametrize("mu_true", [1.0, 0.0])
def test_fit_batch_finds_fits_minima(lik: BinnedLikelihood, mu_true: float) -> None:
    """Same minimum as fit() (to fit's own convergence), more exactly; bound cases via fit()."""
    batch = BinnedBatch.poisson(lik, {"mu": mu_true}, n_toys=24, seed=4)
    results = fit_batch(batch)
    assert len(results) == 24
    n_batched = 0
    for t, res in enumerate(results):
        ref = fit(batch.likelihood(t))
        assert res.valid
        assert ref.valid
        assert res.at_limit == ref.at_limit
        assert res.fval <= ref.fval + 1e-8
        for n in res.parameter_names:
            sigma = ref.errors[n] or 1.0
            assert abs(res.values[n] - ref.values[n]) < 1e-4 * sigma, (t, n)
            assert res.errors[n] == pytest.approx(ref.errors[n], rel=1e-2, abs=1e-12)
        if "batched" in res.status:
            n_batched += 1
            one = batch.likelihood(t)
            _q, g = one.value_and_grad(res.x)
            cov = 2.0 * np.linalg.inv(one.hessian(res.x))
            assert 0.5 * g @ cov @ g / 2.0 < 1e-10  # the Newton decrement at the minimum
            np.testing.assert_allclose(res.covariance, cov, rtol=1e-9, atol=1e-15)
        else:
            assert "mu" in res.at_limit  # only a minimum on the bound leaves the batch
    assert n_batched >= (20 if mu_true == 1.0 else 5)


def test_fit_batch_holds_fixed_parameters(lik: BinnedLikelihood) -> None:
    batch = BinnedBatch.poisson(lik, n_toys=3, seed=1)
    for t, res in enumerate(fit_batch(batch, fixed={"tes": 1.005})):
        ref = fit(batch.likelihood(t), fixed={"tes": 1.005})
        assert res.values["tes"] == 1.005
        assert res.errors["tes"] == 0.0
        assert res.values["mu"] == pytest.approx(ref.values["mu"], abs=1e-4 * ref.errors["mu"])
        assert "tes" in res.fixed


def test_batch_checks_its_counts(lik: BinnedLikelihood) -> None:
    with pytest.raises(DataError, match="expected \\(data sets, 16\\)"):
        BinnedBatch(lik, np.ones((3, 5)))
    with pytest.raises(DataError, match="finite and >= 0"):
        BinnedBatch(lik, -np.ones((2, 16)))
    per_region = [lik.observed, lik.observed]
    batch = BinnedBatch(lik, per_region)
    assert batch.n_toys == 2
    assert "2 data sets" in repr(batch)
    assert math.isclose(float(batch.counts.sum()), 2 * sum(v.sum() for v in lik.observed.values()))
