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

from unbinned.exceptions import DataError
from unbinned.likelihood.moments import IntegrationMoments
from unbinned.likelihood.nll import UnbinnedRegion
from unbinned.likelihood.tensors import EventTensors, ResponseModel, ShapeParameter

__all__ = ["RegionResponse", "SurrogateResponse", "event_tensors", "surrogate_region"]


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


class RegionResponse:
    r"""The learned response of a region that holds part of the surrogate's events.

    A surrogate learns the densities and yields Y_p(ν) of every event of its
    source; a region R (a selection) holds part of them, and a shape nuisance
    moves events in and out of it.  Its yield response is the surrogate's times
    the change of the learned acceptance,

    .. math::

        \ln Y^R_p(ν) = \ln Y_p(ν) + \ln\frac{I^R_p(φ)}{I^R_p(0)} - \ln\frac{I_p(φ)}{I_p(0)},
        \qquad I^R_p(φ) = \sum_{j∈R} w_j c_p(x_j) e^{Δ_p(x_j)·φ},

    I^R over the integration events in R, I over all of them (so the yields of
    regions that partition the events add up to the surrogate's).  A process with
    no integration events in R has ln Y^R_p = 0 (its expected yield there is 0).

    Parameters
    ----------
    base
        The surrogate's response (:class:`SurrogateResponse`).
    region, whole
        The integration tensors of the region and of every event (with Δ).
    """

    def __init__(self, base: ResponseModel, region: EventTensors, whole: EventTensors) -> None:
        if region.delta is None or whole.delta is None:
            raise DataError("a region's response needs integration tensors with response terms")
        self.base = base
        t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64)  # noqa: E731
        self._parts = []
        for ev in (region, whole):
            self._parts.append((t(ev.fractions * ev.weights[:, None]), t(ev.delta)))
        s = self._parts[0][0].sum(0)
        self._present = s > 0

    @property
    def shape_parameters(self) -> tuple[ShapeParameter, ...]:
        """The surrogate's inputs (those of ``base``)."""
        return tuple(self.base.shape_parameters)

    def monomials_torch(self, nu: torch.Tensor) -> torch.Tensor:
        """φ(ν) of ``base``."""
        return self.base.monomials_torch(nu)

    def _log_change(self, k: int, phi: torch.Tensor) -> torch.Tensor:
        """ln I_p(φ) − ln I_p(0) over part ``k`` (0: the region, 1: every event), (P,)."""
        cw, delta = self._parts[k]
        integral = (cw * torch.exp(torch.einsum("npm,m->np", delta, phi))).sum(0)
        safe = torch.where(self._present, integral, torch.ones_like(integral))
        return torch.log(safe) - torch.log(torch.where(self._present, cw.sum(0), 1.0))

    def log_yield_torch(self, nu: torch.Tensor) -> torch.Tensor:
        """ln Y^R_p(ν) (class docstring), shape (P,), differentiable."""
        phi = self.base.monomials_torch(nu)
        change = self._log_change(0, phi) - self._log_change(1, phi)
        out = self.base.log_yield_torch(nu) + change
        return torch.where(self._present, out, torch.zeros_like(out))


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
