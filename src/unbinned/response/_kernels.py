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

A sum of components, k = Σ_c s_c² h(q_c) with q_c = Σ_a m_ca (x_a - x'_a)²/ℓ_a² and 0/1
masks m_ca that select the dimensions of each component (an additive or ANOVA kernel:
Duvenaud, Nickisch, Rasmussen, "Additive Gaussian processes", NIPS 2011), has the sum
of the components' blocks as its blocks, with 1/ℓ_a² replaced by m_ca/ℓ_a² in each;
they are computed for all components at once.

Optionally the kernel acts on linear combinations of the inputs, z = P x with a fixed
(D, d) matrix P (e.g. the inputs and their pairwise differences, see
:func:`pair_difference_projection`): k(x, x') = k_z(P x, P x'), with D length scales
and (C, D) masks.  By the chain rule the gradient blocks are those of k_z multiplied by
Pᵀ, ∂k/∂x = Pᵀ ∂k_z/∂z and ∂²k/∂x∂x'ᵀ = Pᵀ (∂²k_z/∂z∂z'ᵀ) P: a component then has the
metric Pᵀ diag(m_c/ℓ²) P, which is not diagonal, so it can follow a ridge along a
diagonal direction of x (the ARD kernel with a low-rank-plus-diagonal metric,
Rasmussen & Williams §5.1, eq. 5.2).

An observation block of a point is its value, optionally followed by its d partial
derivatives; blocks are laid out point-major: ``[f(x_1), ∂_1 f(x_1), ..., ∂_d f(x_1),
f(x_2), ...]`` with gradients, ``[f(x_1), f(x_2), ...]`` without.  All functions are
plain torch operations, differentiable in the inputs and the hyperparameters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch

__all__ = [
    "KERNELS",
    "KernelName",
    "component_masks",
    "joint_kernel",
    "pair_difference_projection",
    "prior_block_covariance",
    "prior_block_diagonal",
]

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


def _component_inv_l2(lengthscales: torch.Tensor, masks: torch.Tensor | None) -> torch.Tensor:
    """1/ℓ² per component, shape (C, d): the masks (C, d) zero the unused dimensions."""
    inv_l2 = 1.0 / lengthscales**2
    if masks is None:
        return inv_l2.reshape(1, -1)
    return masks * inv_l2


def joint_kernel(
    kernel: str,
    x1: torch.Tensor,
    x2: torch.Tensor,
    lengthscales: torch.Tensor,
    outputscale: torch.Tensor,
    *,
    grad1: bool,
    grad2: bool,
    masks: torch.Tensor | None = None,
    projection: torch.Tensor | None = None,
) -> torch.Tensor:
    """Return the joint covariance of (value[, gradient]) blocks at ``x1`` and ``x2``.

    Parameters
    ----------
    kernel
        ``"rbf"`` or ``"matern52"``.
    x1, x2
        Points, shapes (n1, d) and (n2, d).
    lengthscales
        ℓ, shape (d,), shared by all components.
    outputscale
        s², a scalar tensor (the prior variance of f); with ``masks``, one s_c² per
        component, shape (C,).
    grad1, grad2
        Whether the blocks at ``x1`` (rows) and ``x2`` (columns) include the gradient.
    masks
        Optional 0/1 masks of shape (C, d) that make the kernel a sum of components,
        k = Σ_c s_c² h(q_c) with q_c = Σ_{a: mask_ca = 1} (x_a - x'_a)²/ℓ_a² (an additive
        or ANOVA kernel, see :func:`component_masks`); None: one component on all
        dimensions.  Derivatives are linear, so every block is the sum of the
        components' blocks.
    projection
        Optional fixed matrix P, shape (D, d): the kernel acts on z = P x, with D
        length scales and masks of shape (C, D); gradients stay with respect to x
        (chain rule).  None: z = x.

    Returns
    -------
    torch.Tensor
        Shape (n1·b1, n2·b2) with b = 1 + d with gradients and 1 without, point-major.
    """
    n1, d = x1.shape
    n2 = x2.shape[0]
    diff = _differences(x1, x2, lengthscales, projection)
    inv_l2 = _component_inv_l2(lengthscales, masks)  # (C, D)
    scales = outputscale.reshape(-1)
    if scales.shape[0] != inv_l2.shape[0]:
        raise ValueError(
            f"{scales.shape[0]} output scales for {inv_l2.shape[0]} kernel components; pass "
            "one per mask row"
        )
    # q_c = Σ_a Δ_a²/ℓ_ca² for all components at once, shape (n1, n2, C)
    q = (diff * diff) @ inv_l2.T
    h, h1, h2 = _profile(kernel, q)
    k = h @ scales
    if not grad1 and not grad2:
        return k
    # ∂k/∂z_a = 2 Δ_a Σ_c s_c² h'_c /ℓ_ca²  (then ∂k/∂x = Pᵀ ∂k/∂z)
    a1 = (h1 * scales) @ inv_l2  # (n1, n2, D)
    g = 2.0 * a1 * diff
    if projection is not None:
        g = g @ projection
    b1 = 1 + d if grad1 else 1
    b2 = 1 + d if grad2 else 1
    out = k.new_empty(n1, b1, n2, b2)
    out[:, 0, :, 0] = k
    if grad2:
        out[:, 0, :, 1:] = -g
    if grad1:
        out[:, 1:, :, 0] = g.permute(0, 2, 1)
    if grad1 and grad2:
        hess = _hessian(diff, a1, h2, scales, inv_l2, projection, d)
        out[:, 1:, :, 1:] = hess.permute(0, 2, 1, 3)
    return out.reshape(n1 * b1, n2 * b2)


