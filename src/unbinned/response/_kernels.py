"""Stationary kernels (RBF, Matérn-5/2) with their first and second derivatives.

For a Gaussian process f with covariance k(x, x') = s² h(q),
q = Σ_a (x_a - x'_a)²/ℓ_a² and Δ = x - x', the value and the gradient of f are jointly
Gaussian, with

    cov(f(x),     f(x'))      = s² h
    cov(f(x),     ∂_b f(x'))  = ∂k/∂x'_b       = -2 s² h'(q) Δ_b/ℓ_b²
    cov(∂_a f(x), f(x'))      = ∂k/∂x_a        =  2 s² h'(q) Δ_a/ℓ_a²
    cov(∂_a f(x), ∂_b f(x'))  = ∂²k/∂x_a∂x'_b
                              = -s² [2 h'(q) δ_ab/ℓ_a² + 4 h''(q) Δ_a Δ_b/(ℓ_a² ℓ_b²)]

(Rasmussen & Williams, *Gaussian Processes for Machine Learning*, MIT Press 2006, §9.4;
Solak et al., "Derivative observations in Gaussian process models of dynamic systems",
NIPS 2003).  The profiles are

- RBF (squared exponential): h = exp(-q/2), h' = -h/2, h'' = h/4, so that
  cov(f, ∂_b f') = k r_b, cov(∂_a f, ∂_b f') = k (δ_ab/ℓ_a² - r_a r_b), r = Δ/ℓ²;
- Matérn-5/2 (r = √q): h = (1 + √5 r + 5q/3) e^{-√5 r}, h' = -(5/6)(1 + √5 r) e^{-√5 r},
  h'' = (25/12) e^{-√5 r}; twice mean-square differentiable, so gradients are valid
  observations.

An observation block of a point is its value, optionally followed by its d partial
derivatives; blocks are laid out point-major: ``[f(x_1), ∂_1 f(x_1), ..., ∂_d f(x_1),
f(x_2), ...]`` with gradients, ``[f(x_1), f(x_2), ...]`` without.  All functions are
plain torch operations, differentiable in the inputs and the hyperparameters.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

__all__ = ["KERNELS", "KernelName", "joint_kernel", "prior_block_diagonal"]

KernelName = Literal["rbf", "matern52"]
KERNELS: tuple[str, ...] = ("rbf", "matern52")
_SQRT5 = math.sqrt(5.0)


def _profile(kernel: str, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return h(q), h'(q), h''(q)."""
    if kernel == "rbf":
        e = torch.exp(-0.5 * q)
        return e, -0.5 * e, 0.25 * e
    if kernel == "matern52":
        r = torch.sqrt(q.clamp_min(1e-30))
        e = torch.exp(-_SQRT5 * r)
        return (
            (1.0 + _SQRT5 * r + (5.0 / 3.0) * q) * e,
            -(5.0 / 6.0) * (1.0 + _SQRT5 * r) * e,
            (25.0 / 12.0) * e,
        )
    raise ValueError(f"unknown kernel {kernel!r}; expected one of {KERNELS}")


def joint_kernel(
    kernel: str,
    x1: torch.Tensor,
    x2: torch.Tensor,
    lengthscales: torch.Tensor,
    outputscale: torch.Tensor,
    *,
    grad1: bool,
    grad2: bool,
) -> torch.Tensor:
    """Return the joint covariance of (value[, gradient]) blocks at ``x1`` and ``x2``.

    Parameters
    ----------
    kernel
        ``"rbf"`` or ``"matern52"``.
    x1, x2
        Points, shapes (n1, d) and (n2, d).
    lengthscales
        ℓ, shape (d,).
    outputscale
        s², a scalar tensor (the prior variance of f).
    grad1, grad2
        Whether the blocks at ``x1`` (rows) and ``x2`` (columns) include the gradient.

    Returns
    -------
    torch.Tensor
        Shape (n1·b1, n2·b2) with b = 1 + d with gradients and 1 without, point-major.
    """
    n1, d = x1.shape
    n2 = x2.shape[0]
    inv_l2 = 1.0 / lengthscales**2
    diff = x1[:, None, :] - x2[None, :, :]
    r = diff * inv_l2
    q = (diff * r).sum(-1)
    h, h1, h2 = _profile(kernel, q)
    k = outputscale * h
    if not grad1 and not grad2:
        return k
    b1 = 1 + d if grad1 else 1
    b2 = 1 + d if grad2 else 1
    out = k.new_empty(n1, b1, n2, b2)
    out[:, 0, :, 0] = k
    g = (2.0 * outputscale * h1)[..., None] * r  # ∂k/∂x_a, shape (n1, n2, d)
    if grad2:
        out[:, 0, :, 1:] = -g
    if grad1:
        out[:, 1:, :, 0] = g.permute(0, 2, 1)
    if grad1 and grad2:
        hess = -outputscale * (
            (2.0 * h1)[..., None, None] * torch.diag_embed(inv_l2.expand(n1, n2, d))
            + (4.0 * h2)[..., None, None] * (r[..., :, None] * r[..., None, :])
        )
        out[:, 1:, :, 1:] = hess.permute(0, 2, 1, 3)
    return out.reshape(n1 * b1, n2 * b2)


def prior_block_diagonal(
    kernel: str, lengthscales: torch.Tensor, outputscale: torch.Tensor, *, with_gradients: bool
) -> torch.Tensor:
    """Prior variances of one observation block: (s², -2 s² h'(0)/ℓ_a², ...), shape (b,).

    At a single point the value and the gradient are independent.
    """
    if not with_gradients:
        return outputscale.reshape(1)
    _, h1, _ = _profile(kernel, torch.zeros((), dtype=lengthscales.dtype))
    return torch.cat([outputscale.reshape(1), -2.0 * h1 * outputscale / lengthscales**2])
