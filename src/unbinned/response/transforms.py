"""Output transforms for GP response surfaces.

An efficiency ratio r = ε(ν)/ε(1) estimated from N simulated events has a binomial
(nearly Poisson) variance ∝ r, so its noise is heteroscedastic and the response has
flat regions near 0 and steep ridges.  The square root is the variance-stabilising
transform of a Poisson count (Anscombe, Biometrika 35 (1948) 246):
y = √(r + c) has a variance nearly independent of r, which suits a GP with a constant
noise variance.  Gradients transform by the chain rule, ∂y/∂ν = (∂r/∂ν) / (2√(r + c)),
and a prediction is mapped back by r = max(y, 0)² - c (the plug-in estimate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from unbinned.exceptions import ConfigError

__all__ = ["SqrtTransform"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SqrtTransform:
    """y = √(max(r, 0) + offset), with its gradient and inverse.

    Parameters
    ----------
    offset
        c > 0: keeps the gradient finite where r = 0.

    Examples
    --------
    >>> import numpy as np
    >>> t = SqrtTransform(offset=0.01)
    >>> y, g = t.forward(0.99, np.array([2.0]))
    >>> float(y), float(g[0]), float(t.inverse(np.array([y]))[0])
    (1.0, 1.0, 0.99)
    """

    offset: float = 0.01

    def __post_init__(self) -> None:
        if not self.offset > 0:
            raise ConfigError(f"offset must be > 0, got {self.offset!r}")

    def forward(
        self, value: float, gradient: npt.ArrayLike | None = None
    ) -> tuple[float, FloatArray | None]:
        """Transform a response and (optionally) its gradient."""
        y = float(np.sqrt(max(value, 0.0) + self.offset))
        if gradient is None:
            return y, None
        return y, np.asarray(gradient, dtype=np.float64) / (2.0 * y)

    def inverse_derivative(self, y: npt.ArrayLike) -> FloatArray:
        """dr/dy = 2 max(y, 0) of the inverse map."""
        return np.asarray(2.0 * np.maximum(np.asarray(y, dtype=np.float64), 0.0))

    def weights(self, gp: Any, utility: npt.ArrayLike) -> FloatArray:
        """Utility weights (dr/dy)² at the GP's posterior mean y(u), for the design.

        With them, the design's expected trace reduction targets the (linearised)
        posterior variance of the response r rather than of y (delta method):
        Var r(u) ≈ (dr/dy)² Var y(u).
        """
        mean = gp.predict(np.asarray(utility, dtype=np.float64))
        return np.asarray(self.inverse_derivative(mean) ** 2, dtype=np.float64)

    def inverse(self, y: npt.ArrayLike) -> FloatArray:
        """Map transformed predictions back to the response scale."""
        arr = np.asarray(y, dtype=np.float64)
        return np.asarray(np.maximum(arr, 0.0) ** 2 - self.offset, dtype=np.float64)