def _differences(
    x1: torch.Tensor, x2: torch.Tensor, lengthscales: torch.Tensor, projection: torch.Tensor | None
) -> torch.Tensor:
    """Δ = x1_i - x2_j, shape (n1, n2, d), or Δz = P Δ, shape (n1, n2, D)."""
    d = x1.shape[1]
    diff = x1[:, None, :] - x2[None, :, :]
    if projection is not None:
        if projection.shape[1] != d or projection.shape[0] != lengthscales.shape[0]:
            raise ValueError(
                f"projection of shape {tuple(projection.shape)} for {d} inputs and "
                f"{lengthscales.shape[0]} length scales; expected ({lengthscales.shape[0]}, {d})"
            )
        diff = diff @ projection.T  # Δz, (n1, n2, D)
    return diff


def _hessian(
    diff: torch.Tensor,
    a1: torch.Tensor,
    h2: torch.Tensor,
    scales: torch.Tensor,
    inv_l2: torch.Tensor,
    projection: torch.Tensor | None,
    d: int,
) -> torch.Tensor:
    """∂²k/∂x_a∂x'_b of :func:`joint_kernel`, shape (n1, n2, d, d)."""
    n1, n2 = diff.shape[:2]
    if projection is None:
        # ∂²k/∂x_a∂x'_b = -[2 δ_ab Σ_c s_c² h'_c/ℓ_ca² + 4 Δ_a Δ_b Σ_c s_c² h''_c/(ℓ_ca² ℓ_cb²)]
        outer = (inv_l2[:, :, None] * inv_l2[:, None, :]).reshape(-1, d * d)
        a2 = ((h2 * scales) @ outer).reshape(n1, n2, d, d)
        return -(2.0 * torch.diag_embed(a1) + 4.0 * (diff[..., :, None] * diff[..., None, :]) * a2)
    # in x directly: -[2 Pᵀ diag(Σ_c s_c² h'_c m_c/ℓ²) P + 4 Σ_c s_c² h''_c v_c v_cᵀ],
    # v_c = Pᵀ (m_c/ℓ² ⊙ Δz), the gradient of q_c/2 with respect to x
    pp = (projection[:, :, None] * projection[:, None, :]).reshape(-1, d * d)
    v = (diff[:, :, None, :] * inv_l2) @ projection  # (n1, n2, C, d)
    return -(
        2.0 * (a1 @ pp).reshape(n1, n2, d, d)
        + 4.0 * torch.einsum("ijc,ijca,ijcb->ijab", h2 * scales, v, v)
    )


