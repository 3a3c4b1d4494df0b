"""The extended unbinned likelihood q(θ) = -2 ln L and its terms."""

from unbinned.likelihood.nll import Constraint, CountingRegion, Likelihood, UnbinnedRegion
from unbinned.likelihood.surrogate import (
    RegionResponse,
    SurrogateResponse,
    event_tensors,
    surrogate_region,
)
from unbinned.likelihood.tensors import EventTensors, ResponseModel, ShapeParameter

__all__ = [
    "Constraint",
    "CountingRegion",
    "EventTensors",
    "Likelihood",
    "RegionResponse",
    "ResponseModel",
    "ShapeParameter",
    "SurrogateResponse",
    "UnbinnedRegion",
    "event_tensors",
    "surrogate_region",
]
