"""PriorTerms: the Gaussian, log-normal and custom prior penalties."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from unbinned.exceptions import ConfigError
from unbinned.likelihood.priors import Constraint, PriorTerms
from unbinned.model import ModelSpec


@dataclass(frozen=True)
class Quartic:
    """A custom constraint ((θ - 1) / 0.5)⁴."""

    name: str

    def penalty_torch(self, theta: torch.Tensor) -> torch.Tensor:
        return ((theta - 1.0) / 0.5) ** 4


def _spec() -> ModelSpec:
    return ModelSpec.from_dict(
        {
            "pois": [{"name": "mu"}],
            "nuisances": [
                {"name": "g", "nominal": 0.5, "width": 0.2, "acts_on": "shape"},
                {
                    "name": "ln",
                    "nominal": 2.0,
                    "width": 0.3,
                    "prior": "lognormal",
                    "acts_on": "shape",
                },
                {
                    "name": "u",
                    "nominal": 0.0,
                    "prior": "uniform",
                    "bounds": [-1, 1],
                    "acts_on": "shape",
                },
                {"name": "fr", "nominal": 1.0, "prior": "free", "acts_on": "shape"},
                {"name": "c", "nominal": 1.0, "width": 0.1, "acts_on": "shape"},
            ],
            "processes": [{"name": "p"}],
        }
    )


def _index(spec: ModelSpec) -> dict[str, int]:
    return {n: i for i, n in enumerate(spec.parameter_names)}


def test_penalty_is_the_sum_of_gaussian_and_lognormal_terms():
    spec = _spec()
    pri = PriorTerms.from_spec(spec, _index(spec))
    theta = np.array([3.0, 0.9, 2.5, 0.4, -7.0, 1.3])  # mu, g, ln, u, fr, c
    want = ((0.9 - 0.5) / 0.2) ** 2 + (np.log(2.5 / 2.0) / 0.3) ** 2 + ((1.3 - 1.0) / 0.1) ** 2
    t = torch.tensor(theta, requires_grad=True)
    pen = pri.penalty_torch(t)
    assert float(pen.detach()) == pytest.approx(want, rel=1e-13)
    (g,) = torch.autograd.grad(pen, t)
    grad = np.zeros(6)
    grad[1] = 2 * (0.9 - 0.5) / 0.2**2
    grad[2] = 2 * np.log(2.5 / 2.0) / (0.3**2 * 2.5)
    grad[5] = 2 * (1.3 - 1.0) / 0.1**2
    assert g.numpy() == pytest.approx(grad, rel=1e-12)
    assert pri.gauss[0].tolist() == [1, 5]
    assert pri.logn[0].tolist() == [2]
    assert pri.custom == ()


def test_custom_constraint_replaces_the_declared_prior():
    spec = _spec()
    quartic = Quartic("c")
    assert isinstance(quartic, Constraint)
    pri = PriorTerms.from_spec(spec, _index(spec), [quartic])
    assert pri.gauss[0].tolist() == [1]
    assert pri.custom == ((5, quartic),)
    theta = torch.tensor([3.0, 0.5, 2.0, 0.4, -7.0, 1.3], dtype=torch.float64)
    assert float(pri.penalty_torch(theta)) == pytest.approx((0.3 / 0.5) ** 4, rel=1e-13)


def test_parameters_outside_the_index_are_skipped_and_unknown_constraints_rejected():
    spec = _spec()
    pri = PriorTerms.from_spec(spec, {"mu": 0, "ln": 1})
    assert pri.gauss[0].numel() == 0
    assert pri.logn[0].tolist() == [1]
    assert float(pri.penalty_torch(torch.tensor([0.0, 2.0], dtype=torch.float64))) == 0.0
    with pytest.raises(ConfigError, match="undeclared parameter"):
        PriorTerms.from_spec(spec, _index(spec), [Quartic("nope")])
