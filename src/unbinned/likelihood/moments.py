r"""A nominal integration sample compressed into its moments (for the normalised likelihood).

The normalised unbinned likelihood (``UnbinnedRegion(normalised=True)``) needs, of
the integration sample, only the per-process sums

.. math:: I_p(φ) = \sum_j v_{jp}\, e^{Δ_{jp}\cdot φ},\qquad v_{jp} = w_j c_p(x_j),

and their first and second derivatives in φ.  Its Monte-Carlo statistics must far
exceed the data's (the relative bias of μ̂ from the sample's fluctuations is of
order √(N_data/N_MC) standard deviations), so the sample is large, and passing over
it at every evaluation would dominate the fit.  Expanding the exponential to fourth
order,

.. math:: I_p(φ) ≈ m_0 + m_1\cdot φ + \tfrac12 m_2[φ,φ] + \tfrac16 m_3[φ,φ,φ]
          + \tfrac1{24} m_4[φ,φ,φ,φ],\qquad m_k = \sum_j v_{jp} Δ_{jp}^{\otimes k},

costs O(M⁴) per evaluation whatever the sample size, with derivatives exact for the
polynomial.  The truncation error is ≈ (Δ·φ)⁵/120 per event; :func:`compress`
measures it on the sample itself at given test points (e.g. the training design)
and reports the worst relative error of I_p, so the approximation is checked, not
assumed.  The moments are accumulated chunk by chunk: the sample need never be in
memory at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import torch

from unbinned.exceptions import DataError
from unbinned.likelihood._events import MonomialDerivatives, sums_to_nu
from unbinned.likelihood.tensors import EventTensors

__all__ = ["IntegrationMoments", "MomentAccumulator", "MomentSum", "series"]

FloatArray = npt.NDArray[np.float64]
_DTYPE = torch.float64


@dataclass(frozen=True, eq=False)
class IntegrationMoments:
    """Moments m_0..m_4 of Δ_p per process, weighted by w_j c_p(x_j) (module docstring).

    Attributes
    ----------
    m0, m1, m2, m3, m4
        Shapes (P,), (P, M), (P, M, M), (P, M, M, M), (P, M, M, M, M).
    n_events
        Events accumulated.
    max_rel_error
        Worst relative truncation error of I_p measured at the test points (NaN if
        none were given).
    sample
        An optional (sub)sample of the events, for Asimov datasets and plots.
    """

    m0: FloatArray
    m1: FloatArray
    m2: FloatArray
    m3: FloatArray
    m4: FloatArray
    n_events: int
    max_rel_error: float = float("nan")
    sample: EventTensors | None = field(default=None, repr=False)

    @property
    def n_processes(self) -> int:
        """Number of processes P."""
        return int(self.m0.shape[0])

    @property
    def n_monomials(self) -> int:
        """Number of monomials M."""
        return int(self.m1.shape[1])

    def torch(self) -> tuple[torch.Tensor, ...]:
        """The moments as float64 tensors."""
        return tuple(torch.as_tensor(np.ascontiguousarray(m), dtype=_DTYPE)
                     for m in (self.m0, self.m1, self.m2, self.m3, self.m4))  # fmt: skip


def series(
    m: tuple[torch.Tensor, ...], phi: torch.Tensor, order: int
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """The fourth-order series of I_p(φ), its gradient and Hessian (differentiable)."""
    m0, m1, m2, m3, m4 = m
    a4 = torch.einsum("pabcd,d->pabc", m4, phi)  # m4[φ]
    b3 = torch.einsum("pabc,c->pab", m3, phi)
    b4 = torch.einsum("pabc,c->pab", a4, phi)  # m4[φ,φ]
    hess = m2 + b3 + b4 / 2.0  # ∇²I = m2 + m3[φ] + ½ m4[φ,φ]
    c2 = torch.einsum("pab,b->pa", m2, phi)
    c3 = torch.einsum("pab,b->pa", b3, phi)
    c4 = torch.einsum("pab,b->pa", b4, phi)
    grad = m1 + c2 + c3 / 2.0 + c4 / 6.0
    value = m0 + m1 @ phi + (c2 @ phi) / 2.0 + (c3 @ phi) / 6.0 + (c4 @ phi) / 24.0
    return value, grad if order >= 1 else None, hess if order >= 2 else None


class MomentSum:
    """The :class:`~unbinned.likelihood._events.EventSum` interface over moments."""

    def __init__(self, moments: IntegrationMoments) -> None:
        self.moments = moments
        self.tensors = moments.torch()
        self.p = moments.n_processes

    def process_sums(
        self, md: MonomialDerivatives, order: int
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """I_p, ∂I_p/∂ν (P, d), ∂²I_p/∂ν² (P, d, d) at md.phi (the series, then the chain rule)."""
        return sums_to_nu(*series(self.tensors, md.phi, order), md)


class MomentAccumulator:
    """Accumulate :class:`IntegrationMoments` from chunks of per-event tensors.

    Examples
    --------
    >>> acc = MomentAccumulator()                    # doctest: +SKIP
    >>> for chunk in chunks: acc.add(chunk)          # doctest: +SKIP
    >>> moments = acc.result(test_phis)              # doctest: +SKIP
    """

    def __init__(self) -> None:
        self._m: list[FloatArray] | None = None
        self.n_events = 0
        self._checks: list[tuple[FloatArray, FloatArray]] = []
        self._test: FloatArray | None = None
        self._sample: list[EventTensors] = []

    def set_test_points(self, phis: Iterable[npt.ArrayLike]) -> None:
        """Monomial vectors φ at which the truncation error is measured (before ``add``)."""
        self._test = np.atleast_2d(np.asarray(list(phis), dtype=np.float64))

    def add(self, tensors: EventTensors, keep: float = 0.0, seed: int = 0) -> None:
        """Add the events of ``tensors`` (with response coefficients).

        ``keep``: fraction of the events kept as the ``sample`` (for Asimov datasets).
        """
        if tensors.delta is None:
            raise DataError("moments need per-event response coefficients (delta)")
        d = np.asarray(tensors.delta, dtype=np.float64)  # (N, P, M)
        n, p, m = d.shape
        v = np.asarray(tensors.fractions, np.float64) * np.asarray(tensors.weights)[:, None]
        if self._m is None:
            self._m = [np.zeros((p,) + (m,) * k) for k in range(5)]
            if self._test is not None:
                self._checks = [(phi, np.zeros(p)) for phi in self._test]
        mom = self._m
        mom[0] += v.sum(0)
        for q in range(p):
            dq, vq = d[:, q, :], v[:, q]
            mom[1][q] += vq @ dq
            mom[2][q] += (dq * vq[:, None]).T @ dq
            pairs = (dq[:, :, None] * dq[:, None, :]).reshape(n, m * m)
            mom[3][q] += ((pairs * vq[:, None]).T @ dq).reshape(m, m, m)
            mom[4][q] += ((pairs * vq[:, None]).T @ pairs).reshape(m, m, m, m)
        for phi, exact in self._checks:
            exact += (v * np.exp(d @ phi)).sum(0)
        self.n_events += n
        if keep > 0:
            rng = np.random.default_rng([seed, self.n_events])
            sel = rng.random(n) < keep
            self._sample.append(
                EventTensors(tensors.fractions[sel], tensors.weights[sel] / keep, d[sel])
            )

    def result(self) -> IntegrationMoments:
        """The accumulated moments, with the measured truncation error."""
        if self._m is None:
            raise DataError("no events were added")
        m = self._m
        worst = float("nan")
        if self._checks:
            t = tuple(torch.as_tensor(x) for x in m)
            errs = []
            for phi, exact in self._checks:
                approx = series(t, torch.as_tensor(phi), 0)[0].numpy()
                ok = exact != 0
                errs.append(float(np.max(np.abs(approx[ok] / exact[ok] - 1.0), initial=0.0)))
            worst = max(errs)
        sample = None
        if self._sample:
            s = self._sample
            sample = EventTensors(
                np.concatenate([x.fractions for x in s]),
                np.concatenate([x.weights for x in s]),
                np.concatenate([np.asarray(x.delta) for x in s]),
            )
        return IntegrationMoments(
            m[0].copy(), m[1].copy(), m[2].copy(), m[3].copy(), m[4].copy(),
            n_events=self.n_events, max_rel_error=worst, sample=sample,
        )  # fmt: skip