def prior_block_diagonal(
    kernel: str,
    lengthscales: torch.Tensor,
    outputscale: torch.Tensor,
    *,
    with_gradients: bool,
    masks: torch.Tensor | None = None,
) -> torch.Tensor:
    """Prior variances of one observation block: (Σ s_c², -2 h'(0) Σ_c s_c² m_ca/ℓ_a², ...).

    At a single point the value and the gradient are independent; ``masks`` as in
    :func:`joint_kernel`.  Shape (b,).
    """
    scales = outputscale.reshape(-1)
    if not with_gradients:
        return scales.sum().reshape(1)
    _, h1, _ = _profile(kernel, torch.zeros((), dtype=lengthscales.dtype))
    inv_l2 = _component_inv_l2(lengthscales, masks)
    grad_var = -2.0 * h1 * (scales[:, None] * inv_l2).sum(0)
    return torch.cat([scales.sum().reshape(1), grad_var])


def prior_block_covariance(
    kernel: str,
    lengthscales: torch.Tensor,
    outputscale: torch.Tensor,
    *,
    with_gradients: bool,
    masks: torch.Tensor | None = None,
    projection: torch.Tensor | None = None,
) -> torch.Tensor:
    """Prior covariance of one observation block, shape (b, b).

    The value is independent of the gradient at the same point; the gradient has the
    covariance -2 h'(0) Σ_c s_c² Pᵀ diag(m_c/ℓ²) P, diagonal without ``projection``
    (then equal to :func:`prior_block_diagonal`).  Arguments as in :func:`joint_kernel`.
    """
    if projection is None:
        return torch.diag(
            prior_block_diagonal(
                kernel, lengthscales, outputscale, with_gradients=with_gradients, masks=masks
            )
        )
    scales = outputscale.reshape(-1)
    if not with_gradients:
        return scales.sum().reshape(1, 1)
    _, h1, _ = _profile(kernel, torch.zeros((), dtype=lengthscales.dtype))
    inv_l2 = _component_inv_l2(lengthscales, masks)
    metric = projection.T @ torch.diag((scales[:, None] * inv_l2).sum(0)) @ projection
    d = projection.shape[1]
    out = torch.zeros(1 + d, 1 + d, dtype=lengthscales.dtype)
    out[0, 0] = scales.sum()
    out[1:, 1:] = -2.0 * h1 * metric
    return out


def pair_difference_projection(d: int) -> torch.Tensor:
    """P = [I_d; (e_a - e_b)/√2 for a < b], shape (d + d(d-1)/2, d).

    The kernel coordinates are then the inputs and their pairwise differences; a
    component on inputs S also uses the differences of the pairs within S (see
    :func:`component_masks`), so that its metric can stretch along the diagonal
    x_a = x_b, the direction along which a response that depends on the ratio of two
    scale factors (here: differences of ln ν) stays constant.
    """
    rows = [torch.eye(d, dtype=torch.float64)]
    for a in range(d):
        for b in range(a + 1, d):
            row = torch.zeros(1, d, dtype=torch.float64)
            row[0, a], row[0, b] = 1.0 / math.sqrt(2.0), -1.0 / math.sqrt(2.0)
            rows.append(row)
    return torch.cat(rows, dim=0)


def component_masks(
    components: Sequence[Sequence[int]], d: int, *, pair_differences: bool = False
) -> torch.Tensor:
    """0/1 masks of kernel components given as tuples of dimensions.

    Shape (C, d); with ``pair_differences``, shape (C, d + d(d-1)/2), the columns of
    :func:`pair_difference_projection`, a component also using the difference of every
    pair of its dimensions.
    """
    pairs = [(a, b) for a in range(d) for b in range(a + 1, d)] if pair_differences else []
    masks = torch.zeros(len(components), d + len(pairs), dtype=torch.float64)
    for c, dims in enumerate(components):
        masks[c, list(dims)] = 1.0
        for j, (a, b) in enumerate(pairs):
            if a in dims and b in dims:
                masks[c, d + j] = 1.0
    return masks
