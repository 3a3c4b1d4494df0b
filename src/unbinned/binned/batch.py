r"""Many data sets of one binned model at once: pseudo-experiments for vectorised fits.

A :class:`BinnedBatch` holds the observed counts of T data sets (e.g. Poisson
pseudo-experiments) of one :class:`~unbinned.binned.BinnedLikelihood` and gives
q, its gradient and its Hessian for all of them in one vectorised pass
(:meth:`BinnedLikelihood.derivatives_batch`): at tens of bins a single binned
likelihood evaluation is dominated by Python's per-call overhead, which the
batch pays once for all T.  :func:`unbinned.infer.fit_batch` fits them (Newton
steps with the exact Hessian, vectorised over the data sets; the full
:func:`~unbinned.infer.fit` for any that does not converge cleanly).

Examples
--------
>>> import numpy as np
>>> from unbinned.model import ModelSpec
>>> from unbinned.binned import BinnedBatch, BinnedLikelihood, RegionTemplates, Templates
>>> spec = ModelSpec.from_dict({"pois": [{"name": "mu"}],
...     "processes": [{"name": "s", "signal": True, "modifiers": [{"parameter": "mu"}]},
...                   {"name": "b"}]})
>>> nom = np.array([[1.0, 5.0], [20.0, 10.0]])
>>> t = Templates((RegionTemplates("inclusive", np.array([0, .5, 1]), ("s", "b"), nom, nom),))
>>> batch = BinnedBatch.poisson(BinnedLikelihood(spec, t, "asimov"), n_toys=100, seed=1)
>>> batch
BinnedBatch(100 data sets, 2 bins, 1 parameters)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from unbinned.binned.likelihood import BinnedLikelihood
from unbinned.exceptions import DataError
from unbinned.model.spec import ModelSpec

__all__ = ["BinnedBatch"]

FloatArray = npt.NDArray[np.float64]


class BinnedBatch:
    """T data sets (observed counts) of one binned model, evaluated together.

    Parameters
    ----------
    likelihood
        The model (its observed counts are not used).
    counts
        (T, B) observed counts, the bins of the regions concatenated in the order of
        ``likelihood.templates.regions``, or one mapping region → counts per data set.
    """

    def __init__(
        self,
        likelihood: BinnedLikelihood,
        counts: npt.ArrayLike | Sequence[Mapping[str, npt.ArrayLike]],
    ) -> None:
        self._lik = likelihood
        self.errordef = likelihood.errordef
        names = likelihood.templates.region_names
        if isinstance(counts, Sequence) and counts and isinstance(counts[0], Mapping):
            rows = [likelihood.with_observed(c)._np_n for c in counts]  # type: ignore[arg-type]
            arr = np.stack(rows) if rows else np.zeros((0, likelihood.n_bins_total))
        else:
            arr = np.asarray(counts, dtype=np.float64)
        B = likelihood.n_bins_total
        if arr.ndim != 2 or arr.shape[1] != B:
            raise DataError(
                f"counts have shape {arr.shape}; expected (data sets, {B}): the bins of the "
                f"regions {list(names)} concatenated"
            )
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise DataError("counts must be finite and >= 0")
        self.counts = arr

    @classmethod
    def poisson(
        cls,
        likelihood: BinnedLikelihood,
        theta: Mapping[str, float] | npt.ArrayLike | None = None,
        *,
        n_toys: int,
        seed: int = 0,
    ) -> BinnedBatch:
        """``n_toys`` Poisson pseudo-experiments of the expected counts at θ (default: start)."""
        if theta is None or isinstance(theta, Mapping):
            x = likelihood.vector(dict(theta or {}))
        else:
            x = np.asarray(theta, dtype=np.float64)
        expected = likelihood.asimov_counts(x)
        nu = np.concatenate([expected[r] for r in likelihood.templates.region_names])
        rng = np.random.default_rng(seed)
        return cls(likelihood, rng.poisson(nu, size=(int(n_toys), nu.size)).astype(np.float64))

    # --------------------------------------------------------------- the Fittable's parts
    @property
    def n_toys(self) -> int:
        """Number of data sets T."""
        return int(self.counts.shape[0])

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """θ's order (the likelihood's)."""
        return self._lik.parameter_names

    @property
    def spec(self) -> ModelSpec:
        """The (extended) model declaration: bounds and priors."""
        return self._lik.spec

    def vector(self, values: Mapping[str, float] | None = None) -> FloatArray:
        """Parameter vector from a partial name → value mapping; the rest at start values."""
        return self._lik.vector(values)

    def evaluate(
        self, x: FloatArray, rows: npt.NDArray[np.intp] | None = None
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """q (T',), gradient (T', npar) and Hessian (T', npar, npar) of data sets ``rows``.

        ``x`` holds one parameter vector per row (all data sets when ``rows`` is None).
        """
        counts = self.counts if rows is None else self.counts[rows]
        return self._lik.derivatives_batch(np.asarray(x, dtype=np.float64), counts)

    def likelihood(self, t: int) -> BinnedLikelihood:
        """The :class:`BinnedLikelihood` of data set ``t`` alone."""
        lik = self._lik
        row = self.counts[t]
        return lik.with_observed({r: row[s] for r, s in lik._slices.items()})

    def __len__(self) -> int:
        return self.n_toys

    def __repr__(self) -> str:
        return (
            f"BinnedBatch({self.n_toys} data sets, {self._lik.n_bins_total} bins, "
            f"{self._lik.npar} parameters)"
        )
