"""Response surfaces over nuisance space: Gaussian processes with gradients, design, baselines.

DESIGN.md §6.  An efficiency or yield as a function of several nuisances is modelled by
a Gaussian process that uses value and gradient observations
(:class:`DerivativeGP`, optionally with an additive kernel, :func:`anova_components`,
and log-warped inputs; output transform :class:`SqrtTransform`); the next simulation
points are chosen by Bayesian experimental design (:func:`select_batch`,
:func:`sequential_design`); the on-axis factorised
approximation, regular grids and random points are the baselines; a region's yield
response ln Y_p(ν) for the likelihood is a :class:`GPYieldModel` (a :class:`YieldModel`).
The 3-jet benchmark problem lives in :mod:`unbinned.response.threejet`, plots in
:mod:`unbinned.response.plot`.
"""

from unbinned.response._protocol import YieldModel
from unbinned.response.baselines import (
    OnAxisModel,
    grid_design,
    on_axis_design,
    random_design,
    regular_grid,
)
from unbinned.response.design import (
    DesignResult,
    Simulator,
    expected_trace_reduction,
    select_batch,
    sequential_design,
    sobol_points,
)
from unbinned.response.gp import DerivativeGP, GPHyperparameters, anova_components
from unbinned.response.transforms import SqrtTransform
from unbinned.response.yield_model import GPYieldModel, design_yield_model

__all__ = [
    "DerivativeGP",
    "DesignResult",
    "GPHyperparameters",
    "GPYieldModel",
    "OnAxisModel",
    "Simulator",
    "SqrtTransform",
    "YieldModel",
    "anova_components",
    "design_yield_model",
    "expected_trace_reduction",
    "grid_design",
    "on_axis_design",
    "random_design",
    "regular_grid",
    "select_batch",
    "sequential_design",
    "sobol_points",
]
