r"""The simulator's random draws in bulk, as float32 arrays.

The simulator computes its kinematics in float32 (:data:`F32`; momenta in GeV are
far from its range limits and its relative precision, 6e-8, is far below any
resolution), so its draws are float32 too.  numpy's Gaussian and Poisson
samplers cost 10-25 ns per number here (a uniform about 2.5 ns); the ones below
are built from uniforms with vectorised float32 arithmetic:

* :func:`standard_normal`: Box–Muller, :math:`z_{1,2} = \sqrt{-2\ln(1-u_1)}\,
  (\cos 2\pi u_2, \sin 2\pi u_2)`, with :math:`u_1` in float64 so that the tail
  reaches 8.6σ (a float32 :math:`u_1` would stop at 5.8σ);
* :func:`capped_poisson`: :math:`\min(N, k)` for :math:`N \sim` Poisson(λ), by
  inverting its CDF at one uniform (exact for the capped law the simulator uses).

Every function takes the ``numpy.random.Generator`` of the stream it draws from.
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "F32",
    "F32Array",
    "capped_poisson",
    "normal",
    "random",
    "sign",
    "standard_normal",
    "uniform",
]

F32: Final = np.float32
"""The simulator's working float type."""

F32Array = npt.NDArray[np.float32]

_TWO_PI: Final = 2.0 * math.pi

Shape = int | tuple[int, ...]


def random(rng: np.random.Generator, size: Shape) -> F32Array:
    """Uniform numbers on [0, 1) (24 random bits each)."""
    return rng.random(size, dtype=F32)


def uniform(rng: np.random.Generator, low: float, high: float, size: Shape) -> F32Array:
    """Uniform numbers on [low, high): ``low + (high - low) u``."""
    u = rng.random(size, dtype=F32)
    u *= high - low
    u += low
    return u


def standard_normal(rng: np.random.Generator, size: Shape) -> F32Array:
    r"""Standard Gaussian numbers by the Box–Muller transform (module docstring).

    Both numbers of a pair are used: the first half of the output holds the
    cosines, the second half the sines (independent Gaussians).
    """
    n = math.prod(size) if isinstance(size, tuple) else int(size)
    m = (n + 1) // 2
    radius = rng.random(m)
    np.log1p(np.negative(radius, out=radius), out=radius)
    radius *= -2.0
    r32 = np.sqrt(radius).astype(F32)
    angle = rng.random(m, dtype=F32)
    angle *= _TWO_PI
    out = np.empty(2 * m, dtype=F32)
    np.cos(angle, out=out[:m])
    np.sin(angle, out=out[m:])
    out[:m] *= r32
    out[m:] *= r32
    return out[:n].reshape(size)


def normal(rng: np.random.Generator, loc: float, scale: float, size: Shape) -> F32Array:
    """Gaussian numbers of mean ``loc`` and width ``scale``."""
    z = standard_normal(rng, size)
    z *= scale
    if loc != 0.0:
        z += loc
    return z


def sign(rng: np.random.Generator, p_plus: float, size: int) -> F32Array:
    """+1 with probability ``p_plus``, else -1."""
    s = (rng.random(size, dtype=F32) >= p_plus).astype(F32)
    s *= -2.0
    s += 1.0
    return s


def capped_poisson(
    rng: np.random.Generator, lam: float | npt.NDArray[Any], cap: int, size: int
) -> npt.NDArray[np.intp]:
    r""":math:`\min(N, \mathrm{cap})`, :math:`N \sim \mathrm{Poisson}(\lambda)`, one uniform each.

    The count of :math:`k < \mathrm{cap}` with :math:`u \ge F(k)`,
    :math:`F(k) = e^{-\lambda}\sum_{j \le k} \lambda^j/j!`; ``lam`` a number or
    one mean per entry (``size`` entries).
    """
    u = rng.random(size, dtype=F32)
    lam32 = np.asarray(lam, dtype=F32)
    term = np.exp(-lam32)
    cdf = term.copy()
    count = np.zeros(size, dtype=np.intp)
    for k in range(1, cap + 1):
        count += u >= cdf
        if k < cap:
            term = term * lam32 / k
            cdf = cdf + term
    return count
