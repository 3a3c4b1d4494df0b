"""Sampling an oracle model: training sets, pseudo-data, varied events, Asimov samples.

Every event is the image of a latent vector u of independent Uniform(0, 1) numbers
under the exact inverse-CDF map x = T_p(u; ν), so the same events exist at every
nuisance point (:meth:`OracleSampling.vary`, :meth:`OracleSampling.simulate_variations`)
and exact weights move them there (:meth:`OracleSampling.reweight`); the module
docstring of :mod:`unbinned.sim.oracle._base` gives the three ways in full.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from unbinned.exceptions import ConfigError, DataError
from unbinned.sim.oracle._core import U_EPS, OracleCore, SeedLike, check_count
from unbinned.sim.oracle._ops import NUMPY
from unbinned.sim.oracle._types import FloatArray, OracleSample

__all__ = ["OracleSampling"]


class OracleSampling(OracleCore):
    """The samplers of an oracle model (a base of :class:`.OracleModel`)."""

    def transform(
        self, process: str, latent: npt.ArrayLike, nu: Mapping[str, float] | None = None
    ) -> FloatArray:
        """Map latent Uniform(0, 1) vectors of one process to features at ν (exact inverse CDFs)."""
        i = self._process_index(process)
        u = self._check_latent(latent)
        return self._transform(i, u, self._resolve_nu(nu))

    def _check_latent(self, latent: npt.ArrayLike) -> FloatArray:
        u = np.asarray(latent, dtype=np.float64)
        if u.ndim != 2 or u.shape[1] != self.latent_dim:
            raise DataError(f"latent has shape {u.shape}; expected (N, {self.latent_dim})")
        if not np.all((u >= 0.0) & (u <= 1.0)):
            raise DataError("latent values must lie in [0, 1] (they are uniform variables)")
        return np.clip(u, U_EPS, 1.0 - U_EPS)

    def _draw(self, index: int, u: FloatArray, full: dict[str, float]) -> FloatArray:
        return self._transform(index, np.clip(u, U_EPS, 1.0 - U_EPS), full)

    def sample_process(
        self,
        process: str,
        n: int,
        nu: Mapping[str, float] | None = None,
        seed: SeedLike = None,
    ) -> OracleSample:
        """Draw ``n`` unweighted events of one process at ν (a training set).

        The latent vectors are kept, so ``model.vary(sample, nu2)`` gives the same
        events at another nuisance point.
        """
        i = self._process_index(process)
        n = check_count(n)
        full = self._resolve_nu(nu)
        rng = np.random.default_rng(seed)
        u = rng.random((n, self.latent_dim))
        x = self._draw(i, u, full)
        return OracleSample(
            x=x,
            process=np.full(n, i, dtype=np.int64),
            weights=np.ones(n),
            feature_names=self.feature_names,
            process_names=self.processes,
            latent=u,
            nu=MappingProxyType(full),
        )

    def sample(
        self,
        mu: float = 1.0,
        nu: Mapping[str, float] | None = None,
        *,
        n_events: int | None = None,
        seed: SeedLike = None,
    ) -> OracleSample:
        """Draw a pseudo-dataset: unweighted events of all processes at (μ, ν), shuffled.

        Parameters
        ----------
        mu, nu
            Signal strength and nuisance values (missing nuisances: nominal).
        n_events
            None: the count of each process is Poisson(n_p(μ, ν)) (an extended
            pseudo-experiment). An integer: exactly that many events, split
            multinomially with probabilities n_p / Σ n_q.
        seed
            Seed or generator.
        """
        full = self._resolve_nu(nu)
        yields = np.array([float(v) for v in self._yields(NUMPY, float(mu), full)])
        if np.any(yields < 0) or not np.all(np.isfinite(yields)):
            raise ConfigError(
                f"expected yields {yields.tolist()} at mu={mu} must be finite and >= 0"
            )
        rng = np.random.default_rng(seed)
        if n_events is None:
            counts = rng.poisson(yields)
        else:
            n_events = check_count(n_events)
            counts = rng.multinomial(n_events, yields / yields.sum())
        xs, ps, us = [], [], []
        for i, c in enumerate(counts):
            u = rng.random((int(c), self.latent_dim))
            xs.append(self._draw(i, u, full))
            ps.append(np.full(int(c), i, dtype=np.int64))
            us.append(u)
        order = rng.permutation(int(counts.sum()))
        return OracleSample(
            x=np.concatenate(xs)[order],
            process=np.concatenate(ps)[order],
            weights=np.ones(order.size),
            feature_names=self.feature_names,
            process_names=self.processes,
            latent=np.concatenate(us)[order],
            nu=MappingProxyType(full),
        )

    def vary(self, sample: OracleSample, nu: Mapping[str, float] | None) -> OracleSample:
        """Return the same events (same latent vectors, processes, weights) mapped to ν.

        The result is an exact sample of f_p(·|ν) with the same event count
        (quantile matching inside the support; see the module docstring). Scale
        and width nuisances move every event smoothly and monotonically, and
        ``vary(vary(s, ν), s.nu)`` reproduces ``s`` exactly; a mixture fraction
        reassigns the events whose component variable lies between the old and
        new fraction. For varied samples that also carry the yield change, use
        :meth:`simulate_variations`.
        """
        if not isinstance(sample, OracleSample):
            raise TypeError(f"sample must be an OracleSample, got {type(sample).__name__}")
        if sample.latent is None:
            raise DataError(
                "sample has no latent vectors (e.g. it was built by hand); draw it with "
                "sample_process()/sample() or use reweight() instead"
            )
        if sample.process_names != self.processes:
            raise ConfigError(
                f"sample processes {sample.process_names} do not match the model's {self.processes}"
            )
        full = self._resolve_nu(nu)
        u = self._check_latent(sample.latent)
        x = np.empty_like(sample.x)
        for i in range(len(self.processes)):
            sel = sample.process == i
            if np.any(sel):
                x[sel] = self._transform(i, u[sel], full)
        return replace(sample, x=x, nu=MappingProxyType(full))

    def reweight(
        self, sample: OracleSample, nu: Mapping[str, float] | None, *, include_yield: bool = False
    ) -> FloatArray:
        """Return exact per-event weight factors that turn a ν_0 sample into a ν sample.

        The factor is exp(ln f_p(x|ν) - ln f_p(x|ν_0)) for each event's process
        (times Y_p(ν) with ``include_yield``); multiply ``sample.weights`` by it.
        Valid for every nuisance, including mixture fractions, since the
        support does not depend on ν.
        """
        if not isinstance(sample, OracleSample):
            raise TypeError(f"sample must be an OracleSample, got {type(sample).__name__}")
        out = np.empty(len(sample))
        for i, p in enumerate(self.processes):
            sel = sample.process == i
            if np.any(sel):
                fn = self.log_ratio if include_yield else self.log_shape_ratio
                out[sel] = np.exp(fn(sample.x[sel], p, nu))
        return out

    def simulate_variations(
        self,
        process: str,
        n_generated: int,
        nus: Sequence[Mapping[str, float] | None],
        seed: SeedLike = None,
    ) -> list[OracleSample]:
        """Simulate generator-level events once and select them at several nuisance points.

        This is "nominal and varied simulation of the same events" as a detector
        simulation does it: ``n_generated`` events are drawn from the
        generator-level distribution of the process (before the selection), each
        variation ν maps the same latent vectors through ν (for an energy scale
        exactly x → k·x) and keeps the events inside the support. Every event
        carries the weight n_p^0 / (n_generated · A_p(ν_0)), so the summed weights
        of the sample at ν estimate n_p^0 · Y_p(ν) (the expected yield without
        the analytic rate factors), and their ratio to the nominal one estimates
        Y_p(ν). Each returned sample is an exact (equal-weight) sample of
        f_p(x|ν); ``event_index`` pairs the same event across the samples.

        Parameters
        ----------
        process
            Process name.
        n_generated
            Number of generator-level events (before the selection).
        nus
            Nuisance points, e.g. ``[None, {"energy_scale": 1.02}, ...]`` (None: nominal).
        seed
            Seed or generator.
        """
        i = self._process_index(process)
        n = check_count(n_generated)
        points = [self._resolve_nu(nu) for nu in nus]
        rng = np.random.default_rng(seed)
        u = np.clip(rng.random((n, self.latent_dim)), U_EPS, 1.0 - U_EPS)
        weight = self._nominal_yields[i] / (max(n, 1) * math.exp(self._log_acc0[i]))
        out = []
        for full in points:
            x = self._transform(i, u, full, generator=True)
            keep = np.asarray(self._in_support(NUMPY, x), dtype=bool)
            idx = np.flatnonzero(keep)
            out.append(
                OracleSample(
                    x=x[keep],
                    process=np.full(idx.size, i, dtype=np.int64),
                    weights=np.full(idx.size, weight),
                    feature_names=self.feature_names,
                    process_names=self.processes,
                    latent=None,
                    nu=MappingProxyType(full),
                    event_index=idx.astype(np.int64),
                )
            )
        return out

    def asimov(
        self,
        mu: float = 1.0,
        nu: Mapping[str, float] | None = None,
        *,
        n_per_process: int = 2**16,
        seed: SeedLike = 0,
        qmc: bool = True,
    ) -> OracleSample:
        """Return an Asimov-like weighted sample: weights sum to the expected yields per process.

        Each process gets ``n_per_process`` events drawn exactly from f_p(x|ν)
        with weight n_p(μ, ν) / n_per_process, so that Σ_i w_i g(x_i) is an
        unbiased estimate of ∫ g dσ(x|μ, ν) for any g. With ``qmc`` the latent
        vectors are a scrambled Sobol sequence (n rounded up to a power of 2),
        which makes these integrals, and hence the Asimov NLL and its Hessian,
        far more accurate than plain Monte Carlo.
        """
        full = self._resolve_nu(nu)
        n = check_count(n_per_process)
        if n == 0:
            raise ConfigError("n_per_process must be positive")
        yields = [float(v) for v in self._yields(NUMPY, float(mu), full)]
        rng = np.random.default_rng(seed)
        xs, ps, ws, us = [], [], [], []
        for i, n_p in enumerate(yields):
            if qmc:
                from scipy.stats import qmc as _qmc  # deferred: scipy.stats is slow to import

                sobol = _qmc.Sobol(d=self.latent_dim, scramble=True, rng=rng)
                u = sobol.random_base2(max(0, math.ceil(math.log2(n))))
            else:
                u = rng.random((n, self.latent_dim))
            xs.append(self._draw(i, u, full))
            ps.append(np.full(len(u), i, dtype=np.int64))
            ws.append(np.full(len(u), n_p / len(u)))
            us.append(u)
        return OracleSample(
            x=np.concatenate(xs),
            process=np.concatenate(ps),
            weights=np.concatenate(ws),
            feature_names=self.feature_names,
            process_names=self.processes,
            latent=np.concatenate(us),
            nu=MappingProxyType(full),
        )
