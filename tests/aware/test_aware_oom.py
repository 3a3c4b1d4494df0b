"""The learned unfoldable observable: toy, unfolding Fisher, bias, gradients, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unbinned.aware import Standardize
from unbinned.aware.oom import (
    OOMConfig,
    UnfoldingData,
    _loss,
    _schur_information,
    _terms,
    evaluate_observable,
    quantile_observable,
    train_oom,
)
from unbinned.aware.toys import ThresholdToy, _sample_linear_cos
from unbinned.exceptions import ConfigError, DataError

EDGES = np.array([0.0, 360.0, 400.0, 460.0, 560.0, 1e6])


@pytest.fixture(scope="module")
def data() -> UnfoldingData:
    return UnfoldingData.from_events(ThresholdToy().generate(20_000, seed=3), dtype=torch.float64)


def test_toy_generation() -> None:
    toy = ThresholdToy()
    ev = toy.generate(5000, seed=1)
    assert ev.x_gen.shape == (10_000, 2)
    assert ev.weights[ev.component == 0].sum() == pytest.approx(toy.n_continuum)
    assert ev.weights[ev.component == 1].sum() == pytest.approx(toy.n_signal)
    assert ev.bkg_weights.sum() == pytest.approx(toy.n_background)
    assert np.all(np.abs(ev.x_reco[:, 1]) <= 1.0)
    np.testing.assert_allclose(ev.x_reco_up[:, 0], ev.x_reco[:, 0] * (1 + toy.scale_width))
    rng = np.random.default_rng(0)
    c = _sample_linear_cos(rng, np.full(100_000, 0.6))
    assert c.mean() == pytest.approx(0.2, abs=0.01)
    with pytest.raises(ConfigError, match="n_signal"):
        ThresholdToy(n_signal=0.0)
    with pytest.raises(TypeError, match="int"):
        toy.generate(10.0)  # type: ignore[arg-type]


def test_response_and_no_bias_at_the_true_value(data: UnfoldingData) -> None:
    ev = evaluate_observable(quantile_observable(0, EDGES), data, theta=1.0, assumed=(1.0, 0.0))
    assert ev.bias[1.0] == pytest.approx(0.0, abs=1e-9)
    assert ev.bias[0.0] != pytest.approx(0.0, abs=1e-6)
    eff = ev.response.sum(0)
    assert np.all((eff > 0.1) & (eff < 0.6))  # columns sum to the efficiency per bin
    assert np.isfinite(ev.sigma_theta)


def test_unfolded_sigma_equals_forward_folding_fit(data: UnfoldingData) -> None:
    # unregularised unfolding with a square response keeps all the information:
    # σ_θ after unfolding equals σ_θ of the forward-folded fit of (θ, n, η, β)
    mem = quantile_observable(0, EDGES)
    t = _terms(mem, data, 1.0)
    vinv = _schur_information(t, data.background_width, 0.0)
    d = torch.stack([t.gen_signal, t.gen_cont], dim=1)
    unfolded = float(torch.sqrt(torch.linalg.inv(d.T @ vinv @ d)[0, 0]))
    jac = torch.cat([t.response @ d, t.d_eta[:, None], t.bkg[:, None]], dim=1)
    info = jac.T @ (jac / t.nu[:, None]) + torch.diag(
        torch.tensor([0.0, 0.0, 1.0, 1.0 / data.background_width**2], dtype=torch.float64)
    )
    forward = float(torch.sqrt(torch.linalg.inv(info)[0, 0]))
    assert unfolded == pytest.approx(forward, rel=1e-8)
    assert evaluate_observable(mem, data).sigma_theta == pytest.approx(unfolded, rel=1e-10)


def test_oom_loss_gradient_matches_finite_differences(data: UnfoldingData) -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        Standardize.fit(data.gen.numpy()), torch.nn.Linear(2, 6), torch.nn.Tanh(),
        torch.nn.Linear(6, 4),
    ).double()  # fmt: skip
    small = data.subset(torch.arange(data.gen.shape[0]) % 10 == 0,
                        torch.arange(data.bkg.shape[0]) % 10 == 0, 10.0)  # fmt: skip
    cfg = OOMConfig(n_bins=4, bias_weight=1.0)

    def loss() -> torch.Tensor:
        return _loss(lambda x: torch.softmax(net(x) / 0.5, dim=1), small, cfg)[0]

    params = [p for p in net.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss(), params)
    eps = 1e-6
    for p, g in zip(params, grads, strict=True):
        flat = p.data.view(-1)
        for i in range(min(2, flat.numel())):
            old = float(flat[i])
            flat[i] = old + eps
            up = float(loss().detach())
            flat[i] = old - eps
            dn = float(loss().detach())
            flat[i] = old
            assert float(g.view(-1)[i]) == pytest.approx((up - dn) / (2 * eps), rel=1e-4, abs=1e-8)


def test_train_oom_runs_and_is_deterministic() -> None:
    small = UnfoldingData.from_events(ThresholdToy().generate(4000, seed=5))
    out = []
    for _ in range(2):
        torch.manual_seed(1)
        net = torch.nn.Sequential(
            Standardize.fit(small.gen.numpy()), torch.nn.Linear(2, 16), torch.nn.ReLU(),
            torch.nn.Linear(16, 5),
        )  # fmt: skip
        cfg = OOMConfig(n_bins=5, steps=6, batch_fraction=0.5, pretrain_edges=tuple(EDGES),
                        pretrain_epochs=1)  # fmt: skip
        res = train_oom(net, small, cfg)
        out.append(res.loss)
    assert out[0] == out[1]
    assert len(out[0]) == 6
    assert np.all(np.isfinite(out[0]))
    assert res.membership(small.gen).shape == (small.gen.shape[0], 5)


def test_oom_input_checks(data: UnfoldingData) -> None:
    with pytest.raises(ConfigError, match="n_bins"):
        OOMConfig(n_bins=1)
    with pytest.raises(ConfigError, match="pretrain_edges"):
        OOMConfig(n_bins=3, pretrain_edges=(0.0, 1.0))
    with pytest.raises(ConfigError, match="increasing"):
        quantile_observable(0, [1.0, 0.0])
    with pytest.raises(ConfigError, match="outputs"):
        train_oom(torch.nn.Linear(2, 3).double(), data, OOMConfig(n_bins=4))
    with pytest.raises(DataError, match="empty"):
        evaluate_observable(quantile_observable(0, [0.0, 1.0, 2.0, 1e6]), data)
    with pytest.raises(TypeError, match="GenRecoEvents"):
        UnfoldingData.from_events("events")  # type: ignore[arg-type]
