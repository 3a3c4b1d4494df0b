r"""Making an analysis: train the surrogates, then build the integration sample and the baseline.

:func:`train_analysis` turns simulation (a :class:`~unbinned.ml.sources.VariationSource`)
into an :class:`~unbinned.analysis.AnalysisModel`: it trains the surrogates
(:func:`~unbinned.ml.train_surrogate`) and hands them to :func:`build_analysis`,
which, on a reference sample,

1. optionally recalibrates the classifier and fits the score calibration
   (:class:`~unbinned.analysis.options.CalibrationOptions`);
2. evaluates the per-event tensors of the nominal reference, kept as they are or
   as their moments (:class:`~unbinned.analysis.options.IntegrationOptions`);
3. builds the binned baseline's templates
   (:class:`~unbinned.analysis.options.TemplateOptions`,
   :mod:`unbinned.analysis.baseline`);
4. checks the learned densities on independent events and records the health
   report (:class:`~unbinned.analysis.HealthOptions`,
   :func:`~unbinned.analysis.health.check_analysis`): its failed checks are the
   ``warnings`` of every measurement, a check not run a ``note`` with its reason.

Every option group is recorded in the analysis's metadata (``"options"``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from unbinned._version import __version__
from unbinned.analysis.baseline import baseline_templates, check_parametrisation
from unbinned.analysis.health import HealthOptions, check_analysis, checks_elsewhere
from unbinned.analysis.model import EVALUATION_CHUNK, AnalysisModel
from unbinned.analysis.options import (
    AnalysisOptions,
    CalibrationOptions,
    IntegrationOptions,
    TemplateOptions,
)
from unbinned.analysis.regions import RegionLayout
from unbinned.analysis.spec import challenge_spec
from unbinned.data.events import EventSet
from unbinned.exceptions import ConfigError, DataError
from unbinned.likelihood.moments import IntegrationMoments, MomentAccumulator
from unbinned.likelihood.surrogate import event_tensors
from unbinned.likelihood.tensors import EventTensors
from unbinned.ml.calibration import fit_score_calibration
from unbinned.ml.classifier import calibrate as calibrate_classifier
from unbinned.ml.classifier import clf_with_calibration
from unbinned.ml.design import Design
from unbinned.ml.response import YieldModelLike
from unbinned.ml.runtime import RunOptions
from unbinned.ml.sources import VariationSource
from unbinned.ml.surrogate import SurrogateConfig, SurrogateModel, train_surrogate
from unbinned.model.spec import ModelSpec

__all__ = ["MIN_EVENTS_PER_PROCESS", "build_analysis", "check_statistics", "train_analysis"]

MIN_EVENTS_PER_PROCESS = 50
"""Selected nominal events every process needs in the training and the reference sample."""


def train_analysis(
    source: VariationSource,
    spec: ModelSpec | None = None,
    *,
    reference: VariationSource | None = None,
    surrogate_config: SurrogateConfig | None = None,
    design: Design | None = None,
    seed: int = 0,
    run: RunOptions | None = None,
    yield_model: Callable[[], YieldModelLike] | None = None,
    templates: TemplateOptions | None = None,
    integration: IntegrationOptions | None = None,
    calibration: CalibrationOptions | None = None,
    health: HealthOptions | None = None,
    health_source: VariationSource | None = None,
) -> AnalysisModel:
    """Train the surrogates and build the integration tensors and the binned baseline.

    Parameters
    ----------
    source
        Nominal and varied simulation (:class:`~unbinned.ml.sources.HTauTauSource`
        for the simulator or challenge data, :class:`~unbinned.ml.sources.OracleSource`, ...).
    spec
        The model declaration (default: :func:`~unbinned.analysis.challenge_spec` for
        the source's shape nuisances).
    reference
        A second, independent source for the integration tensors and the templates
        (default: ``source``; an independent sample avoids evaluating the networks on
        their own training events).
    surrogate_config, design
        Passed to :func:`~unbinned.ml.train_surrogate`.
    seed
        Seed of the training (deterministic on CPU).
    run
        Where the training runs: device, precision, threads, progress bars, checkpoints
        (:class:`~unbinned.ml.RunOptions`; default ``RunOptions(device="cpu")``, so that a
        seed gives the same analysis on every machine; ``device="auto"`` picks a GPU when
        present).  With ``checkpoint_dir`` set an interrupted training resumes.  Its
        ``progress`` also shows the bars of :func:`build_analysis`.
    yield_model
        Factory of the yield models (:func:`~unbinned.ml.train_surrogate`'s
        ``yield_model``; default: the quadratic least-squares fit).
    templates, integration, calibration
        The option groups of :func:`build_analysis` (None: their defaults).
    health, health_source
        The surrogates' health check, as in :func:`build_analysis`; with
        ``HealthOptions(sample="auto")`` a separate ``reference`` that no calibration
        is fitted to and that cannot simulate new events is checked on itself.
    """
    opts = run or RunOptions(device="cpu")
    check_statistics(source, "training")
    surrogate = train_surrogate(
        source,
        design=design,
        config=surrogate_config,
        seed=seed,
        run=opts,
        yield_model=yield_model,
    )
    return build_analysis(
        surrogate,
        reference if reference is not None else source,
        spec,
        seed=seed,
        progress=opts.progress,
        templates=templates,
        integration=integration,
        calibration=calibration,
        health=health,
        health_source=health_source,
        reference_independent=reference is not None and reference is not source,
    )


def build_analysis(
    surrogate: SurrogateModel,
    reference: VariationSource,
    spec: ModelSpec | None = None,
    *,
    seed: int = 0,
    progress: bool = True,
    templates: TemplateOptions | None = None,
    integration: IntegrationOptions | None = None,
    calibration: CalibrationOptions | None = None,
    integration_batches: Iterable[EventSet] | None = None,
    health: HealthOptions | None = None,
    health_source: VariationSource | None = None,
    reference_independent: bool = False,
) -> AnalysisModel:
    """An analysis from a trained surrogate: integration sample, calibration, templates, health.

    (Its length is its parameters' documentation; each stage is a helper below.)

    Parameters
    ----------
    surrogate
        A trained :class:`~unbinned.ml.SurrogateModel` (not modified: the calibrations
        are fitted into a copy).
    reference
        Nominal and varied simulation, best independent of the surrogate's training:
        the integration sample, the calibration and the binned templates come from it.
    spec
        The model declaration (default: :func:`~unbinned.analysis.challenge_spec` for
        the surrogate's shape nuisances).
    seed
        Seed of the calibration's event selection and of the events kept with the moments.
    progress
        Progress bars on stderr.
    templates
        The binned baseline (:class:`~unbinned.analysis.options.TemplateOptions`;
        default: 10 bins, secant up templates ``reach="auto"``).
    integration
        How the integration sample is kept
        (:class:`~unbinned.analysis.options.IntegrationOptions`; default: its events).
    calibration
        The score calibration and the classifier's recalibration
        (:class:`~unbinned.analysis.options.CalibrationOptions`; default: no score
        calibration; the classifier recalibrated on the reference when
        ``reference_independent``).
    integration_batches
        The nominal events of the integration moments, one batch at a time, instead
        of ``reference.nominal()``: e.g. a generator of k successive simulations, each
        weighted to 1/k of the expected yields.  Only one batch is in memory at once,
        so the integration sample can be far larger than the reference.  Needs
        ``IntegrationOptions(mode="moments")``.
    health
        The surrogates' health check (:class:`~unbinned.analysis.HealthOptions`;
        default: on): :func:`~unbinned.analysis.health.check_analysis` runs
        :func:`~unbinned.analysis.surrogate_health` on independent events (a fresh
        simulation like the reference's when it can simulate) and records the report
        in the metadata (``"health"``): its failed checks are the ``warnings`` of every
        measurement, a check not run is a ``note`` with its reason.
        ``HealthOptions(enabled=False)`` switches it off (recorded as such).
    health_source
        Independent events to check on (neither the training nor a calibration saw them).
    reference_independent
        The caller knows that the reference is independent of the surrogate's
        training: the classifier is then recalibrated on it (``"auto"`` of
        :attr:`CalibrationOptions.recalibrate_classifier
        <unbinned.analysis.options.CalibrationOptions.recalibrate_classifier>`), and
        with ``HealthOptions(sample="auto")`` a reference that cannot simulate and
        that no calibration was fitted to is checked on itself.
    """
    options = AnalysisOptions(
        templates or TemplateOptions(),
        integration or IntegrationOptions(),
        calibration or CalibrationOptions(),
    )
    if spec is None:
        spec = challenge_spec(tuple(surrogate.nuisance_names))
    if integration_batches is not None and options.integration.mode != "moments":
        raise ConfigError("integration_batches needs integration='moments'")
    check_parametrisation(surrogate, reference)
    check_statistics(reference, "reference")
    layout = RegionLayout.from_spec(spec)
    if layout.several and options.integration.mode == "moments":
        raise ConfigError(
            f"an analysis with counting regions {list(layout.counting)} needs the integration "
            "events, not their moments: use IntegrationOptions(mode='events')"
        )
    surrogate, recalibrated_events = _calibrated(
        surrogate,
        reference,
        spec,
        options.calibration,
        seed=seed,
        progress=progress,
        independent=reference_independent and checks_elsewhere(reference, health, health_source),
    )
    integ, n_integ, n_batches = _integration_sample(
        surrogate, reference, options.integration, integration_batches, seed=seed
    )
    # several regions: the region of every integration event (the same nominal events)
    labels = layout.labels(reference.nominal()) if layout.several else None
    model = AnalysisModel(spec, surrogate, integ, None, {}, labels)
    baseline = (
        baseline_templates(spec, surrogate, model.scored, reference, options.templates)
        if options.templates.bins
        else None
    )
    meta = {
        "package_version": __version__,
        "seed": seed,
        "bins": options.templates.bins,
        "integration_events": n_integ,
        "integration": options.integration.mode,
        "score_calibration": surrogate.calibration is not None,
        "classifier_recalibrated_events": recalibrated_events,
        "trained": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **_integration_metadata(integ, n_batches, labels, layout),
        "options": options.to_dict(),
    }
    return check_analysis(
        AnalysisModel(spec, surrogate, integ, baseline, meta, labels), reference,
        options=health, health_source=health_source,
        reference_independent=reference_independent and not recalibrated_events
        and not options.calibration.calibrate, seed=seed, progress=progress,
    )  # fmt: skip


def check_statistics(source: VariationSource, what: str) -> dict[str, int]:
    """The selected nominal events of every process; a DataError when one has too few.

    Every process needs at least :data:`MIN_EVENTS_PER_PROCESS` selected nominal events
    in the training and in the reference sample: below that, the classifier's
    calibration split (a fifth of the training) holds under ten events of it and its
    fractions, or its part of the integration sample, carry Monte-Carlo errors of tens
    of per cent that no interval contains.  Above it the health check
    (:func:`~unbinned.analysis.health.check_analysis`) says whether the learned
    densities close.

    Raises
    ------
    DataError
        Naming each short process, its events and the events needed.
    """
    counts = {p: len(source.nominal(p)) for p in source.processes}
    short = {p: n for p, n in counts.items() if n < MIN_EVENTS_PER_PROCESS}
    if short:
        told = ", ".join(f"{p}: {n}" for p, n in short.items())
        raise DataError(
            f"the {what} sample has too few selected events of {list(short)} ({told}); every "
            f"process needs at least {MIN_EVENTS_PER_PROCESS} (its learned density would "
            "otherwise carry Monte-Carlo errors of tens of per cent that no interval "
            f"contains). Fix: simulate or select more events of {list(short)}"
        )
    return counts


def _integration_metadata(
    integ: EventTensors | IntegrationMoments,
    n_batches: int | None,
    labels: Any,
    layout: RegionLayout,
) -> dict[str, Any]:
    """The moments' truncation error (if kept), the batches streamed, the regions' events."""
    out: dict[str, Any] = {}
    if isinstance(integ, IntegrationMoments):
        out["moments_max_rel_error"] = integ.max_rel_error
    out["integration_batches"] = n_batches
    if labels is not None:
        out["region_events"] = {n: int((labels == k).sum()) for k, n in enumerate(layout.names)}
    return out


def _calibrated(
    surrogate: SurrogateModel,
    reference: VariationSource,
    spec: ModelSpec,
    options: CalibrationOptions,
    *,
    seed: int,
    progress: bool,
    independent: bool,
) -> tuple[SurrogateModel, int]:
    """The surrogate recalibrated and score-calibrated as asked; the recalibration's events.

    ``recalibrate_classifier="auto"`` recalibrates when the reference is
    ``independent`` of the training.
    """
    recalibrated_events = 0
    recalibrate = options.recalibrate_classifier
    if recalibrate is True or (recalibrate == "auto" and independent):
        surrogate, recalibrated_events = _recalibrated(surrogate, reference)
    if options.calibrate:
        surrogate = _score_calibrated(
            surrogate, reference, spec, options, seed=seed, progress=progress
        )
    return surrogate, recalibrated_events


def _recalibrated(
    surrogate: SurrogateModel, reference: VariationSource
) -> tuple[SurrogateModel, int]:
    """The surrogate with its classifier recalibrated on the nominal reference; its events."""
    nominal = reference.nominal()
    if len(nominal) == 0:
        raise DataError("the reference has no nominal events to recalibrate the classifier on")
    result = calibrate_classifier(surrogate.classifier, nominal)
    del nominal
    classifier = clf_with_calibration(surrogate.classifier, result)
    return replace(surrogate, classifier=classifier), result.n_events


def _score_calibrated(
    surrogate: SurrogateModel,
    reference: VariationSource,
    spec: ModelSpec,
    options: CalibrationOptions,
    *,
    seed: int,
    progress: bool,
) -> SurrogateModel:
    """The surrogate with the responses' score calibration fitted to the reference."""
    signal = [p.name for p in spec.processes if p.signal]
    if len(signal) != 1:
        raise ConfigError(f"the calibration needs exactly one signal process, got {signal}")
    cal = fit_score_calibration(
        surrogate, reference, signal[0], max_events=options.calibration_events, seed=seed,
        progress=progress, odds=options.calibrate_odds,
    )  # fmt: skip
    return replace(surrogate, calibration=cal)


def _integration_sample(
    surrogate: SurrogateModel,
    reference: VariationSource,
    options: IntegrationOptions,
    batches: Iterable[EventSet] | None,
    *,
    seed: int,
) -> tuple[EventTensors | IntegrationMoments, int, int | None]:
    """The integration tensors or moments, their events, and the batches (None: not given)."""
    integ: EventTensors | IntegrationMoments
    n_batches = None
    if options.mode == "moments":
        # streamed: the per-event tensors of a large reference never exist at once
        acc = MomentAccumulator()
        if surrogate.design is not None:
            acc.set_test_points(surrogate.monomials(nu) for nu in surrogate.design.points)
        n_integ = 0
        n_batches = 0
        for batch in [reference.nominal()] if batches is None else batches:
            for chunk in batch.chunks(EVALUATION_CHUNK):
                acc.add(event_tensors(surrogate, chunk), keep=options.keep, seed=seed)
            n_integ += len(batch)
            n_batches += 1
        if n_integ == 0:
            raise DataError("the integration sample has no events")
        integ = acc.result()
        total = float(integ.m0.sum())
        n_batches = n_batches if batches is not None else None
    else:
        integ = event_tensors(surrogate, reference.nominal())
        n_integ, total = integ.n_events, integ.sum_weights
    if not total > 0:
        raise DataError("the nominal simulation has zero total weight; check the weights")
    return integ, n_integ, n_batches
