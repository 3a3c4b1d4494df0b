"""The binned baseline: HistFactory templates of a score, a binned Poisson likelihood, pyhf export.

DESIGN.md §3.  Histogram the classifier's signal fraction (or any score) per
process and region (:func:`build_templates`), interpolate per-bin systematic
templates between the ±1σ variation points (pyhf ``histosys`` code0 or code4p),
and fit the binned Poisson likelihood (:class:`BinnedLikelihood`) with the same
engine (:func:`unbinned.infer.fit`; many pseudo-experiments at once: :class:`BinnedBatch`
and :func:`unbinned.infer.fit_batch`).  :func:`to_pyhf` exports it as a pyhf JSON
workspace whose pyhf fit (:func:`pyhf_fit`) gives the same answer.
"""

from unbinned.binned.batch import BinnedBatch
from unbinned.binned.histograms import (
    BINNINGS,
    Histogram,
    ScoredEvents,
    fill_histogram,
    make_edges,
)
from unbinned.binned.likelihood import BinnedLikelihood, nominal_scale, staterror_name
from unbinned.binned.plot import plot_templates
from unbinned.binned.pyhf_export import (
    ParameterMap,
    PyhfApproximationWarning,
    PyhfExport,
    PyhfFitResult,
    pyhf_fit,
    to_pyhf,
)
from unbinned.binned.templates import (
    INTERPOLATIONS,
    RegionTemplates,
    Templates,
    build_templates,
    interpolate,
    interpolation_coefficients,
    template_points,
    with_secant_up,
)

__all__ = [
    "BINNINGS",
    "INTERPOLATIONS",
    "BinnedBatch",
    "BinnedLikelihood",
    "Histogram",
    "ParameterMap",
    "PyhfApproximationWarning",
    "PyhfExport",
    "PyhfFitResult",
    "RegionTemplates",
    "ScoredEvents",
    "Templates",
    "build_templates",
    "fill_histogram",
    "interpolate",
    "interpolation_coefficients",
    "make_edges",
    "nominal_scale",
    "plot_templates",
    "pyhf_fit",
    "staterror_name",
    "template_points",
    "to_pyhf",
    "with_secant_up",
]
