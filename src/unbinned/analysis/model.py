r"""A trained analysis: the learned surrogates, the model declaration, and how to measure.

An :class:`AnalysisModel` (made by :func:`~unbinned.analysis.train_analysis` or
:func:`~unbinned.analysis.build_analysis`) holds

1. the surrogates of DESIGN.md §3 (:func:`~unbinned.ml.train_surrogate`): the
   calibrated classifier c_p(x) and the response networks Δ_p(x) with the yield
   models Y_p(ν);
2. the *integration* tensors: the per-event tensors of the nominal simulation
   (weights = expected events), over which the expected yield σ(θ) of the learned
   density is integrated, so that it is consistent with the learned densities;
3. the binned baseline of the same analysis: the classifier's signal fraction
   c_sig(x) histogrammed in bins of equal expected signal, with HistFactory
   templates from the simulation at nominal and at ±1σ of every shape nuisance
   (:mod:`unbinned.binned`, :mod:`unbinned.analysis.baseline`).

:meth:`AnalysisModel.measure` then evaluates the surrogates once on the data,
builds the unbinned :class:`~unbinned.likelihood.Likelihood` (and the binned
one from the same per-event fractions), fits with the exact gradient and
Hessian (:func:`~unbinned.infer.fit`) and returns the profiled interval of the
parameter of interest (:func:`~unbinned.infer.profile_interval`), each fit's
validity included (:class:`~unbinned.analysis.measurement.Measurement`).

Model files: :mod:`unbinned.analysis.storage` (safetensors + JSON, checksums
verified on loading; never pickle).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from unbinned.analysis.baseline import baseline_templates, check_parametrisation
from unbinned.analysis.measurement import Measurement, measure_likelihood
from unbinned.analysis.options import AnalysisOptions, TemplateOptions, TemplateReach
from unbinned.analysis.storage import read_analysis, write_analysis
from unbinned.binned.histograms import ScoredEvents
from unbinned.binned.likelihood import BinnedLikelihood
from unbinned.binned.templates import RegionTemplates, Templates
from unbinned.data.events import EventSet
from unbinned.exceptions import ConfigError
from unbinned.likelihood.moments import IntegrationMoments
from unbinned.likelihood.nll import Likelihood, UnbinnedRegion
from unbinned.likelihood.surrogate import event_tensors, surrogate_region
from unbinned.likelihood.tensors import EventTensors
from unbinned.ml.sources import VariationSource
from unbinned.ml.surrogate import SurrogateLike
from unbinned.model.spec import ModelSpec

__all__ = ["EVALUATION_CHUNK", "AnalysisModel", "Measurement"]

FloatArray = npt.NDArray[np.float64]
Events = EventSet | pd.DataFrame | EventTensors
"""What the measuring methods accept: an EventSet, a DataFrame of the features, or tensors."""
EVALUATION_CHUNK = 200_000
"""Events per chunk when a large sample is evaluated (bounds the (N, P, M) tensors)."""


class _Report(Protocol):
    """What :meth:`AnalysisModel.with_health` records: a health report.

    A :class:`~unbinned.analysis.HealthReport`, typed by its one member used here
    (:mod:`~unbinned.analysis.health` imports this module).
    """

    def to_dict(self) -> dict[str, Any]: ...


@dataclass(eq=False, repr=False)
class AnalysisModel:
    """A trained analysis (module docstring): surrogates, declaration, binned baseline.

    Parameters
    ----------
    spec
        The model declaration (its processes are the surrogate's; one unbinned region).
    surrogate
        The trained :class:`~unbinned.ml.SurrogateModel` (any
        :class:`~unbinned.ml.surrogate.SurrogateLike`).
    integration
        Per-event tensors of the nominal simulation (weights = expected events), or
        their moments (:class:`~unbinned.likelihood.moments.IntegrationMoments`, for
        a large sample: the fit's cost then does not grow with it).
    templates
        The binned baseline's templates, or None.
    metadata
        Provenance (package version, seeds, settings), and under ``"health"`` the
        surrogates' health report when one was run (:meth:`with_health`).
    """

    spec: ModelSpec
    surrogate: SurrogateLike
    integration: EventTensors | IntegrationMoments
    templates: Templates | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [p for p in self.surrogate.processes if p not in self.spec.process_names]
        if missing:
            raise ConfigError(
                f"the surrogate's process(es) {missing} are not declared in the model "
                f"({list(self.spec.process_names)})"
            )
        unbinned = [r.name for r in self.spec.regions if r.kind == "unbinned"]
        if len(unbinned) != 1:
            raise ConfigError(
                f"an AnalysisModel has one unbinned region; the model declares {unbinned}"
            )
        self.region = unbinned[0]
        signal = [p.name for p in self.spec.processes if p.signal]
        if len(signal) != 1:
            raise ConfigError(f"an AnalysisModel needs exactly one signal process, got {signal}")
        self.signal = signal[0]
        self.poi = self.spec.poi_names[0]

    # ------------------------------------------------------------------ data
    def tensors(self, events: Events) -> EventTensors:
        """Per-event tensors of ``events`` (EventSet, DataFrame, or EventTensors as they are)."""
        if isinstance(events, EventTensors):
            return events
        return event_tensors(self.surrogate, events)

    def _integration_events(self) -> EventTensors:
        integ = self.integration
        if isinstance(integ, IntegrationMoments):
            if integ.sample is None:
                raise ConfigError("the integration moments were kept without an event sample")
            return integ.sample
        return integ

    def _region(
        self, tensors: EventTensors, integration: EventTensors | None = None
    ) -> UnbinnedRegion:
        integ = self.integration if integration is None else integration
        region = surrogate_region(self.surrogate, tensors, name=self.region, integration=integ)
        return replace(region, normalised=region.response is not None)

    def likelihood(self, events: Events) -> Likelihood:
        """The unbinned likelihood of ``events``.

        Each process's learned shape is normalised over the integration sample
        (``UnbinnedRegion(normalised=True)``): its expected yield is f_p Y_p(ν) s_p
        with s_p the classifier-weighted nominal yield, the yield change coming from
        the yield model alone.  A shape network that does not average to one over the
        nominal density by a few 10⁻³ would otherwise shift the expected yield of 10⁶
        events by more than the whole signal.
        """
        return Likelihood(self.spec, [self._region(self.tensors(events))])

    def scored(self, events: Events) -> ScoredEvents:
        """The events reduced to the binned analysis's score c_sig(x) and weights."""
        k = list(self.surrogate.processes).index(self.signal)
        if isinstance(events, EventSet) and len(events) > EVALUATION_CHUNK:
            # in chunks: the (N, P, M) tensors of a large sample need not exist at once
            parts = [self.scored(chunk) for chunk in events.chunks(EVALUATION_CHUNK)]
            return ScoredEvents(np.concatenate([p.score for p in parts]),
                                np.concatenate([p.weights for p in parts]))  # fmt: skip
        t = self.tensors(events)
        return ScoredEvents(t.fractions[:, k], t.weights)

    def binned_likelihood(self, events: Events) -> BinnedLikelihood:
        """The binned baseline's likelihood of ``events`` (same classifier, same constraints)."""
        if self.templates is None:
            raise ConfigError("this analysis was trained without the binned baseline (bins=0)")
        observed = self.templates.histogram_observed(self.scored(events))
        return BinnedLikelihood(self.spec, self.templates, observed)

    # ------------------------------------------------------------------ measuring
    def measure(
        self,
        events: Events,
        *,
        binned: bool = True,
        cl: float = 0.6827,
        seed: int = 0,
    ) -> Measurement:
        """Fit ``events`` and return the profiled interval of the POI (and the binned one).

        Parameters
        ----------
        events
            Observed or pseudo data: EventSet, DataFrame with the feature columns
            (weights 1 unless a ``weights`` column is given), or EventTensors.
        binned
            Also measure with the binned baseline on the same events.
        cl
            Confidence level (0.6827 = one sigma).
        seed
            Seed of restarts in the fits (the result is deterministic).
        """
        tensors = self.tensors(events)
        out = measure_likelihood(self.likelihood(tensors), self.poi, cl, seed, "unbinned", tensors)
        if binned and self.templates is not None:
            blik = self.binned_likelihood(tensors)
            b = measure_likelihood(blik, self.poi, cl, seed, "binned", tensors)
            out = replace(out, binned=replace(b, counts=dict(blik.observed)))
        return replace(out, warnings=self.warnings)

    def measure_counts(
        self,
        counts: Mapping[str, npt.ArrayLike],
        *,
        cl: float = 0.6827,
        seed: int = 0,
    ) -> Measurement:
        """The binned baseline's measurement from observed counts per region.

        ``counts`` maps every template region to its counts in the template bins, as
        :attr:`Measurement.counts` of a binned measurement holds them: the binned fit
        of a dataset can be redone (e.g. after the templates changed) without its
        events.
        """
        if self.templates is None:
            raise ConfigError("this analysis was trained without the binned baseline (bins=0)")
        observed = {str(k): np.asarray(v, dtype=np.float64) for k, v in counts.items()}
        lik = BinnedLikelihood(self.spec, self.templates, observed)
        n = float(sum(c.sum() for c in observed.values()))
        m = measure_likelihood(lik, self.poi, cl, seed, "binned", None, n_events=n)
        return replace(m, counts=observed, warnings=self.warnings)

    def measure_asimov(
        self,
        theta: Mapping[str, float] | None = None,
        *,
        binned: bool = True,
        cl: float = 0.6827,
    ) -> Measurement:
        """The expected measurement: fit the Asimov dataset at θ (default: the start values)."""
        # the Asimov dataset reweights integration events; with moments it is their kept
        # sample, which then also serves as the integration, so that the fit returns θ
        events = self._integration_events()
        lik = Likelihood(self.spec, [self._region(events, integration=events)])
        point = lik.vector(dict(theta or {}))
        asimov = lik.asimov(point)
        n = float(sum(v.sum() for v in asimov.expected_yields(point).values()))
        out = measure_likelihood(asimov, self.poi, cl, 0, "unbinned", None, n_events=n)
        if binned and self.templates is not None:
            blik = BinnedLikelihood(self.spec, self.templates, "asimov").asimov(point)
            out = replace(
                out, binned=measure_likelihood(blik, self.poi, cl, 0, "binned", None, n_events=n)
            )
        return replace(out, warnings=self.warnings)

    def with_templates(
        self,
        reference: VariationSource,
        bins: int | None = None,
        *,
        powered_templates: bool = False,
        template_reach: TemplateReach = "auto",
    ) -> AnalysisModel:
        """The same analysis with the binned baseline's templates rebuilt from ``reference``.

        ``reference`` is nominal and varied simulation as in
        :func:`~unbinned.analysis.build_analysis` (e.g. the same sample, to rebuild the
        templates after their construction changed); ``bins`` defaults to the current
        number; ``powered_templates`` and ``template_reach`` are ``powered`` and
        ``reach`` of :class:`~unbinned.analysis.options.TemplateOptions`.  The unbinned
        model is unchanged; the metadata records the new template options.
        """
        if bins is None:
            if self.templates is None:
                raise ConfigError("this analysis has no binned baseline; give bins=")
            bins = self.templates.regions[0].n_bins
        if not isinstance(bins, int) or bins < 1:
            raise ConfigError(f"bins={bins!r}; expected a positive integer")
        options = TemplateOptions(bins=bins, powered=powered_templates, reach=template_reach)
        check_parametrisation(self.surrogate, reference)
        templates = baseline_templates(self.spec, self.surrogate, self.scored, reference, options)
        recorded = replace(self.options, templates=options)
        meta = {**self.metadata, "bins": bins, "options": recorded.to_dict()}
        return AnalysisModel(self.spec, self.surrogate, self.integration, templates, meta)

    def with_health(self, report: _Report) -> AnalysisModel:
        """The same analysis with a health report recorded in its metadata.

        ``report`` (:func:`~unbinned.analysis.surrogate_health`) is kept as JSON under
        ``"health"``; its failed checks become the :attr:`warnings` of the analysis
        and of every measurement (:meth:`measure`, :meth:`measure_counts`,
        :meth:`measure_asimov`).
        """
        return replace(self, metadata={**self.metadata, "health": report.to_dict()})

    @property
    def health(self) -> dict[str, Any] | None:
        """The recorded health report as a dict, or None when none was run.

        (:meth:`HealthReport.to_dict <unbinned.analysis.HealthReport.to_dict>`.)
        """
        h = self.metadata.get("health")
        return dict(h) if isinstance(h, Mapping) else None

    @property
    def warnings(self) -> tuple[str, ...]:
        """The failed self-checks of the recorded health report (empty: none failed or none run)."""
        return tuple(str(w) for w in (self.health or {}).get("warnings", ()))

    @property
    def options(self) -> AnalysisOptions:
        """The option groups the analysis was built with, as its metadata records them.

        An analysis saved before they were recorded: those its metadata implies, the
        others at their defaults (:meth:`AnalysisOptions.from_metadata
        <unbinned.analysis.options.AnalysisOptions.from_metadata>`).
        """
        return AnalysisOptions.from_metadata(self.metadata)

    def scaled(self, luminosity_scale: float) -> AnalysisModel:
        """The same analysis for ``luminosity_scale`` times the integrated luminosity.

        Multiplies the expected events: the integration weights and the templates
        (their Monte-Carlo variances by the square).
        """
        s = float(luminosity_scale)
        if not (math.isfinite(s) and s > 0):
            raise ConfigError(f"luminosity_scale={luminosity_scale!r}; expected a positive number")
        integ: EventTensors | IntegrationMoments
        if isinstance(self.integration, IntegrationMoments):
            mo = self.integration
            sample = None if mo.sample is None else mo.sample.with_weights(mo.sample.weights * s)
            integ = IntegrationMoments(mo.m0 * s, mo.m1 * s, mo.m2 * s, mo.m3 * s, mo.m4 * s,
                                       mo.n_events, mo.max_rel_error, sample)  # fmt: skip
        else:
            integ = self.integration.with_weights(self.integration.weights * s)
        templates = None
        if self.templates is not None:
            regions = tuple(
                RegionTemplates(
                    r.name, r.edges, r.processes, r.nominal * s, r.sumw2 * s**2,
                    {k: v * s for k, v in r.down.items()}, {k: v * s for k, v in r.up.items()},
                )
                for r in self.templates.regions
            )  # fmt: skip
            templates = Templates(
                regions,
                self.templates.shape_nuisances,
                self.templates.variation_points,
                self.templates.parametrisation,
                self.templates.secants,
            )
        meta = {**self.metadata, "luminosity_scale": s * self.metadata.get("luminosity_scale", 1.0)}
        return AnalysisModel(self.spec, self.surrogate, integ, templates, meta)

    def __repr__(self) -> str:
        bins = "none" if self.templates is None else str(self.templates.regions[0].n_bins)
        return (
            f"AnalysisModel(POI {self.poi!r}, processes {list(self.surrogate.processes)}, "
            f"shape nuisances {list(self.surrogate.nuisance_names)}, integration sample "
            f"{self.integration.n_events} events"
            f"{' (moments)' if isinstance(self.integration, IntegrationMoments) else ''}, "
            f"binned baseline bins: {bins})"
        )

    # ------------------------------------------------------------------ files
    def save(self, directory: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the analysis to ``directory`` (:mod:`~unbinned.analysis.storage`), atomically."""
        return write_analysis(
            Path(directory), self.spec, self.surrogate, self.integration, self.templates,
            self.metadata, overwrite=overwrite,
        )  # fmt: skip

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> AnalysisModel:
        """Read an analysis written by :meth:`save`, verifying checksums (never unpickles)."""
        return cls(*read_analysis(Path(directory)))
