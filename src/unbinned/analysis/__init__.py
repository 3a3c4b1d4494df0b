"""A whole analysis in one object: train the surrogates, then measure any dataset.

>>> from unbinned.analysis import challenge_spec, train_analysis   # doctest: +SKIP
>>> model = train_analysis(HTauTauSource(simulated_frame))          # doctest: +SKIP
>>> model.measure(observed_events)                                  # doctest: +SKIP

- :mod:`~unbinned.analysis.options`: the checked option groups of :func:`build_analysis`.
- :mod:`~unbinned.analysis.measurement`: :class:`Measurement`, the result of a fit
  (every fitted parameter, the correlations, the pulls; one per POI), and
  :class:`Scan2D`, the profiled Δq of two POIs.
- :mod:`~unbinned.analysis.regions`: one unbinned region plus counting regions
  selected by expressions.
- :mod:`~unbinned.analysis.baseline`: the binned baseline's templates.
- :mod:`~unbinned.analysis.storage`: the on-disk format (safetensors + JSON).
- :mod:`~unbinned.analysis.model`: :class:`AnalysisModel`.
- :mod:`~unbinned.analysis.build`: :func:`train_analysis`, :func:`build_analysis`.
- :mod:`~unbinned.analysis.health`: :func:`surrogate_health`, the self-checks of the
  learned densities on independent simulation (:class:`HealthReport`), which
  :func:`train_analysis` and :func:`build_analysis` run by default
  (:func:`check_analysis`, :class:`HealthOptions`).
- :mod:`~unbinned.analysis.spec`: the challenge model (and its ggH/VBF version,
  :func:`production_mode_spec`); :mod:`~unbinned.analysis.toys`: its
  pseudo-experiment task.
"""

from unbinned.analysis.build import build_analysis, train_analysis
from unbinned.analysis.health import (
    HealthOptions,
    HealthReport,
    check_analysis,
    independent_source,
    surrogate_health,
)
from unbinned.analysis.measurement import Measurement, Scan2D
from unbinned.analysis.model import AnalysisModel
from unbinned.analysis.options import (
    AnalysisOptions,
    CalibrationOptions,
    IntegrationOptions,
    TemplateOptions,
)
from unbinned.analysis.spec import (
    CHALLENGE_MODEL,
    PRODUCTION_MODES,
    challenge_spec,
    production_mode_spec,
    split_production_modes,
)
from unbinned.analysis.toys import htautau_toy_task

__all__ = [
    "CHALLENGE_MODEL",
    "PRODUCTION_MODES",
    "AnalysisModel",
    "AnalysisOptions",
    "CalibrationOptions",
    "HealthOptions",
    "HealthReport",
    "IntegrationOptions",
    "Measurement",
    "Scan2D",
    "TemplateOptions",
    "build_analysis",
    "challenge_spec",
    "check_analysis",
    "htautau_toy_task",
    "independent_source",
    "production_mode_spec",
    "split_production_modes",
    "surrogate_health",
    "train_analysis",
]
