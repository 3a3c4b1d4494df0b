"""Aware inputs from the oracle models, per-class edges and adapted (quantile) edges."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from unbinned.aware import (
    AwareConfig,
    AwareTrainer,
    SoftHistogram,
    oracle_samples,
    oracle_spec,
)
from unbinned.exceptions import ConfigError
from unbinned.sim.oracle import inferno_benchmark


class _ExactLogRatio(torch.nn.Module):
    """ln(n_s f_s / n_b f_b) of INFERNO's benchmark at nominal: the optimal score."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0, x1, x2 = x[:, 0], x[:, 1], x[:, 2]
        log_s = -0.5 * (x0**2 + x1**2) - math.log(2 * math.pi) + math.log(2.0) - 2.0 * x2
        norm_b = math.log(2 * math.pi * math.sqrt(45.0))
        log_b = -0.5 * ((x0 - 2.0) ** 2 / 5.0 + x1**2 / 9.0) - norm_b + math.log(3.0) - 3.0 * x2
        return (math.log(50.0) + log_s - math.log(1000.0) - log_b)[:, None]


def test_oracle_spec_declares_the_setting() -> None:
    spec = oracle_spec(inferno_benchmark(4))
    assert spec.parameter_names == ("mu", "r", "lambda", "b")
    assert [n.acts_on for n in spec.nuisances] == ["shape", "shape", "rate"]
    assert spec.nuisance("b").width == 100.0
    free = oracle_spec(inferno_benchmark(2))
    assert [n.prior for n in free.nuisances] == ["free", "free"]
    assert oracle_spec(inferno_benchmark(0)).nuisances == ()


def test_optimal_score_in_many_bins_approaches_the_exact_likelihood() -> None:
    model = inferno_benchmark(0)
    true = 50.0 / math.sqrt(model.fisher_information(n_per_process=2**14)[1][0, 0])
    test = oracle_samples(model, 2**14, asimov=True, seed=1, dtype=torch.float64)
    trainer = AwareTrainer(
        _ExactLogRatio(), oracle_spec(model), AwareConfig(histogram=SoftHistogram(n_bins=30))
    )
    equal = 50.0 * trainer.evaluate(test).sigmas["mu"]
    trainer.adapt_edges(test.nominal)
    quantile = 50.0 * trainer.evaluate(test).sigmas["mu"]
    assert quantile == pytest.approx(true, rel=0.02)  # 30 bins of the optimal score
    assert quantile < equal


def test_reweighting_and_varied_events_give_the_same_derivatives() -> None:
    model = inferno_benchmark(3)
    rew = oracle_samples(model, 2**13, asimov=True, seed=2, dtype=torch.float64)
    # paired events moved by ±0.3σ: a central difference of the same expectation
    var = oracle_samples(model, 2**13, asimov=True, seed=2, derivative="vary", step=0.3,
                         dtype=torch.float64)  # fmt: skip
    trainer = AwareTrainer(
        _ExactLogRatio(), oracle_spec(model), AwareConfig(histogram=SoftHistogram(n_bins=8))
    )
    a, b = trainer.evaluate(rew), trainer.evaluate(var)
    np.testing.assert_allclose(a.nominal, b.nominal)
    assert a.sigmas["mu"] == pytest.approx(b.sigmas["mu"], rel=0.03)


def test_per_class_edges_and_adapted_multiclass_edges() -> None:
    hist = SoftHistogram("kernel", edges=[[0.5, 0.7, 1.0], [0.5, 0.9, 1.0]])
    z = torch.log(torch.tensor([[0.8, 0.2], [0.95, 0.05], [0.3, 0.7], [0.05, 0.95]]))
    np.testing.assert_array_equal(hist.bin_index(z).numpy(), [1, 1, 2, 3])
    assert hist.class_edges(2).shape == (2, 3)
    with pytest.raises(ConfigError, match="rows of edges"):
        hist.class_edges(3)
    model = inferno_benchmark(0)
    test = oracle_samples(model, 2**11, asimov=True, seed=1)
    net = torch.nn.Sequential(torch.nn.Linear(3, 2))
    trainer = AwareTrainer(net, oracle_spec(model), AwareConfig(histogram=SoftHistogram(n_bins=4)))
    rows = trainer.adapt_edges(test.nominal)
    assert rows.shape == (2, 5)
    assert np.all(np.diff(rows, axis=1) > 0)
    ev = trainer.evaluate(test)
    assert ev.edges.shape == (2, 5)
    assert ev.templates(("c0", "c1")).regions[1].n_bins <= 4
