"""Regions of the unbinned likelihood built from a trained surrogate model.

The surrogate (:class:`unbinned.ml.SurrogateModel`) supplies, once per dataset,
the per-event fractions c_p(x_i) and response coefficients Δ_p(x_i); this module
wraps them into an :class:`~unbinned.likelihood.UnbinnedRegion` and adapts the
surrogate's yield models to the :class:`~unbinned.likelihood.ResponseModel`
protocol.  The surrogate is duck-typed here (``processes``, ``nuisances`` with
``name``/``nominal``/``scale``, ``responses[p].yield_model``, ``precompute``,
``nominal_yields``), so the likelihood does not import the ML stack.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from unbinned.likelihood.moments import IntegrationMoments
from unbinned.likelihood.nll import UnbinnedRegion
from unbinned.likelihood.tensors import EventTensors, ShapeParameter

__all__ = ["SurrogateResponse", "event_tensors", "surrogate_region"]


class SurrogateResponse:
    """The learned response of a surrogate as the likelihood consumes it.

    ln Y_p(ν) comes from each process's yield model (0 for a process without a
    learned response); φ(ν) are the surrogate's monomials.  Unlike the
    surrogate's own ``log_yield_torch`` this does no range check per call (the
    fit's parameter bounds keep ν inside the trained range), so it is cheap
    inside a minimisation.
    """

    def __init__(self, surrogate: Any) -> None:
        self.surrogate = surrogate
        self._models = [
            None if surrogate.responses[p] is None else surrogate.responses[p].yield_model
            for p in surrogate.processes
        ]
        self._shape = tuple(
            ShapeParameter(n.name, float(n.nominal), float(n.scale), int(getattr(n, "power", 1)))
            for n in surrogate.nuisances
        )

    @property
    def shape_parameters(self) -> tuple[ShapeParameter, ...]:
        """The surrogate's nuisances: ν = ((θ − nominal)/scale) ** power."""
        return self._shape

    def monomials_torch(self, nu: torch.Tensor) -> torch.Tensor:
        """φ(ν), shape (M,)."""
        return torch.as_tensor(self.surrogate.monomials_torch(nu))

    def log_yield_torch(self, nu: torch.Tensor) -> torch.Tensor:
        """ln Y_p(ν), shape (P,)."""
        zero = nu.sum() * 0.0
        return torch.stack(
            [zero if m is None else m.log_yield_torch(nu).reshape(()) for m in self._models]
        )


def event_tensors(surrogate: Any, events: Any, *, batch_size: int = 65536) -> EventTensors:
    """Per-event tensors of ``events`` (an EventSet or DataFrame) through ``surrogate``.

    Weights are the events' weights (1 for observed data without a weight column).
    """
    t = surrogate.precompute(events, batch_size=batch_size)
    weights = getattr(events, "weights", None)
    if weights is None:
        frame_w = events["weights"] if "weights" in getattr(events, "columns", ()) else None
        weights = np.ones(t.n_events) if frame_w is None else np.asarray(frame_w, np.float64)
    delta = t.delta if len(surrogate.nuisances) else None
    return EventTensors(t.fractions, np.asarray(weights, dtype=np.float64), delta)


def surrogate_region(
    surrogate: Any,
    data: Any,
    *,
    name: str | None = None,
    integration: Any | None = None,
    batch_size: int = 65536,
) -> UnbinnedRegion:
    """An unbinned region of ``data`` described by a trained ``surrogate``.

    Parameters
    ----------
    surrogate
        A trained :class:`unbinned.ml.SurrogateModel` of this region.
    data
        The observed (or pseudo) events: EventSet, DataFrame, or ready
        :class:`EventTensors`.
    name
        Region name in the model declaration (default: the surrogate's region name).
    integration
        A nominal simulation sample (EventSet with weights summing to the expected
        yields, or EventTensors) over which the learned density is integrated for
        the expected yield σ(θ) (consistent with the learned densities, and needed
        for Asimov datasets). Without it σ(θ) = Σ_p f_p Y_p(ν) σ_p,nom with the
        surrogate's nominal yields.
    """

    def tensors_of(events: Any) -> Any:
        if isinstance(events, (EventTensors, IntegrationMoments)):
            return events
        return event_tensors(surrogate, events, batch_size=batch_size)

    tensors = tensors_of(data)
    integ = None if integration is None else tensors_of(integration)
    if isinstance(tensors, IntegrationMoments):
        raise TypeError("the data must be events or EventTensors, not integration moments")
    has_shape = len(surrogate.nuisances) > 0
    return UnbinnedRegion(
        name or surrogate.region.name,
        tuple(surrogate.processes),
        tensors,
        nominal_yields=np.array([surrogate.nominal_yields[p] for p in surrogate.processes]),
        integration=integ,
        response=SurrogateResponse(surrogate) if has_shape else None,
        normalised=isinstance(integ, IntegrationMoments) and has_shape,
    )
