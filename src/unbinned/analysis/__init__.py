"""A whole analysis in one object: train the surrogates, then measure any dataset.

>>> from unbinned.analysis import challenge_spec, train_analysis   # doctest: +SKIP
>>> model = train_analysis(HTauTauSource(simulated_frame))          # doctest: +SKIP
>>> model.measure(observed_events)                                  # doctest: +SKIP

- :mod:`~unbinned.analysis.options`: the checked option groups of :func:`build_analysis`.
- :mod:`~unbinned.analysis.measurement`: :class:`Measurement`, the result of a fit.
- :mod:`~unbinned.analysis.baseline`: the binned baseline's templates.
- :mod:`~unbinned.analysis.storage`: the on-disk format (safetensors + JSON).
- :mod:`~unbinned.analysis.model`: :class:`AnalysisModel`.
- :mod:`~unbinned.analysis.build`: :func:`train_analysis`, :func:`build_analysis`.
- :mod:`~unbinned.analysis.health`: :func:`surrogate_health`, the self-checks of the
  learned densities on independent simulation (:class:`HealthReport`).
- :mod:`~unbinned.analysis.spec`: the challenge model; :mod:`~unbinned.analysis.toys`:
  its pseudo-experiment task.
"""

from unbinned.analysis.build import build_analysis, train_analysis
from unbinned.analysis.health import (
    HealthOptions,
    HealthReport,
    independent_source,
    surrogate_health,
)
from unbinned.analysis.measurement import Measurement
from unbinned.analysis.model import AnalysisModel
from unbinned.analysis.options import (
    AnalysisOptions,
    CalibrationOptions,
    IntegrationOptions,
    TemplateOptions,
)
from unbinned.analysis.spec import CHALLENGE_MODEL, challenge_spec
from unbinned.analysis.toys import htautau_toy_task

__all__ = [
    "CHALLENGE_MODEL",
    "AnalysisModel",
    "AnalysisOptions",
    "CalibrationOptions",
    "HealthOptions",
    "HealthReport",
    "IntegrationOptions",
    "Measurement",
    "TemplateOptions",
    "build_analysis",
    "challenge_spec",
    "htautau_toy_task",
    "independent_source",
    "surrogate_health",
    "train_analysis",
]
