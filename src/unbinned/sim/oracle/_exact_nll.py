"""The exact extended likelihood of an oracle model, in numpy and in differentiable torch.

    q(μ, ν) = -2 ln L = 2 [Σ_p n_p(μ, ν) - Σ_i w_i ln Σ_p n_p(μ, ν) f_p(x_i | ν)]
              + Σ_k ((ν_k - c_k) / σ_k)²

(per-event weights w_i, Gaussian constraints N(c_k, σ_k); constants left out).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from unbinned.exceptions import ConfigError, DataError, SchemaError
from unbinned.sim.oracle._core import OracleCore
from unbinned.sim.oracle._ops import NUMPY, torch_ops
from unbinned.sim.oracle._types import FloatArray, OracleSample

if TYPE_CHECKING:
    import torch

__all__ = ["OracleLikelihood"]


class OracleLikelihood(OracleCore):
    """The exact q of an oracle model (a base of :class:`.OracleModel`)."""

    def params_to_dict(self, params: Mapping[str, float] | npt.ArrayLike) -> dict[str, float]:
        """Return {name: value} for a parameter dict or vector (order: :attr:`parameter_names`)."""
        mu, nu = self._point_numpy(params)
        return {self.poi_name: mu, **nu}

    def _point_numpy(
        self, params: Mapping[str, float] | npt.ArrayLike
    ) -> tuple[float, dict[str, float]]:
        if isinstance(params, Mapping):
            values = dict(params)
            mu = float(values.pop(self.poi_name, 1.0))
            return mu, self._resolve_nu(values)
        vec = np.asarray(params, dtype=np.float64)
        names = self.parameter_names
        if vec.shape != (len(names),):
            raise ConfigError(
                f"parameter vector has shape {vec.shape}; expected ({len(names)},) in the order "
                f"{names} (or pass a dict)"
            )
        return float(vec[0]), self._resolve_nu(dict(zip(names[1:], vec[1:].tolist(), strict=True)))

    def penalty(self, nu: Mapping[str, float] | None = None) -> float:
        """Return Σ_k ((ν_k - c_k)/σ_k)² over the constrained nuisances."""
        full = self._resolve_nu(nu)
        return float(sum(c.penalty(full[k]) for k, c in self._constraints.items()))

    def nll(
        self,
        params: Mapping[str, float] | npt.ArrayLike,
        x: FloatArray | OracleSample,
        weights: npt.ArrayLike | None = None,
    ) -> float:
        """Return the exact extended q = -2 ln L (numpy, float64).

        q = 2 [Σ_p n_p - Σ_i w_i ln Σ_p n_p f_p(x_i|ν)] + Σ_k ((ν_k - c_k)/σ_k)².

        Parameters
        ----------
        params
            A vector in :attr:`parameter_names` order, or a dict with any of the
            POI and nuisance names (missing: μ = 1, nominal nuisances).
        x
            Events, shape (N, d), inside the support, or an :class:`OracleSample`
            (whose weights are used unless ``weights`` is given).
        weights
            Per-event weights (default 1).

        Returns
        -------
        float
            q; +inf where the total intensity is not positive (e.g. μ < 0).
        """
        mu, nu = self._point_numpy(params)
        if weights is None and isinstance(x, OracleSample):
            weights = x.weights
        xa = self._check_x(x)
        w = self._check_weights(weights, len(xa))
        self._check_support(xa)
        n = [float(v) for v in self._yields(NUMPY, mu, nu)]
        total = sum(n)
        if len(xa):
            logs = self._log_densities(NUMPY, xa, nu)
            with np.errstate(divide="ignore", invalid="ignore"):
                log_int = NUMPY.log_weighted_sum_exp(logs, n)
            if not np.all(np.isfinite(log_int)):
                return math.inf
            total -= float(np.dot(w, log_int))
        return 2.0 * total + self.penalty(nu)

    def nll_torch(
        self,
        params: Mapping[str, Any] | torch.Tensor,
        x: Any,
        weights: Any = None,
    ) -> torch.Tensor:
        """Return q = -2 ln L as a differentiable float64 torch scalar (the formula of :meth:`nll`).

        Parameters
        ----------
        params
            A 1-D tensor in :attr:`parameter_names` order, or a dict of tensors or
            floats (missing: μ = 1, nominal nuisances). Gradients flow to every
            tensor given, so ``torch.autograd.grad`` and
            ``torch.autograd.functional.hessian`` give exact derivatives.
        x
            Events (tensor or array, shape (N, d)) inside the support, or an
            :class:`OracleSample`.
        weights
            Per-event weights (default 1, or the sample's).
        """
        import torch  # deferred: torch costs ~1 s to import; the numpy paths never need it

        ops = torch_ops()
        if weights is None and isinstance(x, OracleSample):
            weights = x.weights
        if isinstance(x, OracleSample):
            x = x.x
        xt = torch.as_tensor(x, dtype=torch.float64)
        if xt.ndim != 2:
            raise DataError(f"x has shape {tuple(xt.shape)}; expected (N, {self.n_features})")
        if xt.shape[1] != self.n_features:
            raise SchemaError(
                f"x has {xt.shape[1]} columns; expected {self.n_features} {self.feature_names}"
            )
        if not bool(torch.all(self._in_support(ops, xt))) or not bool(
            torch.all(torch.isfinite(xt))
        ):
            self._check_support(self._check_x(xt.detach().cpu().numpy()))
        w = (
            torch.ones(xt.shape[0], dtype=torch.float64, device=xt.device)
            if weights is None
            else torch.as_tensor(weights, dtype=torch.float64, device=xt.device)
        )
        if w.shape != (xt.shape[0],):
            raise DataError(f"weights have shape {tuple(w.shape)}; expected ({xt.shape[0]},)")
        mu, nu = self._point_torch(params, xt)
        n = self._yields(ops, mu, nu)
        q = sum(n)
        if xt.shape[0]:
            logs = self._log_densities(ops, xt, nu)
            q = q - torch.dot(w, ops.log_weighted_sum_exp(logs, n))
        pen = sum(c.penalty(nu[k]) for k, c in self._constraints.items())
        return 2.0 * q + pen

    def _point_torch(
        self, params: Mapping[str, Any] | Any, like: Any
    ) -> tuple[Any, dict[str, Any]]:
        import torch  # deferred: torch costs ~1 s to import; the numpy paths never need it

        ops = torch_ops()
        if isinstance(params, Mapping):
            values = dict(params)
            mu = values.pop(self.poi_name, 1.0)
        else:
            vec = torch.as_tensor(params, dtype=torch.float64)
            names = self.parameter_names
            if vec.shape != (len(names),):
                raise ConfigError(
                    f"parameter vector has shape {tuple(vec.shape)}; expected ({len(names)},) "
                    f"in the order {names} (or pass a dict)"
                )
            mu = vec[0]
            values = {name: vec[j + 1] for j, name in enumerate(names[1:])}
        nu: dict[str, Any] = {}
        for name, value in values.items():
            self._require_nuisance(name)
            plain = value.detach() if isinstance(value, torch.Tensor) else value
            self._check_value(name, float(plain))
            nu[name] = ops.scalar(value, like)
        for nuis in self._nuisances:
            if nuis.name not in nu:
                nu[nuis.name] = ops.scalar(nuis.nominal, like)
        return ops.scalar(mu, like), nu
