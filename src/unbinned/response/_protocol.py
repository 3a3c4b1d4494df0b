"""The protocol every yield-response model satisfies (GP or polynomial)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import torch

__all__ = ["YieldModel"]


@runtime_checkable
class YieldModel(Protocol):
    """A region's inclusive yield response ln Y_p(ν) (DESIGN.md §3).

    Implementations: :class:`unbinned.response.GPYieldModel` (a Gaussian process) and the
    polynomial least-squares fit of the surrogate module.  A model is fitted once to
    simulation points, evaluated in numpy for reports and in torch, differentiably, by
    the likelihood engine, and stored as JSON-serialisable state in a model file.
    """

    def fit(
        self,
        nu_points: npt.NDArray[np.float64],
        log_yields: npt.NDArray[np.float64],
        gradients: npt.NDArray[np.float64] | None = None,
    ) -> Any:
        """Fit to ln Y at points ν_k (shape (K, d)), optionally with ∂ ln Y/∂ν (K, d)."""
        ...

    def __call__(self, nu: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Return ln Y(ν) for ν of shape (..., d); the result has shape (...)."""
        ...

    def log_yield_torch(self, nu: torch.Tensor) -> torch.Tensor:
        """Differentiable ln Y(ν) for a tensor of shape (..., d)."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable state (no pickle)."""
        ...

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """Rebuild a fitted model from :meth:`to_dict` output."""
        ...
