"""A trained H→ττ analysis at the challenge's full luminosity (10 fb⁻¹), shared by the scripts."""

from __future__ import annotations

from typing import Any


def full_luminosity_analysis(model_dir: str | None, train_events: int) -> tuple[Any, str]:
    """The analysis scaled to 10 fb⁻¹ by its expected events, and where it came from.

    ``model_dir``: a saved :class:`~unbinned.analysis.AnalysisModel`; None trains one
    here on ``train_events`` simulated raw events per process (and as many for the
    integration sample) with the library's defaults (:func:`~unbinned.analysis.train_analysis`).
    """
    from unbinned.analysis import AnalysisModel, train_analysis
    from unbinned.data.schema import EXPECTED_YIELDS_10FB
    from unbinned.ml import HTauTauSource, RunOptions
    from unbinned.sim.htautau import simulate

    if model_dir is None:
        source = HTauTauSource(simulate(train_events, seed=11), seed=11)
        reference = HTauTauSource(simulate(train_events, seed=12), seed=12)
        run = RunOptions(progress=False)
        model = train_analysis(source, reference=reference, seed=0, run=run)
        label = f"trained here: library defaults, {train_events} raw events per process"
    else:
        model = AnalysisModel.load(model_dir)
        label = str(model_dir)
    integ = model.integration
    total = float(integ.m0.sum()) if hasattr(integ, "m0") else float(integ.sum_weights)
    return model.scaled(sum(EXPECTED_YIELDS_10FB.values()) / total), label
