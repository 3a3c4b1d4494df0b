"""The parameter vector θ of a likelihood: names, bounds, name ↔ position.

Shared by the unbinned :class:`~unbinned.likelihood.Likelihood` and the binned
:class:`~unbinned.binned.BinnedLikelihood`: both order θ as ``spec.parameter_names``
and check a vector against the declared bounds before evaluating q.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from unbinned.exceptions import ConfigError, DataError
from unbinned.model.spec import ModelSpec

__all__ = ["ParameterVector"]


class ParameterVector:
    """Mixin: the parameter vector of a likelihood over the parameters of ``spec``.

    A subclass calls :meth:`_init_parameters` with its (possibly extended) model
    declaration; that sets ``spec``, ``parameter_names`` (θ's order) and the bounds.
    """

    spec: ModelSpec
    parameter_names: tuple[str, ...]
    _bounds: dict[str, tuple[float, float] | None]
    _lo: npt.NDArray[np.float64]
    _hi: npt.NDArray[np.float64]

    def _init_parameters(self, spec: ModelSpec) -> dict[str, int]:
        """Take the parameters of ``spec``; returns the name → position map of θ."""
        self.spec = spec
        self.parameter_names = spec.parameter_names
        self._bounds = spec.bounds()
        npar = len(self.parameter_names)
        lo = np.full(npar, -np.inf)
        hi = np.full(npar, np.inf)
        for i, name in enumerate(self.parameter_names):
            bnd = self._bounds[name]
            if bnd is not None:
                lo[i], hi[i] = bnd
        self._lo, self._hi = lo, hi
        return {n: i for i, n in enumerate(self.parameter_names)}

    @property
    def npar(self) -> int:
        """Number of parameters."""
        return len(self.parameter_names)

    def _theta(self, theta: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """``theta`` as a float64 vector, checked for shape, finiteness and bounds."""
        x = np.asarray(theta, dtype=np.float64)
        if x.shape != (self.npar,):
            raise DataError(
                f"expected {self.npar} parameter values {self.parameter_names}, got shape {x.shape}"
            )
        if ((x >= self._lo) & (x <= self._hi) & np.isfinite(x)).all():
            return x
        if not np.all(np.isfinite(x)):
            raise DataError(f"parameter values must be finite, got {x.tolist()}")
        i = int(np.flatnonzero((x < self._lo) | (x > self._hi))[0])
        b = self._bounds[self.parameter_names[i]]
        assert b is not None
        raise DataError(
            f"parameter {self.parameter_names[i]!r} = {x[i]} is outside its bounds [{b[0]}, {b[1]}]"
        )

    def values(self, theta: npt.ArrayLike) -> dict[str, float]:
        """Name → value mapping of a parameter vector."""
        x = np.asarray(theta, dtype=np.float64)
        return dict(zip(self.parameter_names, x.tolist(), strict=True))

    def vector(self, values: Mapping[str, float] | None = None) -> npt.NDArray[np.float64]:
        """Parameter vector from a partial name → value mapping; the rest at start values."""
        init = self.spec.init_values()
        unknown = [k for k in (values or {}) if k not in init]
        if unknown:
            raise ConfigError(f"unknown parameter(s) {unknown}; known: {list(init)}")
        init.update(values or {})
        return np.array([init[n] for n in self.parameter_names], dtype=np.float64)
