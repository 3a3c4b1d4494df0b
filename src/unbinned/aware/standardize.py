"""A fixed standardising input layer for the aware networks.

:class:`Standardize` maps network inputs to (x - mean) / scale with the mean and
scale stored as buffers, so that they are saved with the network's state.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from unbinned.exceptions import ConfigError

__all__ = ["Standardize"]


class Standardize(nn.Module):
    """A fixed input layer (x - mean) / scale (buffers, saved with the network).

    Parameters
    ----------
    mean, scale
        Per-input mean and positive scale, shape (d,).
    """

    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(self, mean: npt.ArrayLike, scale: npt.ArrayLike) -> None:
        super().__init__()
        m = torch.as_tensor(np.asarray(mean, dtype=np.float32))
        s = torch.as_tensor(np.asarray(scale, dtype=np.float32))
        if m.shape != s.shape or m.dim() != 1:
            raise ConfigError(f"mean {tuple(m.shape)} and scale {tuple(s.shape)} must be (d,)")
        if not bool(torch.all(s > 0)):
            raise ConfigError("every scale must be positive")
        self.register_buffer("mean", m)
        self.register_buffer("scale", s)

    @classmethod
    def fit(cls, x: npt.ArrayLike) -> Standardize:
        """Mean and standard deviation of the columns of x (N, d)."""
        arr = np.asarray(x, dtype=np.float64)
        sd = arr.std(axis=0)
        return cls(arr.mean(axis=0), np.where(sd > 0, sd, 1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(x - mean) / scale."""
        return (x - self.mean.to(x.dtype)) / self.scale.to(x.dtype)
