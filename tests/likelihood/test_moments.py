"""Integration moments: accumulation, the fourth-order series and its error check."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from unbinned.exceptions import DataError
from unbinned.likelihood._events import MonomialDerivatives
from unbinned.likelihood.moments import IntegrationMoments, MomentAccumulator, MomentSum, series
from unbinned.likelihood.tensors import EventTensors

RNG = np.random.default_rng(7)
N, P, M = 5, 2, 2
C = RNG.uniform(0.1, 1.0, (N, P))
W = RNG.uniform(0.5, 2.0, N)
D = RNG.normal(0.0, 0.2, (N, P, M))


def _direct() -> list[np.ndarray]:
    v = C * W[:, None]  # (N, P)
    return [
        v.sum(0),
        np.einsum("np,npa->pa", v, D),
        np.einsum("np,npa,npb->pab", v, D, D),
        np.einsum("np,npa,npb,npc->pabc", v, D, D, D),
        np.einsum("np,npa,npb,npc,npd->pabcd", v, D, D, D, D),
    ]


def _series_np(m: list[np.ndarray], phi: np.ndarray) -> np.ndarray:
    """Σ_k m_k[φ,…,φ]/k! written out."""
    out = m[0].copy()
    for k in range(1, 5):
        t = m[k]
        for _ in range(k):
            t = t @ phi
        out = out + t / math.factorial(k)
    return out


def test_accumulated_moments_equal_the_direct_sums_chunk_by_chunk():
    acc = MomentAccumulator()
    acc.add(EventTensors(C[:2], W[:2], D[:2]))
    acc.add(EventTensors(C[2:], W[2:], D[2:]))
    res = acc.result()
    assert isinstance(res, IntegrationMoments)
    assert (res.n_events, res.n_processes, res.n_monomials) == (N, P, M)
    for got, want in zip((res.m0, res.m1, res.m2, res.m3, res.m4), _direct(), strict=True):
        assert got == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert math.isnan(res.max_rel_error)
    assert res.sample is None
    assert all(t.dtype == torch.float64 for t in res.torch())


def test_series_value_gradient_and_hessian():
    m = _direct()
    phi = np.array([0.3, -0.2])
    tm = tuple(torch.as_tensor(x) for x in m)
    value, grad, hess = series(tm, torch.as_tensor(phi), 2)
    assert value.numpy() == pytest.approx(_series_np(m, phi), rel=1e-12)
    # the series approximates the exact I_p(φ) = Σ_j v_jp exp(Δ_jp·φ) to fifth order
    exact = (C * W[:, None] * np.exp(D @ phi)).sum(0)
    assert value.numpy() == pytest.approx(exact, rel=1e-4)
    t = torch.tensor(phi, requires_grad=True)
    jac = torch.autograd.functional.jacobian(lambda x: series(tm, x, 0)[0], t)
    hes = torch.stack(
        [
            torch.autograd.functional.hessian(lambda x, p=p: series(tm, x, 0)[0][p], t)
            for p in range(P)
        ]
    )
    assert grad is not None
    assert hess is not None
    assert grad.numpy() == pytest.approx(jac.numpy(), rel=1e-12, abs=1e-14)
    assert hess.numpy() == pytest.approx(hes.numpy(), rel=1e-12, abs=1e-14)
    assert series(tm, torch.as_tensor(phi), 0)[1:] == (None, None)


def test_truncation_error_is_measured_at_the_test_points():
    phis = np.array([[0.5, 0.5], [-1.0, 0.2]])
    acc = MomentAccumulator()
    acc.set_test_points(phis)
    acc.add(EventTensors(C, W, D))
    res = acc.result()
    m = _direct()
    worst = 0.0
    for phi in phis:
        exact = (C * W[:, None] * np.exp(D @ phi)).sum(0)
        worst = max(worst, float(np.max(np.abs(_series_np(m, phi) / exact - 1.0))))
    assert res.max_rel_error == pytest.approx(worst, rel=1e-6)


def test_kept_sample_and_moment_sum():
    acc = MomentAccumulator()
    acc.add(EventTensors(C, W, D), keep=1.0)
    res = acc.result()
    assert res.sample is not None
    assert res.sample.n_events == N
    assert res.sample.weights == pytest.approx(W)
    ms = MomentSum(res)
    phi = torch.tensor([0.1, 0.2], dtype=torch.float64)
    md = MonomialDerivatives(phi, torch.eye(M, dtype=torch.float64), torch.zeros(M, M, M))
    got = ms.process_sums(md, 1)
    want = series(res.torch(), phi, 1)
    assert torch.equal(got[0], want[0])
    assert ms.p == P


def test_errors():
    with pytest.raises(DataError, match="no events were added"):
        MomentAccumulator().result()
    with pytest.raises(DataError, match="need per-event response coefficients"):
        MomentAccumulator().add(EventTensors(C, W))
