"""The prior (constraint) terms of q(θ), shared by the unbinned and the binned likelihoods.

Each constrained nuisance adds its -2 ln prior (ModelSpec conventions):
Gaussian ((θ − θ₀)/σ)², log-normal (ln(θ/θ₀)/σ)², or the ``penalty_torch`` of a
custom constraint object (e.g. a theory uncertainty), which replaces the
declared prior of its parameter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from unbinned.exceptions import ConfigError
from unbinned.model.spec import ModelSpec

__all__ = ["Constraint", "PriorTerms"]

_DTYPE = torch.float64


@runtime_checkable
class Constraint(Protocol):
    """A custom constraint term (e.g. a theory uncertainty) on one parameter."""

    @property
    def name(self) -> str:
        """The constrained parameter."""
        ...

    def penalty_torch(self, theta: torch.Tensor) -> torch.Tensor:
        """The -2 ln prior term as a function of the parameter value."""
        ...


def _arrays(
    rows: list[tuple[int, float, float]],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    idx = torch.tensor([r[0] for r in rows], dtype=torch.long)
    mean = torch.tensor([r[1] for r in rows], dtype=_DTYPE)
    width = torch.tensor([r[2] for r in rows], dtype=_DTYPE)
    return idx, mean, width


@dataclass(frozen=True)
class PriorTerms:
    """Index, centre and width of the Gaussian and log-normal priors, and custom constraints."""

    gauss: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    logn: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    custom: tuple[tuple[int, Constraint], ...]

    @classmethod
    def from_spec(
        cls, spec: ModelSpec, index: Mapping[str, int], constraints: Sequence[Constraint] = ()
    ) -> PriorTerms:
        """The prior terms of ``spec``'s nuisances; ``index`` maps names to θ positions."""
        custom = {c.name: c for c in constraints}
        unknown = [n for n in custom if n not in index]
        if unknown:
            raise ConfigError(f"constraint(s) on undeclared parameter(s) {unknown}")
        gauss, logn = [], []
        for nuis in spec.nuisances:
            if nuis.name in custom or nuis.name not in index:
                continue
            row = (index[nuis.name], nuis.nominal, float(nuis.width or 1.0))
            if nuis.prior == "gaussian":
                gauss.append(row)
            elif nuis.prior == "lognormal":
                logn.append(row)
        return cls(_arrays(gauss), _arrays(logn), tuple((index[n], c) for n, c in custom.items()))

    def penalty_torch(self, theta: torch.Tensor) -> torch.Tensor:
        """Σ of every prior term at θ, differentiable (float64)."""
        total = torch.zeros((), dtype=_DTYPE)
        idx, mean, width = self.gauss
        if idx.numel():
            total = total + (((theta[idx] - mean) / width) ** 2).sum()
        idx, mean, width = self.logn
        if idx.numel():
            total = total + ((torch.log(theta[idx] / mean) / width) ** 2).sum()
        for k, c in self.custom:
            total = total + c.penalty_torch(theta[k])
        return total
