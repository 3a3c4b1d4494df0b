"""Array back ends for the oracle formulas: one formula, evaluated in numpy or in torch.

Each oracle model writes its densities once, against the small set of operations
below; :data:`NUMPY` evaluates them in float64 numpy (scipy special functions),
:func:`torch_ops` in float64 torch, differentiable in the parameters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import special

__all__ = ["NUMPY", "ArrayOps", "NumpyOps", "TorchOps", "torch_ops"]

LOG_2PI = math.log(2.0 * math.pi)


class ArrayOps:
    """Operations an oracle formula may use; values are numpy arrays or torch tensors."""

    is_torch: bool = False

    def log(self, a: Any) -> Any:
        """Return the natural logarithm."""
        raise NotImplementedError

    def log1p(self, a: Any) -> Any:
        """Return ln(1 + a)."""
        raise NotImplementedError

    def exp(self, a: Any) -> Any:
        """Return the exponential."""
        raise NotImplementedError

    def ndtr(self, a: Any) -> Any:
        """Return the standard normal CDF Φ(a)."""
        raise NotImplementedError

    def log_ndtr(self, a: Any) -> Any:
        """Return ln Φ(a)."""
        raise NotImplementedError

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        """Return a where cond holds, else b."""
        raise NotImplementedError

    def stack(self, arrays: Sequence[Any]) -> Any:
        """Stack equally shaped arrays along a new first axis."""
        raise NotImplementedError

    def scalar(self, value: Any, like: Any = None) -> Any:
        """Return a float64 scalar (a 0-d tensor in torch, on ``like``'s device)."""
        raise NotImplementedError

    def normal_logpdf(self, x: Any, mean: Any, sigma: Any) -> Any:
        """Return ln N(x | mean, sigma²)."""
        z = (x - mean) / sigma
        return -0.5 * z * z - self.log(sigma) - 0.5 * LOG_2PI

    def gamma_logpdf(self, x: Any, shape: float, scale: Any) -> Any:
        """Return ln Gamma(x | shape, scale) = (k-1) ln x - x/θ - ln Γ(k) - k ln θ, x > 0."""
        return (
            (shape - 1.0) * self.log(x) - x / scale - math.lgamma(shape) - shape * self.log(scale)
        )

    def log_weighted_sum_exp(self, log_terms: Sequence[Any], coefficients: Sequence[Any]) -> Any:
        """Return ln Σ_p c_p exp(l_p) per event, stably (c_p ≥ 0 scalars, l_p arrays)."""
        stacked = self.stack(log_terms)
        top = stacked.max(0)
        if self.is_torch:
            top = top.values.detach()
        total = sum(
            c * self.exp(term - top) for c, term in zip(coefficients, log_terms, strict=True)
        )
        return self.log(total) + top


class NumpyOps(ArrayOps):
    """Numpy (float64) implementation of :class:`ArrayOps`."""

    def log(self, a: Any) -> Any:
        """Return the natural logarithm."""
        return np.log(a)

    def log1p(self, a: Any) -> Any:
        """Return ln(1 + a)."""
        return np.log1p(a)

    def exp(self, a: Any) -> Any:
        """Return the exponential."""
        return np.exp(a)

    def ndtr(self, a: Any) -> Any:
        """Return the standard normal CDF Φ(a)."""
        return special.ndtr(a)

    def log_ndtr(self, a: Any) -> Any:
        """Return ln Φ(a)."""
        return special.log_ndtr(a)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        """Return a where cond holds, else b."""
        return np.where(cond, a, b)

    def stack(self, arrays: Sequence[Any]) -> Any:
        """Stack equally shaped arrays along a new first axis."""
        return np.stack([np.broadcast_to(a, np.shape(arrays[0])) for a in arrays])

    def scalar(self, value: Any, like: Any = None) -> Any:
        """Return a float64 scalar."""
        return np.float64(value)


class TorchOps(ArrayOps):
    """Torch (float64, differentiable) implementation of :class:`ArrayOps`."""

    is_torch = True

    def __init__(self) -> None:
        import torch  # deferred: torch costs ~1 s to import; NUMPY never needs it

        self._torch = torch

    def log(self, a: Any) -> Any:
        """Return the natural logarithm."""
        return self._torch.log(self._t(a))

    def log1p(self, a: Any) -> Any:
        """Return ln(1 + a)."""
        return self._torch.log1p(self._t(a))

    def exp(self, a: Any) -> Any:
        """Return the exponential."""
        return self._torch.exp(self._t(a))

    def ndtr(self, a: Any) -> Any:
        """Return the standard normal CDF Φ(a)."""
        return self._torch.special.ndtr(self._t(a))

    def log_ndtr(self, a: Any) -> Any:
        """Return ln Φ(a)."""
        return self._torch.special.log_ndtr(self._t(a))

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        """Return a where cond holds, else b."""
        return self._torch.where(cond, a, b)

    def _t(self, a: Any) -> Any:
        """Return a as a float64 tensor (python numbers become 0-d tensors)."""
        if isinstance(a, self._torch.Tensor):
            return a
        return self._torch.tensor(a, dtype=self._torch.float64)

    def stack(self, arrays: Sequence[Any]) -> Any:
        """Stack equally shaped arrays along a new first axis."""
        shape = arrays[0].shape
        return self._torch.stack([a.expand(shape) for a in arrays])

    def scalar(self, value: Any, like: Any = None) -> Any:
        """Return a 0-d float64 tensor (kept as is when already a tensor)."""
        torch = self._torch
        if isinstance(value, torch.Tensor):
            return value.to(torch.float64)
        device = like.device if isinstance(like, torch.Tensor) else None
        return torch.tensor(float(value), dtype=torch.float64, device=device)


NUMPY = NumpyOps()


def torch_ops() -> TorchOps:
    """Return a :class:`TorchOps` (imports torch on first use; cheap afterwards)."""
    return TorchOps()
