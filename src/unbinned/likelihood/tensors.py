"""Per-event tensors: what the likelihood needs from the surrogates, computed once per dataset.

For every event i of a region the likelihood only needs the nominal process
fractions c_p(x_i) and the response coefficients Δ_p(x_i) (DESIGN.md §3)::

    r(x_i | θ) = Σ_p f_p(θ) c_p(x_i) Y_p(ν) exp(Δ_p(x_i) · φ(ν))

so they are evaluated once and every likelihood evaluation afterwards is vector
arithmetic over events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import torch

from unbinned.exceptions import DataError

__all__ = ["EventTensors", "ResponseModel", "ShapeParameter"]


@dataclass(frozen=True)
class ShapeParameter:
    """How a model parameter maps onto a surrogate input: ν = ((θ - nominal) / scale) ** power."""

    name: str
    nominal: float
    scale: float
    power: int = 1


@runtime_checkable
class ResponseModel(Protocol):
    """The systematic response of a region's processes, as the likelihood consumes it.

    ``shape_parameters`` lists the surrogate inputs in order; ``monomials_torch``
    returns φ(ν) (M,) and ``log_yield_torch`` ln Y_p(ν) (P,) for standardised ν,
    both differentiable.
    """

    @property
    def shape_parameters(self) -> tuple[ShapeParameter, ...]:
        """The surrogate's inputs in order."""
        ...

    def monomials_torch(self, nu: torch.Tensor) -> torch.Tensor:
        """φ(ν), shape (M,)."""
        ...

    def log_yield_torch(self, nu: torch.Tensor) -> torch.Tensor:
        """ln Y_p(ν) per process, shape (P,)."""
        ...


@dataclass(frozen=True, eq=False)
class EventTensors:
    """Per-event fractions c_p(x_i), response coefficients Δ_p(x_i) and weights w_i.

    Parameters
    ----------
    fractions
        (N, P) nominal process fractions.
    weights
        (N,) event weights (1 for observed data).
    delta
        (N, P, M) response coefficients, or ``None`` without shape nuisances.
    """

    fractions: npt.NDArray[np.float64]
    weights: npt.NDArray[np.float64]
    delta: npt.NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        c = np.asarray(self.fractions)
        if c.ndim != 2:
            raise DataError(f"fractions have shape {c.shape}; expected (n_events, n_processes)")
        n, p = c.shape
        if np.shape(self.weights) != (n,):
            raise DataError(f"weights have shape {np.shape(self.weights)}; expected ({n},)")
        if self.delta is not None and (
            np.ndim(self.delta) != 3 or np.shape(self.delta)[:2] != (n, p)
        ):
            raise DataError(
                f"delta has shape {np.shape(self.delta)}; expected ({n}, {p}, n_monomials)"
            )
        for name, arr in (("fractions", c), ("weights", self.weights), ("delta", self.delta)):
            if arr is not None and not np.all(np.isfinite(arr)):
                raise DataError(
                    f"per-event {name} contain NaN or infinite values; check the input features "
                    "for NaN/inf and that the surrogate matches the data"
                )
        if np.any(c < 0):
            raise DataError("per-event fractions must be non-negative")

    @property
    def n_events(self) -> int:
        """Number of events."""
        return int(np.shape(self.fractions)[0])

    @property
    def n_processes(self) -> int:
        """Number of processes."""
        return int(np.shape(self.fractions)[1])

    @property
    def sum_weights(self) -> float:
        """Sum of the event weights."""
        return float(np.sum(self.weights))

    def select(self, mask: npt.ArrayLike) -> EventTensors:
        """The tensors of a subset of events."""
        m = np.asarray(mask)
        return EventTensors(
            self.fractions[m], self.weights[m], None if self.delta is None else self.delta[m]
        )

    def with_weights(self, weights: npt.ArrayLike) -> EventTensors:
        """A copy with other weights (e.g. Asimov weights)."""
        return EventTensors(self.fractions, np.asarray(weights, dtype=np.float64), self.delta)
