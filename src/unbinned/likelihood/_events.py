r"""Closed-form value, gradient and Hessian of the per-event sums of q(θ).

The event sums are the only part of q whose cost grows with the number of
events, so they are differentiated by hand in the *reduced coordinates*
z = (F_1..F_P, ν_1..ν_d): the effective rate of each process
F_p = f_p(θ) Y_p(ν) and the standardised shape nuisances.  With
e_ip = exp(Δ_ip·φ(ν)), a_ip = c_ip e_ip, g_ipa = Δ_ip·∂_aφ and
h_ipab = Δ_ip·∂_a∂_bφ (φ is quadratic, so ∂²φ is constant):

* data term D = -Σ_i w_i ln r_i with r_i = Σ_p F_p a_ip:
  ∂D/∂F_p = -Σ_i ρ_i a_ip,  ∂D/∂ν_a = -Σ_ip ρ_i F_p a_ip g_ipa  (ρ_i = w_i/r_i),
  ∂²D = Σ_i (w_i/r_i²) J_i J_iᵀ − Σ_i ρ_i ∂²r_i with J_i = ∂r_i/∂z,
  ∂²r_i/∂F_p∂ν_a = a_ip g_ipa,  ∂²r_i/∂ν_a∂ν_b = Σ_p F_p a_ip (g_ipa g_ipb + h_ipab);
* integration term E = Σ_p F_p Σ_j a_jp (with a_jp = w_j c_jp e_jp), the expected
  yield of the learned density over a nominal simulation sample.

Both are returned as (value, ∇_z, ∇²_z); the likelihood maps them onto θ with
the chain rule through the small, autodiff-differentiated map θ → z.  This is
exact (no finite differences) and costs a few passes over the (N, P, M) tensor,
where autodiff through the whole graph costs many more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["EventSum", "MonomialDerivatives"]

_DTYPE = torch.float64


@dataclass(frozen=True)
class MonomialDerivatives:
    """φ(ν), its Jacobian J (M, d) and its (constant) second derivatives K (M, d, d)."""

    phi: torch.Tensor
    jac: torch.Tensor
    second: torch.Tensor


class EventSum:
    """Per-event tensors of one set of events with closed-form derivatives in z = (F, ν).

    Parameters
    ----------
    coeff
        (N, P): c_ip (data) or w_j c_jp (integration sample).
    delta
        (N, P, M) response coefficients, or None without shape nuisances.
    weights
        (N,) event weights for the data term; None for an integration term.
    """

    def __init__(
        self, coeff: torch.Tensor, delta: torch.Tensor | None, weights: torch.Tensor | None
    ) -> None:
        self.coeff = coeff
        self.delta = delta
        self.weights = weights
        self.n, self.p = coeff.shape
        self.d = 0

    def _a(self, md: MonomialDerivatives | None) -> torch.Tensor:
        if self.delta is None or md is None:
            return self.coeff
        return self.coeff * torch.exp(self.delta @ md.phi)

    def evaluate(
        self, f: torch.Tensor, md: MonomialDerivatives | None, order: int
    ) -> tuple[float, np.ndarray | None, np.ndarray | None]:
        """Value and (for order ≥ 1, 2) gradient and Hessian in z = (F, ν)."""
        if self.weights is None:
            return self._integration(f, md, order)
        return self._data(f, md, order)

    # --------------------------------------------------------------- data term
    def _data(
        self, f: torch.Tensor, md: MonomialDerivatives | None, order: int
    ) -> tuple[float, np.ndarray | None, np.ndarray | None]:
        w = self.weights
        assert w is not None
        if self.n == 0:
            d = 0 if md is None else md.jac.shape[1]
            k = self.p + d
            return 0.0, np.zeros(k), np.zeros((k, k))
        a = self._a(md)
        r = a @ f
        value = float(-(w * torch.log(r)).sum())
        if order == 0:
            return value, None, None
        rho = w / r
        grad_f = -(rho @ a)
        if md is None or self.delta is None:
            grad = grad_f
            if order == 1:
                return value, grad.numpy(), None
            hess = (a * (w / r**2)[:, None]).T @ a
            return value, grad.numpy(), hess.numpy()
        b = a * f  # F_p a_ip
        # V_m = Σ_ip ρ_i b_ip Δ_ipm ; ∂D/∂ν = -Jᵀ V
        v = torch.einsum("ip,ipm->m", rho[:, None] * b, self.delta)
        grad = torch.cat([grad_f, -(md.jac.T @ v)])
        if order == 1:
            return value, grad.numpy(), None
        g = self.delta @ md.jac  # (N, P, d)
        dr_dnu = torch.einsum("ip,ipa->ia", b, g)
        jz = torch.cat([a, dr_dnu], dim=1)  # (N, P + d)
        hess = (jz * (w / r**2)[:, None]).T @ jz
        pd = self.p
        # - Σ_i ρ_i ∂²r_i
        cross = torch.einsum("ip,ipa->pa", rho[:, None] * a, g)
        rb = rho[:, None] * b
        nunu = torch.einsum("ip,ipa,ipb->ab", rb, g, g) + torch.einsum("m,mab->ab", v, md.second)
        hess[:pd, pd:] -= cross
        hess[pd:, :pd] -= cross.T
        hess[pd:, pd:] -= nunu
        return value, grad.numpy(), hess.numpy()

    # --------------------------------------------------------------- integration term
    def _integration(
        self, f: torch.Tensor, md: MonomialDerivatives | None, order: int
    ) -> tuple[float, np.ndarray | None, np.ndarray | None]:
        a = self._a(md)
        s = a.sum(0)  # (P,)
        value = float(s @ f)
        if order == 0:
            return value, None, None
        if md is None or self.delta is None:
            k = self.p
            return value, s.numpy(), np.zeros((k, k)) if order == 2 else None
        b = a * f
        v = torch.einsum("ip,ipm->m", b, self.delta)
        grad = torch.cat([s, md.jac.T @ v])
        if order == 1:
            return value, grad.numpy(), None
        g = self.delta @ md.jac
        pd = self.p
        d = md.jac.shape[1]
        hess = torch.zeros((pd + d, pd + d), dtype=_DTYPE)
        cross = torch.einsum("ip,ipa->pa", a, g)
        hess[:pd, pd:] = cross
        hess[pd:, :pd] = cross.T
        hess[pd:, pd:] = torch.einsum("ip,ipa,ipb->ab", b, g, g) + torch.einsum(
            "m,mab->ab", v, md.second
        )
        return value, grad.numpy(), hess.numpy()
