"""The binned Asimov Fisher loss: closed forms, gradients against finite differences, checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from unbinned.aware import FisherModel, SoftHistogram, asimov_fisher, fisher_sigmas
from unbinned.exceptions import ConfigError, DataError
from unbinned.model import ModelSpec


def _spec(*, shape: bool = True, norm_prior: str = "gaussian") -> ModelSpec:
    nuisances = [{"name": "b_norm", "nominal": 1.0, "prior": norm_prior, "width": 0.1}]
    if shape:
        nuisances.append(
            {
                "name": "scale",
                "nominal": 1.0,
                "prior": "gaussian",
                "width": 0.02,
                "acts_on": "shape",
            }
        )
    return ModelSpec.from_dict(
        {
            "pois": [{"name": "mu", "init": 1.0}],
            "nuisances": nuisances,
            "processes": [
                {"name": "sig", "signal": True, "modifiers": [{"parameter": "mu"}]},
                {"name": "bkg", "modifiers": [{"parameter": "b_norm"}]},
            ],
        }
    )


def test_counting_experiment_closed_form() -> None:
    # one bin: ν = μ s + θ b, θ ~ N(1, σ): σ_μ = sqrt(s + b + (σ b)²) / s
    s, b, width = 30.0, 200.0, 0.1
    fm = FisherModel(_spec(shape=False))
    h = torch.tensor([[s], [b]], dtype=torch.float64)
    assert float(fm.loss(h)) == pytest.approx(math.sqrt(s + b + (width * b) ** 2) / s, rel=1e-12)


def test_lognormal_and_free_priors() -> None:
    h = torch.tensor([[30.0, 5.0], [200.0, 400.0]], dtype=torch.float64)
    free = FisherModel(_spec(shape=False, norm_prior="free"))
    logn = FisherModel(_spec(shape=False, norm_prior="lognormal"))
    gauss = FisherModel(_spec(shape=False))
    assert float(free.loss(h)) > float(gauss.loss(h))
    # at nominal 1 the log-normal and Gaussian priors have the same curvature
    assert float(logn.loss(h)) == pytest.approx(float(gauss.loss(h)), rel=1e-12)


def test_information_matches_autodiff_hessian_of_binned_nll() -> None:
    fm = FisherModel(_spec())
    gen = torch.Generator().manual_seed(0)
    h0 = 10 + 50 * torch.rand(2, 6, generator=gen, dtype=torch.float64)
    d = torch.randn(1, 2, 6, generator=gen, dtype=torch.float64)
    info = fm.information(h0, d)

    def q(theta: torch.Tensor) -> torch.Tensor:
        mu, bn, sc = theta
        alpha = (sc - 1.0) / 0.02
        nu = mu * (h0[0] + alpha * d[0, 0]) + bn * (h0[1] + alpha * d[0, 1])
        n = (h0[0] + h0[1]).detach()
        pen = ((bn - 1.0) / 0.1) ** 2 + ((sc - 1.0) / 0.02) ** 2
        return 2.0 * (nu - n * torch.log(nu)).sum() + pen

    hess = torch.autograd.functional.hessian(q, torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64))
    torch.testing.assert_close(info, 0.5 * hess)
    assert fm.parameter_names == ("mu", "b_norm", "scale")


@pytest.mark.parametrize("method", ["kde", "softmax"])
def test_loss_gradient_matches_finite_differences(method: str) -> None:
    torch.manual_seed(3)
    n_out = 1 if method == "kde" else 5
    net = torch.nn.Sequential(
        torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, n_out)
    ).double()
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(400, 2, generator=gen, dtype=torch.float64)
    proc = (torch.arange(400) % 2).long()
    x[proc == 0] += 1.0
    w = torch.where(proc == 0, 0.2, 2.0).double()
    x_up, x_dn = x + 0.05, x - 0.05  # a shape nuisance moving every event
    dlogw = 0.3 * x[:, 1]  # and a reweighting derivative, for both kinds of derivative
    hist = SoftHistogram(method, n_bins=5 if method == "softmax" else 4, temperature=0.5)
    spec = ModelSpec.from_dict(
        {
            "pois": [{"name": "mu"}],
            "nuisances": [
                {"name": "s1", "nominal": 0.0, "width": 1.0, "acts_on": "shape"},
                {"name": "s2", "nominal": 0.0, "width": 1.0, "prior": "free", "acts_on": "shape"},
            ],
            "processes": [
                {"name": "sig", "signal": True, "modifiers": [{"parameter": "mu"}]},
                {"name": "bkg"},
            ],
        }
    )
    fm = FisherModel(spec)

    def loss() -> torch.Tensor:
        m0 = hist.membership(net(x))
        h0 = hist.histogram(net(x), w, proc, 2)
        hu = hist.histogram(net(x_up), w, proc, 2)
        hd = hist.histogram(net(x_dn), w, proc, 2)
        from unbinned.aware import weighted_counts

        d2 = weighted_counts(m0, w * dlogw, proc, 2)
        return fm.loss(h0, torch.stack([(hu - hd) / 2.0, d2]))

    params = list(net.parameters())
    grads = torch.autograd.grad(loss(), params)
    eps = 1e-6
    rng = np.random.default_rng(0)
    for p, g in zip(params, grads, strict=True):
        flat = p.data.view(-1)
        for i in rng.choice(flat.numel(), size=min(3, flat.numel()), replace=False):
            old = float(flat[i])
            flat[i] = old + eps
            up = float(loss().detach())
            flat[i] = old - eps
            dn = float(loss().detach())
            flat[i] = old
            fd = (up - dn) / (2 * eps)
            assert float(g.view(-1)[i]) == pytest.approx(fd, rel=1e-5, abs=1e-9)


def test_empty_bins_are_dropped_and_singular_information_raises() -> None:
    nu = torch.tensor([10.0, 0.0, 5.0], dtype=torch.float64)
    jac = torch.tensor([[1.0], [3.0], [2.0]], dtype=torch.float64)
    info = asimov_fisher(nu, jac, torch.zeros(1, dtype=torch.float64))
    assert float(info) == pytest.approx(1.0 / 10 + 4.0 / 5)
    with pytest.raises(DataError, match="singular or not positive"):
        fisher_sigmas(torch.zeros(2, 2, dtype=torch.float64), [0])


def test_fisher_model_input_checks() -> None:
    fm = FisherModel(_spec())
    with pytest.raises(DataError, match="one row per process"):
        fm.loss(torch.ones(3, 4, dtype=torch.float64))
    with pytest.raises(DataError, match="give their template derivatives"):
        fm.loss(torch.ones(2, 4, dtype=torch.float64))
    with pytest.raises(DataError, match="shape derivatives have shape"):
        fm.loss(torch.ones(2, 4, dtype=torch.float64), torch.ones(2, 2, 4, dtype=torch.float64))
    with pytest.raises(ConfigError, match="distinct declared processes"):
        FisherModel(_spec(), processes=("sig", "nope"))
    with pytest.raises(ConfigError, match="not POIs"):
        FisherModel(_spec(), poi_weights={"b_norm": 1.0})
    with pytest.raises(TypeError, match="ModelSpec"):
        FisherModel({"pois": []})  # type: ignore[arg-type]
