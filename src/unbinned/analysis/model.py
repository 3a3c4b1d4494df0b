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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from unbinned.analysis.baseline import baseline_templates, check_parametrisation
from unbinned.analysis.measurement import Measurement, Scan2D, measure_likelihood, scan_2d
from unbinned.analysis.options import AnalysisOptions, TemplateOptions, TemplateReach
from unbinned.analysis.regions import RegionLayout
from unbinned.analysis.storage import read_analysis, write_analysis
from unbinned.binned.histograms import ScoredEvents
from unbinned.binned.likelihood import BinnedLikelihood
from unbinned.binned.templates import RegionTemplates, Templates
from unbinned.data.events import EventSet
from unbinned.exceptions import ConfigError, DataError
from unbinned.likelihood.moments import IntegrationMoments
from unbinned.likelihood.nll import CountingRegion, Likelihood, UnbinnedRegion
from unbinned.likelihood.surrogate import (
    RegionResponse,
    SurrogateResponse,
    event_tensors,
    surrogate_region,
)
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
    integration_regions
        With counting regions: the region of every integration event (an index
        into ``layout.names``, −1 for none; :mod:`unbinned.analysis.regions`).

    Several regions and POIs: one unbinned region plus counting regions
    (:mod:`~unbinned.analysis.regions`); one or more signal processes, each with
    its own rate modifier (e.g. ``mu_ggh`` on ggH, ``mu_vbf`` on VBF).
    :meth:`measure` returns the measurement of the first POI (or ``poi=``), with
    every POI's in :attr:`Measurement.pois <unbinned.analysis.Measurement.pois>`.
    The binned baseline of several signals histograms the signal fraction in one
    category per signal process (the most probable one; :meth:`scored`).
    """

    spec: ModelSpec
    surrogate: SurrogateLike
    integration: EventTensors | IntegrationMoments
    templates: Templates | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    integration_regions: npt.NDArray[np.int64] | None = None

    def __post_init__(self) -> None:
        missing = [p for p in self.surrogate.processes if p not in self.spec.process_names]
        if missing:
            raise ConfigError(
                f"the surrogate's process(es) {missing} are not declared in the model "
                f"({list(self.spec.process_names)})"
            )
        self.layout = RegionLayout.from_spec(self.spec)
        self.region = self.layout.unbinned
        signals = [p.name for p in self.spec.processes if p.signal]
        if not signals:
            raise ConfigError("an AnalysisModel needs a signal process; the model declares none")
        self.signals: tuple[str, ...] = tuple(signals)
        self.signal = signals[0]
        self.pois: tuple[str, ...] = tuple(self.spec.poi_names)
        self.poi = self.pois[0]
        if self.layout.several:
            self._check_regions()

    def _check_regions(self) -> None:
        """Several regions: integration events (not moments) with a region label each."""
        if isinstance(self.integration, IntegrationMoments):
            raise ConfigError(
                "an analysis with counting regions needs the integration events, not their "
                "moments; build it with IntegrationOptions(mode='events')"
            )
        labels = self.integration_regions
        if labels is None or np.shape(labels) != (self.integration.n_events,):
            raise ConfigError(
                f"an analysis with regions {list(self.layout.names)} needs the region of every "
                "integration event (integration_regions); build it with build_analysis"
            )

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

    def _split(
        self, events: Events, tensors: EventTensors | None = None
    ) -> dict[str, EventTensors]:
        """The per-event tensors of ``events`` (``tensors`` if given) per region."""
        tensors = self.tensors(events) if tensors is None else tensors
        if not self.layout.several:
            return {self.region: tensors}
        labels = self._labels(events)
        return {name: tensors.select(labels == k) for k, name in enumerate(self.layout.names)}

    def _labels(self, events: Events) -> npt.NDArray[np.int64]:
        """The region of every event (several regions: their selections read the columns)."""
        if isinstance(events, EventTensors):
            raise ConfigError(
                f"an analysis with regions {list(self.layout.names)} selects events by their "
                "columns; give an EventSet or a DataFrame, not EventTensors"
            )
        return self.layout.labels(events)

    def _regions(
        self, parts: Mapping[str, EventTensors], asimov: bool = False
    ) -> list[UnbinnedRegion | CountingRegion]:
        """The likelihood's regions of the data ``parts`` (one per region name).

        ``asimov``: the data are the integration events (the Asimov construction
        reweights them), so with moments their kept sample is also the integration.
        """
        if not self.layout.several:
            data = parts[self.region]
            return [self._region(data, integration=data if asimov else None)]
        integ = self._integration_events()
        labels = self.integration_regions
        assert labels is not None
        base = SurrogateResponse(self.surrogate) if len(self.surrogate.nuisance_names) else None
        procs = tuple(self.surrogate.processes)
        out: list[UnbinnedRegion | CountingRegion] = []
        for k, name in enumerate(self.layout.names):
            sub = integ.select(labels == k)
            if sub.n_events == 0:
                raise DataError(
                    f"region {name!r} holds none of the integration events; check its selection"
                )
            resp = None if base is None else RegionResponse(base, sub, integ)
            if name == self.region:
                out.append(UnbinnedRegion(name, procs, parts[name], integration=sub,
                                          response=resp, normalised=resp is not None))  # fmt: skip
            else:
                nominal = (sub.fractions * sub.weights[:, None]).sum(0)
                out.append(CountingRegion(name, procs, parts[name].sum_weights, nominal, resp))
        return out

    def likelihood(self, events: Events) -> Likelihood:
        """The unbinned likelihood of ``events`` (with the counting regions' counts).

        Each process's learned shape is normalised over the integration sample
        (``UnbinnedRegion(normalised=True)``): its expected yield is f_p Y_p(ν) s_p
        with s_p the classifier-weighted nominal yield, the yield change coming from
        the yield model alone.  A shape network that does not average to one over the
        nominal density by a few 10⁻³ would otherwise shift the expected yield of 10⁶
        events by more than the whole signal.  With counting regions, Y_p(ν) of each
        region is corrected by the change of its learned acceptance
        (:class:`~unbinned.likelihood.RegionResponse`).
        """
        return Likelihood(self.spec, self._regions(self._split(events)))

    def scored(self, events: Events) -> ScoredEvents:
        """The events reduced to the binned analysis's score and weights (and region labels).

        One signal process: the score is its fraction c_sig(x).  Several: the events
        fall in one category per signal process, the k-th where that process has the
        largest fraction, and the score is 2k + Σ_signal c_p(x) (categories apart by
        one unit, binned each on its own: :mod:`unbinned.analysis.baseline`).
        """
        if isinstance(events, EventSet) and len(events) > EVALUATION_CHUNK:
            # in chunks: the (N, P, M) tensors of a large sample need not exist at once
            parts = [self.scored(chunk) for chunk in events.chunks(EVALUATION_CHUNK)]
            region = None if parts[0].region is None else np.concatenate([p.region for p in parts])
            return ScoredEvents(np.concatenate([p.score for p in parts]),
                                np.concatenate([p.weights for p in parts]),
                                region=region)  # fmt: skip
        t = self.tensors(events)
        idx = [list(self.surrogate.processes).index(p) for p in self.signals]
        sig = t.fractions[:, idx]
        score = sig.sum(1)
        if len(idx) > 1:
            score = score + 2.0 * np.argmax(sig, axis=1)
        region = None
        if self.layout.several:
            names = np.array([*self.layout.names, ""], dtype=object)
            region = names[self._labels(events)]  # -1 → "": in no region
        return ScoredEvents(score, t.weights, region=region)

    def binned_likelihood(self, events: Events) -> BinnedLikelihood:
        """The binned baseline's likelihood of ``events`` (same classifier, same constraints)."""
        if self.templates is None:
            raise ConfigError("this analysis was trained without the binned baseline (bins=0)")
        observed = self.templates.histogram_observed(self.scored(events))
        return BinnedLikelihood(self.spec, self.templates, observed)

    # ------------------------------------------------------------------ measuring
    def _poi_name(self, poi: str | None) -> str:
        """The POI a measurement is of (default the first), checked."""
        name = self.poi if poi is None else poi
        if name not in self.pois:
            raise ConfigError(f"poi={poi!r} is not a parameter of interest; the model has "
                              f"{list(self.pois)}")  # fmt: skip
        return name

    def measure(
        self,
        events: Events,
        *,
        binned: bool = True,
        cl: float = 0.6827,
        seed: int = 0,
        poi: str | None = None,
    ) -> Measurement:
        """Fit ``events`` and return the profiled interval of the POI (and the binned one).

        Parameters
        ----------
        events
            Observed or pseudo data: EventSet, DataFrame with the feature columns
            (weights 1 unless a ``weights`` column is given), or EventTensors (one
            region only: the selections of several read the columns).
        binned
            Also measure with the binned baseline on the same events.
        cl
            Confidence level (0.6827 = one sigma).
        seed
            Seed of restarts in the fits (the result is deterministic).
        poi
            Which POI the returned measurement is of (default: the first).  With
            several POIs every one is measured from the same fit, in ``.pois``
            (``m["mu_vbf"]``), and ``m.correlation_of(a, b)`` is their correlation.
        """
        name = self._poi_name(poi)
        tensors = self.tensors(events)
        parts = self._split(events, tensors)
        n = float(sum(t.sum_weights for t in parts.values()))
        lik = Likelihood(self.spec, self._regions(parts))
        out = measure_likelihood(lik, name, cl, seed, "unbinned", None, n, pois=self.pois)
        if binned and self.templates is not None:
            # one region: the tensors as they are; several: the events (their columns select)
            blik = self.binned_likelihood(events if self.layout.several else tensors)
            b = measure_likelihood(blik, name, cl, seed, "binned", None, n, pois=self.pois)
            out = replace(out, binned=replace(b, counts=dict(blik.observed)))
        return replace(out, warnings=self.warnings, notes=self.notes)

    def measure_counts(
        self,
        counts: Mapping[str, npt.ArrayLike],
        *,
        cl: float = 0.6827,
        seed: int = 0,
        poi: str | None = None,
    ) -> Measurement:
        """The binned baseline's measurement from observed counts per region.

        ``counts`` maps every template region to its counts in the template bins, as
        :attr:`Measurement.counts` of a binned measurement holds them: the binned fit
        of a dataset can be redone (e.g. after the templates changed) without its
        events.
        """
        if self.templates is None:
            raise ConfigError("this analysis was trained without the binned baseline (bins=0)")
        name = self._poi_name(poi)
        observed = {str(k): np.asarray(v, dtype=np.float64) for k, v in counts.items()}
        lik = BinnedLikelihood(self.spec, self.templates, observed)
        n = float(sum(c.sum() for c in observed.values()))
        m = measure_likelihood(lik, name, cl, seed, "binned", None, n_events=n, pois=self.pois)
        return replace(m, counts=observed, warnings=self.warnings, notes=self.notes)

    def asimov_likelihood(
        self, theta: Mapping[str, float] | None = None, *, binned: bool = False
    ) -> Likelihood | BinnedLikelihood:
        """The likelihood of the Asimov dataset at θ (default: the start values)."""
        if binned:
            if self.templates is None:
                raise ConfigError("this analysis was trained without the binned baseline (bins=0)")
            blik = BinnedLikelihood(self.spec, self.templates, "asimov")
            return blik.asimov(blik.vector(dict(theta or {})))
        # the Asimov dataset reweights integration events; with moments it is their kept
        # sample, which then also serves as the integration, so that the fit returns θ
        events = self._integration_events()
        if self.layout.several:
            labels = self.integration_regions
            assert labels is not None
            parts = {n: events.select(labels == k) for k, n in enumerate(self.layout.names)}
        else:
            parts = {self.region: events}
        lik = Likelihood(self.spec, self._regions(parts, asimov=True))
        return lik.asimov(lik.vector(dict(theta or {})))

    def measure_asimov(
        self,
        theta: Mapping[str, float] | None = None,
        *,
        binned: bool = True,
        cl: float = 0.6827,
        poi: str | None = None,
    ) -> Measurement:
        """The expected measurement: fit the Asimov dataset at θ (default: the start values)."""
        name = self._poi_name(poi)
        asimov = self.asimov_likelihood(theta)
        assert isinstance(asimov, Likelihood)
        point = asimov.vector(dict(theta or {}))
        n = float(sum(v.sum() for v in asimov.expected_yields(point).values()))
        out = measure_likelihood(asimov, name, cl, 0, "unbinned", None, n, pois=self.pois)
        if binned and self.templates is not None:
            blik = self.asimov_likelihood(theta, binned=True)
            b = measure_likelihood(blik, name, cl, 0, "binned", None, n, pois=self.pois)
            out = replace(out, binned=b)
        return replace(out, warnings=self.warnings, notes=self.notes)

    def scan_2d(
        self,
        values: tuple[npt.ArrayLike, npt.ArrayLike],
        events: Events | None = None,
        *,
        pois: tuple[str, str] | None = None,
        binned: bool = False,
        seed: int = 0,
    ) -> Scan2D:
        """The profiled Δq on a grid of two POIs (:func:`~unbinned.infer.profile_scan_2d`).

        ``events`` None: the Asimov dataset at the start values (the expected
        contours); ``pois`` defaults to the first two; ``binned`` scans the binned
        baseline instead.  Every other parameter is profiled at each point.
        """
        names = pois if pois is not None else tuple(self.pois[:2])
        if len(names) != 2 or any(p not in self.pois for p in names):
            raise ConfigError(f"pois={pois!r}: expected two of the model's POIs {list(self.pois)}")
        lik: Likelihood | BinnedLikelihood
        if events is None:
            lik = self.asimov_likelihood(binned=binned)
        else:
            lik = self.binned_likelihood(events) if binned else self.likelihood(events)
        return scan_2d(lik, (names[0], names[1]), values, seed=seed,
                       method="binned" if binned else "unbinned")  # fmt: skip

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
            bins = int(self.metadata.get("bins") or self.templates.regions[0].n_bins)
        if not isinstance(bins, int) or bins < 1:
            raise ConfigError(f"bins={bins!r}; expected a positive integer")
        options = TemplateOptions(bins=bins, powered=powered_templates, reach=template_reach)
        check_parametrisation(self.surrogate, reference)
        templates = baseline_templates(self.spec, self.surrogate, self.scored, reference, options)
        recorded = replace(self.options, templates=options)
        meta = {**self.metadata, "bins": bins, "options": recorded.to_dict()}
        return AnalysisModel(self.spec, self.surrogate, self.integration, templates, meta,
                             self.integration_regions)  # fmt: skip

    def with_health(self, report: _Report) -> AnalysisModel:
        """The same analysis with a health report recorded in its metadata.

        ``report`` (:func:`~unbinned.analysis.surrogate_health`) is kept as JSON under
        ``"health"``; its failed checks become the :attr:`warnings` of the analysis
        and of every measurement (:meth:`measure`, :meth:`measure_counts`,
        :meth:`measure_asimov`).
        """
        return replace(self, metadata={**self.metadata, "health": report.to_dict()})

    def with_health_skipped(self, reason: str, options: Any = None) -> AnalysisModel:
        """The same analysis with the reason why no health report was run recorded.

        Kept under ``"health"`` as ``{"skipped": reason, "warnings": []}`` (and the
        :class:`~unbinned.analysis.HealthOptions` as a dict, when given); the reason
        is a :attr:`notes` line of the analysis and of every measurement.
        """
        entry: dict[str, Any] = {"skipped": str(reason), "warnings": []}
        if options is not None:
            entry["options"] = {k: (list(map(list, v)) if k == "points" and v is not None else v)
                                for k, v in asdict(options).items()}  # fmt: skip
        return replace(self, metadata={**self.metadata, "health": entry})

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
    def notes(self) -> tuple[str, ...]:
        """What a measurement's reader should know: a health check that was not run, and why."""
        skipped = (self.health or {}).get("skipped")
        return () if skipped is None else (f"surrogate health check not run: {skipped}",)

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
        return AnalysisModel(self.spec, self.surrogate, integ, templates, meta,
                             self.integration_regions)  # fmt: skip

    def __repr__(self) -> str:
        bins = "none" if self.templates is None else str(self.templates.regions[0].n_bins)
        poi = f"POI {self.poi!r}" if len(self.pois) == 1 else f"POIs {list(self.pois)}"
        regions = f"regions {list(self.layout.names)}, " if self.layout.several else ""
        return (
            f"AnalysisModel({poi}, {regions}processes {list(self.surrogate.processes)}, "
            f"shape nuisances {list(self.surrogate.nuisance_names)}, integration sample "
            f"{self.integration.n_events} events"
            f"{' (moments)' if isinstance(self.integration, IntegrationMoments) else ''}, "
            f"binned baseline bins: {bins}{self._health_summary()})"
        )

    def _health_summary(self) -> str:
        """``", health: ..."`` for the repr (empty when no check was recorded)."""
        h = self.health
        if h is None:
            return ""
        if "skipped" in h:
            return ", health check not run"
        n = len(h.get("warnings", ()))
        return ", health: passed" if not n else f", health: {n} failed check(s)"

    # ------------------------------------------------------------------ files
    def save(self, directory: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the analysis to ``directory`` (:mod:`~unbinned.analysis.storage`), atomically."""
        return write_analysis(
            Path(directory), self.spec, self.surrogate, self.integration, self.templates,
            self.metadata, overwrite=overwrite, integration_regions=self.integration_regions,
        )  # fmt: skip

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> AnalysisModel:
        """Read an analysis written by :meth:`save`, verifying checksums (never unpickles)."""
        return cls(*read_analysis(Path(directory)))
