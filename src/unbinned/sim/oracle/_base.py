"""The oracle-model interface: exact densities, yields, samplers and the exact NLL.

An oracle model is a set of processes ``p`` (signal first) with closed-form
differential cross sections

    dσ_p(x | μ, ν) = n_p(μ, ν) f_p(x | ν),
    n_p(μ, ν) = n_p^0 · g_p(μ, ν) · Y_p(ν),

where ``f_p`` is the normalised density on the (ν-independent) support,
``n_p^0`` the nominal expected yield, ``g_p`` the analytic rate factor (μ for
the signal, normalisation nuisances for backgrounds; 1 at the nominal point) and
``Y_p(ν) = A_p(ν) / A_p(ν_0)`` the change of the inclusive yield caused by
shape nuisances (an acceptance A_p: the fraction of the generated events that
falls inside the support, e.g. a mass window, when an energy scale moves them).
The response that the surrogates learn is

    R_p(x | ν) = dσ_p(x | ν) / dσ_p(x | ν_0) (rate factors g_p left out)
               = Y_p(ν) · f_p(x | ν) / f_p(x | ν_0),

available exactly as :meth:`OracleModel.log_ratio` (and without ``Y_p`` as
:meth:`OracleModel.log_shape_ratio`).

**Same events, nominal and varied.** Every event is the image of a latent
vector ``u`` of independent Uniform(0, 1) numbers under a process-specific map
``x = T_p(u; ν)`` (inverse CDFs). Three exact ways to get varied simulation:

1. :meth:`OracleModel.vary` (fixed event count). ``u`` are the quantiles of
   f_p(·|ν) inside the support; :meth:`OracleModel.sample_process` keeps them in
   :attr:`OracleSample.latent` and ``vary`` maps the *same events* to another ν
   by quantile matching: an exact sample of the normalised f_p(·|ν'), events
   move smoothly and monotonically with scale and width nuisances (for a scale
   close to, but not exactly, x → k·x when the acceptance changes); a mixture
   fraction reassigns the events whose component variable lies between the old
   and new in-support fractions (exact, but a discontinuous coupling). The
   yield change Y_p(ν) is not in these samples: use :meth:`OracleModel.yield_ratio`.
2. :meth:`OracleModel.simulate_variations` (as a detector simulation does it):
   generator-level events mapped through each ν and then selected, weighted so
   that the summed weights estimate n_p^0 Y_p(ν); a scale is exactly x → k·x,
   events leave and enter the support, ``event_index`` pairs them.
3. :meth:`OracleModel.reweight`: exact weights exp(ln f_p(x|ν) - ln f_p(x|ν_0))
   on nominal events (valid for every nuisance, smooth in ν; the support does
   not depend on ν).

**Exact extended NLL** (:meth:`OracleModel.nll`, :meth:`OracleModel.nll_torch`):

    q(μ, ν) = -2 ln L = 2 [Σ_p n_p(μ, ν) - Σ_i w_i ln Σ_p n_p(μ, ν) f_p(x_i | ν)]
              + Σ_k ((ν_k - c_k) / σ_k)²

with per-event weights ``w_i`` (1 for real data) and Gaussian constraints
``N(c_k, σ_k)`` on the constrained nuisances; parameter-independent
constants (ln N_i!, Gaussian normalisations) are left out. With an Asimov sample
(:meth:`OracleModel.asimov`) its Hessian gives the expected Fisher information,
``I = H / 2`` (:meth:`OracleModel.fisher_information`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from unbinned.sim.oracle._core import SeedLike
from unbinned.sim.oracle._exact_nll import OracleLikelihood
from unbinned.sim.oracle._sampling import OracleSampling
from unbinned.sim.oracle._types import FloatArray

__all__ = ["OracleModel", "SeedLike"]


class OracleModel(OracleSampling, OracleLikelihood):
    """Base class of the analytic oracle models (see the module docstring for the formulas).

    Subclasses declare ``processes`` (signal first), ``feature_names``,
    ``latent_dim`` and the nominal yields, and implement the closed-form
    pieces (:meth:`_log_unnormalised`, :meth:`_log_acceptance`,
    :meth:`_rate_factors`, :meth:`_in_support`, :meth:`_transform`) once,
    against :class:`~unbinned.sim.oracle._ops.ArrayOps`, so that every quantity
    exists in float64 numpy and in differentiable float64 torch.

    The pieces live in one module each: the declaration, validation, yields and
    densities in :mod:`~unbinned.sim.oracle._core`, the samplers in
    :mod:`~unbinned.sim.oracle._sampling`, the exact q in
    :mod:`~unbinned.sim.oracle._exact_nll`; this class joins them and adds the Fisher
    information, which needs both an Asimov sample and q.

    Parameters
    ----------
    nuisances
        The model's nuisance parameters.
    nominal_yields
        n_p^0, the expected yield of each process at μ = 1, ν = ν_0.
    free
        The nuisances fitted (profiled) by :meth:`nll`; the others are fixed at
        their nominal values unless a parameter dictionary overrides them.
        None: all.
    constraints
        Gaussian priors per nuisance name added to q. None: ``default_constraints``.
    default_constraints
        The model's own default priors.
    """

    def fisher_information(
        self,
        mu: float = 1.0,
        nu: Mapping[str, float] | None = None,
        *,
        n_per_process: int = 2**16,
        seed: SeedLike = 0,
    ) -> tuple[tuple[str, ...], FloatArray]:
        """Return the expected Fisher information of the free parameters at (μ, ν).

        I = H / 2, H the exact (autodiff) Hessian of :meth:`nll_torch` on the
        Asimov sample :meth:`asimov` (quasi-Monte Carlo), constraints included.
        The expected uncertainty of parameter j with the others profiled is
        sqrt((I⁻¹)_jj).

        Returns
        -------
        names, matrix
            :attr:`parameter_names` and the (P, P) matrix.
        """
        import torch  # deferred: torch costs ~1 s to import; the numpy paths never need it

        full = self._resolve_nu(nu)
        data = self.asimov(mu, full, n_per_process=n_per_process, seed=seed)
        xt = torch.as_tensor(data.x)
        wt = torch.as_tensor(data.weights)
        fixed = {k: v for k, v in full.items() if k not in self._free}
        names = self.parameter_names

        def q(vec: torch.Tensor) -> torch.Tensor:
            point: dict[str, Any] = {names[j]: vec[j] for j in range(len(names))}
            point.update(fixed)
            return self.nll_torch(point, xt, wt)

        p0 = torch.tensor([float(mu)] + [full[k] for k in self._free], dtype=torch.float64)
        hess = torch.autograd.functional.hessian(q, p0)
        return names, np.asarray(hess.detach().numpy(), dtype=np.float64) / 2.0
