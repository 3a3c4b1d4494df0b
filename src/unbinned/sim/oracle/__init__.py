"""Analytic oracle models: exact densities, yields, samplers and negative log-likelihoods.

Used to judge how close learned methods come to the optimum: every model has
closed-form per-process densities f_p(x|ν), expected yields n_p(μ, ν), the exact
response ln R_p(x|ν) the surrogates learn, a latent-variable sampler that gives
nominal and varied simulation of the same events, and the exact extended NLL
q(μ, ν) = -2 ln L in numpy and differentiable torch.

- :class:`ResonanceModel`: a resonance over peaking and continuum backgrounds in
  (mass, pt, cos_theta) with an energy scale, a resolution, a mixture fraction and
  two normalisation nuisances.
- :class:`InfernoBenchmark` / :func:`inferno_benchmark`: the synthetic 3D benchmark
  of de Castro & Dorigo (arXiv:1806.04743) in its five settings, with the paper's
  reference uncertainties in :data:`INFERNO_SIGMA_S`.
"""

from unbinned.sim.oracle._base import OracleModel
from unbinned.sim.oracle._types import GaussianConstraint, Nuisance, OracleSample
from unbinned.sim.oracle.inferno import (
    INFERNO_SETTINGS,
    INFERNO_SIGMA_S,
    INFERNO_SIGMA_S_INTERVALS,
    INFERNO_SIGMA_S_TRAINED,
    InfernoBenchmark,
    inferno_benchmark,
)
from unbinned.sim.oracle.resonance import ResonanceModel

__all__ = [
    "INFERNO_SETTINGS",
    "INFERNO_SIGMA_S",
    "INFERNO_SIGMA_S_INTERVALS",
    "INFERNO_SIGMA_S_TRAINED",
    "GaussianConstraint",
    "InfernoBenchmark",
    "Nuisance",
    "OracleModel",
    "OracleSample",
    "ResonanceModel",
    "inferno_benchmark",
]
