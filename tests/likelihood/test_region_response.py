"""RegionResponse: the yield response of a region holding part of a surrogate's events."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unbinned.exceptions import DataError
from unbinned.likelihood import EventTensors, RegionResponse, ShapeParameter


class _Linear:
    """φ(ν) = ν and ln Y_p(ν) = a_p · ν: a stand-in for a surrogate's response."""

    shape_parameters = (ShapeParameter("s", 0.0, 1.0),)
    slopes = torch.tensor([0.1, -0.2], dtype=torch.float64)

    def monomials_torch(self, nu: torch.Tensor) -> torch.Tensor:
        return nu

    def log_yield_torch(self, nu: torch.Tensor) -> torch.Tensor:
        return self.slopes * nu.sum()


def _tensors(n: int, seed: int) -> EventTensors:
    rng = np.random.default_rng(seed)
    c = rng.dirichlet([1.0, 1.0], n)
    return EventTensors(c, rng.uniform(0.5, 1.5, n), rng.normal(0, 0.5, (n, 2, 1)))


def test_regions_that_partition_the_events_add_up_to_the_whole():
    whole = _tensors(400, 1)
    inside = np.arange(400) < 150
    base = _Linear()
    nu = torch.tensor([0.7], dtype=torch.float64)
    total = torch.zeros(2, dtype=torch.float64)
    for mask in (inside, ~inside):
        part = whole.select(mask)
        nominal = torch.as_tensor((part.fractions * part.weights[:, None]).sum(0))
        total = total + nominal * torch.exp(RegionResponse(base, part, whole).log_yield_torch(nu))
    s = torch.as_tensor((whole.fractions * whole.weights[:, None]).sum(0))
    torch.testing.assert_close(total, s * torch.exp(base.log_yield_torch(nu)), rtol=1e-12, atol=0)
    # at the nominal point the region's response is the surrogate's: exactly 1
    zero = RegionResponse(base, whole.select(inside), whole).log_yield_torch(torch.zeros(1))
    torch.testing.assert_close(zero, torch.zeros(2, dtype=torch.float64))


def test_a_process_absent_from_the_region_has_no_response_and_no_nan():
    whole = _tensors(50, 2)
    c = whole.fractions.copy()
    c[:10, 1] = 0.0
    whole = EventTensors(c, whole.weights, whole.delta)
    resp = RegionResponse(_Linear(), whole.select(np.arange(50) < 10), whole)
    nu = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    out = resp.log_yield_torch(nu)
    assert out[1].item() == 0.0
    (g,) = torch.autograd.grad(out.sum(), nu)
    assert torch.isfinite(g).all()


def test_needs_response_terms():
    plain = EventTensors(np.full((3, 2), 0.5), np.ones(3))
    with pytest.raises(DataError, match="response terms"):
        RegionResponse(_Linear(), plain, plain)
