"""A region's yield response ln Y_p(ν) as a Gaussian process, for the likelihood.

DESIGN.md §3 fits ln Y_p(ν) by least squares on the monomials of ν; here the same
response is a :class:`~unbinned.response.DerivativeGP` of ln Y on simulation points
(optionally with gradients ∂ ln Y/∂ν from sigmoid-smoothed selections), with points
chosen by Bayesian experimental design (:func:`~unbinned.response.design_yield_model`).
The model follows the :class:`~unbinned.response.YieldModel` protocol: numpy and
differentiable torch evaluation, JSON-serialisable state.

In the training pipeline (:func:`unbinned.ml.train_response`) a model with
``design_points > 0`` is fitted by :meth:`GPYieldModel.fit_by_design`: the variation
points of the response network are the initial design (their yields are already
simulated) and ``design_points`` further points are chosen by the expected reduction
of the posterior variance of ln Y over the trained nuisance box (DESIGN.md §6), each
simulated once.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from tqdm.auto import tqdm

from unbinned.exceptions import (
    ConfigError,
    DataError,
    FitError,
    ModelFileError,
    OutOfRangeWarning,
)
from unbinned.response.design import DesignResult, Simulator, sequential_design
from unbinned.response.gp import DerivativeGP

__all__ = ["GPYieldModel", "design_yield_model"]

FloatArray = npt.NDArray[np.float64]
_STATE_VERSION = 1


@dataclass(repr=False)
class GPYieldModel:
    """A region's yield response ln Y_p(ν) as a Gaussian process (DESIGN.md §3, §6).

    The GP models ln Y(ν) from simulation points ν_k, optionally with gradients
    ∂ ln Y/∂ν (from sigmoid-smoothed selections), and is used instead of the
    polynomial least-squares fit of ln Y on the monomials of ν.  It satisfies the
    :class:`~unbinned.response.YieldModel` protocol.

    Parameters
    ----------
    bounds
        The nuisance domain, shape (d, 2); if None, the range of the fitted points.
    n_restarts, seed, max_iter
        Passed on to :class:`DerivativeGP`.
    gp_options
        Further keyword arguments of :class:`DerivativeGP` (``kernel``, ``components``,
        ``input_warp``, ``pair_differences``, ``fit_noise``, ...).
    design_points
        Simulation points that :meth:`fit_by_design` adds to the given ones by Bayesian
        experimental design (0: none; the training pipeline then calls :meth:`fit`).
    batch_size
        Points chosen per design step.

    Examples
    --------
    >>> import numpy as np
    >>> from unbinned.response import GPYieldModel
    >>> nu = np.array([[-1.0], [0.0], [1.0]])
    >>> model = GPYieldModel(bounds=[(-1.0, 1.0)]).fit(nu, 0.05 * nu[:, 0], 0.05 + 0 * nu)
    >>> round(float(model(np.array([[0.5]]))[0]), 3)
    0.025
    """

    bounds: Sequence[tuple[float, float]] | FloatArray | None = None
    n_restarts: int = 3
    seed: int = 0
    max_iter: int = 100
    gp_options: Mapping[str, Any] | None = None
    design_points: int = 0
    batch_size: int = 1
    _gp: DerivativeGP | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.design_points < 0:
            raise ConfigError(f"design_points must be >= 0, got {self.design_points}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        reserved = {"bounds", "n_restarts", "seed", "max_iter"} & set(self.gp_options or {})
        if reserved:
            raise ConfigError(
                f"gp_options must not set {sorted(reserved)}; they are fields of GPYieldModel"
            )

    def __repr__(self) -> str:
        return f"GPYieldModel({self._gp!r})"

    @classmethod
    def from_gp(cls, gp: DerivativeGP) -> GPYieldModel:
        """Wrap a GP already fitted to ln Y (e.g. the result of a design)."""
        if not gp.is_fitted:
            raise FitError("the GP is not fitted; fit it before wrapping it in a GPYieldModel")
        model = cls(bounds=gp.bounds, n_restarts=gp.n_restarts, seed=gp.seed, max_iter=gp.max_iter)
        model._gp = gp
        return model

    @property
    def gp(self) -> DerivativeGP:
        """The underlying fitted :class:`DerivativeGP`."""
        if self._gp is None:
            raise FitError("the GPYieldModel is not fitted yet; call fit(nu_points, log_yields)")
        return self._gp

    @property
    def n_nuisances(self) -> int:
        """Number of nuisance parameters d."""
        return self.gp.dim

    def fit(
        self,
        nu_points: npt.ArrayLike,
        log_yields: npt.ArrayLike,
        gradients: npt.ArrayLike | None = None,
    ) -> GPYieldModel:
        """Fit ln Y(ν) to simulation points.

        Parameters
        ----------
        nu_points
            Nuisance values of the simulation points, shape (K, d).
        log_yields
            ln Y at those points, shape (K,).
        gradients
            ∂ ln Y/∂ν at those points, shape (K, d), or None.

        Returns
        -------
        GPYieldModel
            ``self``.
        """
        nu = np.asarray(nu_points, dtype=np.float64)
        if nu.ndim != 2:
            raise DataError(f"nu_points must have shape (K, d), got {nu.shape}")
        gp = DerivativeGP(
            self._bounds_for(nu),
            n_restarts=self.n_restarts,
            seed=self.seed,
            max_iter=self.max_iter,
            **dict(self.gp_options or {}),
        )
        self._gp = gp.fit(nu, log_yields, gradients)
        return self

    def _bounds_for(self, nu: FloatArray) -> FloatArray:
        """The GP's box: ``bounds``, or the range of ``nu`` (padded by 1 where flat)."""
        if self.bounds is not None:
            return np.asarray(self.bounds, dtype=np.float64)
        lo, hi = nu.min(axis=0), nu.max(axis=0)
        pad = np.where(hi > lo, 0.0, 1.0)
        return np.stack([lo - pad, hi + pad], axis=1)

    def fit_by_design(
        self,
        simulate_log_yield: Callable[[FloatArray], float],
        nu_points: npt.ArrayLike,
        log_yields: npt.ArrayLike,
        *,
        progress: bool = False,
        desc: str = "yield design",
    ) -> GPYieldModel:
        """Fit ln Y(ν) to the given points plus ``design_points`` chosen by the design.

        The given points (already simulated) start a :func:`sequential_design` in the
        box of :attr:`bounds` (default: their range); each further point maximises the
        expected reduction of the integrated posterior variance of ln Y and is
        simulated once with ``simulate_log_yield``.  Values only: a weighted event
        sample gives no gradient of its yield without smoothing the selection.

        Parameters
        ----------
        simulate_log_yield
            ν (shape (d,)) -> ln Y(ν).
        nu_points, log_yields
            The points already simulated, shapes (K, d) and (K,).
        progress
            Show a progress bar over the designed points.
        desc
            Its label.

        Returns
        -------
        GPYieldModel
            ``self``.
        """
        nu = np.asarray(nu_points, dtype=np.float64)
        ly = np.asarray(log_yields, dtype=np.float64)
        if nu.ndim != 2 or ly.shape != (nu.shape[0],):
            raise DataError(
                f"nu_points must have shape (K, d) and log_yields (K,); got {nu.shape}, {ly.shape}"
            )
        if not np.all(np.isfinite(ly)):
            raise DataError("log_yields contain NaN or infinite values")
        known = {tuple(p): float(v) for p, v in zip(nu.tolist(), ly.tolist(), strict=True)}
        bar = tqdm(
            total=self.design_points,
            desc=desc,
            disable=not progress or self.design_points == 0,
            file=sys.stderr,
            leave=False,
        )

        def simulate(p: FloatArray) -> tuple[float, None]:
            key = tuple(float(v) for v in p)
            if key in known:
                return known[key], None
            value = float(simulate_log_yield(np.array(p, dtype=np.float64)))
            if not np.isfinite(value):
                raise DataError(f"ln Y is not finite at the designed point nu={list(key)}")
            bar.update(1)
            return value, None

        with bar:
            result = sequential_design(
                simulate,
                self._bounds_for(nu),
                nu.shape[0] + self.design_points,
                initial_points=nu,
                use_gradients=False,
                batch_size=self.batch_size,
                seed=self.seed,
                final_restarts=self.n_restarts,
                max_iter=self.max_iter,
                gp_options=dict(self.gp_options or {}),
            )
        self._gp = result.gp
        return self

    def __call__(self, nu: npt.ArrayLike) -> FloatArray:
        """Return ln Y(ν) (posterior mean) for ν of shape (..., d)."""
        gp = self.gp
        arr = np.asarray(nu, dtype=np.float64)
        if arr.shape[-1:] != (gp.dim,):
            raise DataError(f"nu must have shape (..., {gp.dim}), got {arr.shape}")
        flat = arr.reshape(-1, gp.dim)
        outside = (flat < gp.bounds[:, 0]) | (flat > gp.bounds[:, 1])
        if np.any(outside):
            warnings.warn(
                f"{int(outside.any(axis=1).sum())} nuisance point(s) lie outside the GP's "
                f"bounds {gp.bounds.tolist()}; the response is extrapolated there",
                OutOfRangeWarning,
                stacklevel=2,
            )
        out = gp.predict(flat)
        assert isinstance(out, np.ndarray)
        return out.reshape(arr.shape[:-1])

    def log_yield_torch(self, nu: torch.Tensor) -> torch.Tensor:
        """Differentiable ln Y(ν) for a tensor of shape (..., d) (same dtype as ``nu``)."""
        gp = self.gp
        if nu.shape[-1:] != (gp.dim,):
            raise DataError(f"nu must have shape (..., {gp.dim}), got {tuple(nu.shape)}")
        flat = nu.reshape(-1, gp.dim)
        out = gp.predict_torch(flat).reshape(nu.shape[:-1])
        return out.to(nu.dtype) if nu.dtype.is_floating_point else out

    def predict_std(self, nu: npt.ArrayLike) -> FloatArray:
        """Posterior standard deviation of ln Y(ν) for ν of shape (..., d)."""
        gp = self.gp
        arr = np.asarray(nu, dtype=np.float64)
        _, var = gp.predict(arr.reshape(-1, gp.dim), return_var=True)
        return np.sqrt(var).reshape(arr.shape[:-1])

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable state (for a model file)."""
        return {"kind": "gp_yield", "version": _STATE_VERSION, "gp": self.gp.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GPYieldModel:
        """Rebuild from :meth:`to_dict` output."""
        if not isinstance(data, dict) or data.get("kind") != "gp_yield":
            raise ModelFileError(
                "not a serialised GPYieldModel: expected a dict with kind='gp_yield'"
            )
        if data.get("version") != _STATE_VERSION:
            raise ModelFileError(
                f"unsupported GPYieldModel state version {data.get('version')!r}; expected "
                f"{_STATE_VERSION}"
            )
        return cls.from_gp(DerivativeGP.from_dict(data["gp"]))


def design_yield_model(
    simulate_log_yield: Simulator | Callable[[FloatArray], tuple[float, FloatArray | None]],
    bounds: npt.ArrayLike,
    n_points: int,
    *,
    use_gradients: bool = True,
    batch_size: int = 1,
    seed: int = 0,
    initial_points: npt.ArrayLike | None = None,
    gp_options: dict[str, Any] | None = None,
) -> tuple[GPYieldModel, DesignResult]:
    """Build a region's :class:`GPYieldModel` with simulation points chosen by the design.

    Parameters
    ----------
    simulate_log_yield
        Called with one nuisance point ν (shape (d,)); returns ln Y(ν) and, with
        ``use_gradients``, ∂ ln Y/∂ν (e.g. from a selection smoothed by sigmoids).
    bounds
        The nuisance domain, shape (d, 2).
    n_points
        Simulation budget (the nominal point included).
    use_gradients, batch_size, seed, initial_points, gp_options
        See :func:`~unbinned.response.design.sequential_design`; e.g. ``gp_options={"components":
        anova_components(d, (1, 2))}`` for a yield made of one- and two-nuisance pieces.

    Returns
    -------
    tuple
        The fitted :class:`GPYieldModel` and the :class:`DesignResult`.
    """
    result = sequential_design(
        simulate_log_yield,
        bounds,
        n_points,
        initial_points=initial_points,
        use_gradients=use_gradients,
        batch_size=batch_size,
        seed=seed,
        gp_options=gp_options,
    )
    return GPYieldModel.from_gp(result.gp), result
