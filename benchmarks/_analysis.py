"""Shared by the scripts: a trained H→ττ analysis at full luminosity, a fresh simulation."""

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


def fresh_source(model: Any, events: int, seed: int, luminosity: float) -> Any:
    """A new H→ττ simulation of the analysis's processes as a variation source.

    ``events`` raw events per process with ``seed`` at ``luminosity`` fb⁻¹, with the
    surrogate's nuisances and features (:class:`~unbinned.ml.HTauTauSource`).
    """
    from unbinned.ml import HTauTauSource
    from unbinned.sim.htautau import simulate

    sur = model.surrogate
    frame = simulate(events, seed=seed, luminosity=luminosity, processes=sur.processes,
                     progress=True)  # fmt: skip
    return HTauTauSource(frame, nuisances=sur.nuisances, processes=sur.processes,
                         feature_names=sur.feature_names, seed=seed)  # fmt: skip
