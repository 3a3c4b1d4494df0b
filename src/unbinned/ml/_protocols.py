"""The surrogate as the layers above :mod:`unbinned.ml` use it: :class:`SurrogateLike`.

:class:`~unbinned.ml.surrogate.SurrogateModel` satisfies it; the analysis model, the
likelihood adaptor (:mod:`unbinned.likelihood.surrogate`) and the workflow's
diagnostics need only these members.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import torch

if TYPE_CHECKING:
    from unbinned.ml.calibration import ScoreCalibration
    from unbinned.ml.classifier import ProcessClassifier
    from unbinned.ml.design import Design, ShapeNuisance
    from unbinned.ml.response import ProcessResponse
    from unbinned.ml.sources import Region
    from unbinned.ml.surrogate import PerEventTensors

__all__ = ["SurrogateLike"]


@runtime_checkable
class SurrogateLike(Protocol):
    """A trained surrogate of one region (the members used outside :mod:`unbinned.ml`)."""

    @property
    def processes(self) -> tuple[str, ...]:
        """Process names, the order of every per-process axis."""
        ...

    @property
    def nuisances(self) -> tuple[ShapeNuisance, ...]:
        """The shape nuisances, the order of ν."""
        ...

    @property
    def nuisance_names(self) -> tuple[str, ...]:
        """Names of the shape nuisances."""
        ...

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The input features, in the order the networks use them."""
        ...

    @property
    def region(self) -> Region:
        """The analysis region the surrogate describes."""
        ...

    @property
    def nominal_yields(self) -> Mapping[str, float]:
        """σ_p L at ν = 0 per process."""
        ...

    @property
    def classifier(self) -> ProcessClassifier:
        """The calibrated classifier c_p(x)."""
        ...

    @property
    def responses(self) -> Mapping[str, ProcessResponse | None]:
        """The learned response of each process (None: no shape response)."""
        ...

    @property
    def calibration(self) -> ScoreCalibration | None:
        """The score calibration of the responses, if any."""
        ...

    @property
    def design(self) -> Design | None:
        """The training design, or None without responses."""
        ...

    def monomials(self, nu: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """φ(ν), shape (M,)."""
        ...

    def monomials_torch(self, nu: torch.Tensor) -> torch.Tensor:
        """φ(ν) as a differentiable tensor of shape (M,)."""
        ...

    def precompute(self, events: Any, batch_size: int = 8192) -> PerEventTensors:
        """c_p(x_i) and Δ_p(x_i) of every event."""
        ...

    def save(self, directory: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the model directory; return its path."""
        ...
