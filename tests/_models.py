"""Small exactly solvable models shared by the likelihood and inference tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from unbinned.likelihood import (
    CountingRegion,
    EventTensors,
    Likelihood,
    ShapeParameter,
    UnbinnedRegion,
)
from unbinned.model import ModelSpec


@dataclass(frozen=True)
class PolyResponse:
    """ln Y = a·ν + b·ν², φ = (ν, ν²) for one shape parameter."""

    name: str = "alpha"
    nominal: float = 0.0
    scale: float = 1.0
    a: tuple[float, ...] = (0.0,)
    b: tuple[float, ...] = (0.0,)
    power: int = 1

    @property
    def shape_parameters(self) -> tuple[ShapeParameter, ...]:
        return (ShapeParameter(self.name, self.nominal, self.scale, self.power),)

    def monomials_torch(self, nu: torch.Tensor) -> torch.Tensor:
        return torch.stack([nu[0], nu[0] ** 2])

    def log_yield_torch(self, nu: torch.Tensor) -> torch.Tensor:
        a = torch.tensor(self.a, dtype=torch.float64)
        b = torch.tensor(self.b, dtype=torch.float64)
        return a * nu[0] + b * nu[0] ** 2


def gaussian_location(
    n: int = 400, true_mean: float = 0.3, seed: int = 0
) -> tuple[Likelihood, np.ndarray]:
    """Unit-Gaussian data of unknown mean m, written as a learned shape response.

    ln[N(x|m,1)/N(x|0,1)] = x·m - m²/2 = Δ(x)·φ(m) with Δ = (x, -1/2), φ = (m, m²);
    the yield does not depend on m, so q(m) = N (m - x̄)² + const: the 68 % interval
    is x̄ ± 1/√N exactly.
    """
    x = np.random.default_rng(seed).normal(true_mean, 1.0, n)
    spec = ModelSpec.from_dict(
        {
            "pois": [{"name": "m", "init": 0.0, "bounds": [-5, 5]}],
            "processes": [{"name": "p"}],
            "regions": [{"name": "r"}],
        }
    )
    delta = np.stack([x, np.full(n, -0.5)], axis=1)[:, None, :]
    data = EventTensors(np.ones((n, 1)), np.ones(n), delta)
    region = UnbinnedRegion(
        "r", ("p",), data, nominal_yields=np.array([float(n)]), response=PolyResponse(name="m")
    )
    return Likelihood(spec, [region]), x


def two_process(seed: int = 1, n_sim: int = 3000, n_data: int = 600, power: int = 1) -> Likelihood:
    """Signal + background with a shape nuisance, a rate nuisance, integration tensors.

    ``power`` 2 makes the surrogate input ν = alpha² (a smearing width's parametrisation).
    """
    rng = np.random.default_rng(seed)
    spec = ModelSpec.from_dict(
        {
            "pois": [{"name": "mu", "bounds": [-2, 10]}],
            "nuisances": [
                {
                    "name": "alpha",
                    "nominal": 0.0,
                    "width": 1.0,
                    "acts_on": "shape",
                    "bounds": [-5, 5],
                },
                {"name": "bnorm", "nominal": 1.0, "width": 0.05, "bounds": [0.5, 1.5]},
            ],
            "processes": [
                {"name": "s", "signal": True, "modifiers": [{"parameter": "mu"}]},
                {"name": "b", "modifiers": [{"parameter": "bnorm"}]},
            ],
            "regions": [{"name": "sr"}, {"name": "cr", "kind": "counting"}],
        }
    )

    def tensors(n: int, total: float) -> EventTensors:
        c_s = rng.uniform(0.0, 0.5, n)
        c = np.stack([c_s, 1 - c_s], axis=1)
        delta = rng.normal(0.0, 0.1, (n, 2, 2))
        return EventTensors(c, np.full(n, total / n), delta)

    resp = PolyResponse(a=(0.02, -0.03), b=(0.001, 0.004), power=power)
    sr = UnbinnedRegion(
        "sr", ("s", "b"), tensors(n_data, n_data), integration=tensors(n_sim, 550.0), response=resp
    )
    cr = CountingRegion("cr", ("s", "b"), 1010.0, np.array([5.0, 1000.0]))
    return Likelihood(spec, [sr, cr])
