"""A whole analysis in one object: train the surrogates, then measure any dataset.

>>> from unbinned.analysis import challenge_spec, train_analysis   # doctest: +SKIP
>>> model = train_analysis(HTauTauSource(simulated_frame))          # doctest: +SKIP
>>> model.measure(observed_events)                                  # doctest: +SKIP
"""

from unbinned.analysis.model import AnalysisModel, Measurement, build_analysis, train_analysis
from unbinned.analysis.spec import CHALLENGE_MODEL, challenge_spec
from unbinned.analysis.toys import htautau_toy_task

__all__ = [
    "CHALLENGE_MODEL",
    "AnalysisModel",
    "Measurement",
    "build_analysis",
    "challenge_spec",
    "htautau_toy_task",
    "train_analysis",
]
