"""The end-to-end workflow: a YAML analysis config, steps with caching, the report.

>>> from unbinned.workflow import Analysis, load_config  # doctest: +SKIP
>>> analysis = Analysis(load_config("analysis.yaml"))  # doctest: +SKIP
>>> analysis.run()  # simulate, train, validate, fit, scan, toys, report  # doctest: +SKIP

- :mod:`~unbinned.workflow.config`: the config schema (pydantic), validated with
  errors that name the key and the expected value.
- :mod:`~unbinned.workflow.cache`: atomic step outputs, manifests, up-to-date checks.
- :mod:`~unbinned.workflow.steps`: :class:`Analysis`, which runs the steps.
- :mod:`~unbinned.workflow.data`: training sources, test samples, pseudo-data.
- :mod:`~unbinned.workflow.diagnostics`: calibration and closure on held-out simulation.
- :mod:`~unbinned.workflow.toys`: the picklable pseudo-experiment task.
- :mod:`~unbinned.workflow.examples`: the example samples of ``unbinned init --example files``.
"""

from unbinned.workflow.cache import StepRecord, Workspace
from unbinned.workflow.config import AnalysisConfig, load_config
from unbinned.workflow.steps import STEPS, Analysis, StepOutcome

__all__ = [
    "STEPS",
    "Analysis",
    "AnalysisConfig",
    "StepOutcome",
    "StepRecord",
    "Workspace",
    "load_config",
]
