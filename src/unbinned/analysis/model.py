r"""A trained analysis: the learned surrogates, the model declaration, and how to measure.

:func:`train_analysis` turns simulation (a :class:`~unbinned.ml.sources.VariationSource`)
into an :class:`AnalysisModel`:

1. the surrogates of DESIGN.md §3 (:func:`~unbinned.ml.train_surrogate`): the
   calibrated classifier c_p(x) and the response networks Δ_p(x) with the yield
   models Y_p(ν);
2. the *integration* tensors: the per-event tensors of the nominal simulation
   (weights = expected events), over which the expected yield σ(θ) of the learned
   density is integrated, so that it is consistent with the learned densities;
3. the binned baseline of the same analysis: the classifier's signal fraction
   c_sig(x) histogrammed in ``bins`` bins of equal expected signal, with
   HistFactory templates from the simulation at nominal and at ±1σ of every shape
   nuisance (:mod:`unbinned.binned`).

:meth:`AnalysisModel.measure` then evaluates the surrogates once on the data,
builds the unbinned :class:`~unbinned.likelihood.Likelihood` (and the binned
one from the same per-event fractions), fits with the exact gradient and
Hessian (:func:`~unbinned.infer.fit`) and returns the profiled interval of the
parameter of interest (:func:`~unbinned.infer.profile_interval`), each fit's
validity included.

Model files: a directory with the surrogate's own directory (safetensors + JSON),
``spec.yaml``, ``tensors.safetensors`` (integration tensors and templates) and
``analysis.json`` (metadata and the SHA-256 of every file, checked on loading).
Never pickle.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from unbinned._io import atomic_path, atomic_write_text
from unbinned._version import __version__
from unbinned.binned.histograms import ScoredEvents
from unbinned.binned.likelihood import BinnedLikelihood
from unbinned.binned.templates import (
    RegionTemplates,
    Templates,
    build_templates,
    template_points,
    with_secant_up,
)
from unbinned.data.events import EventSet
from unbinned.exceptions import ConfigError, DataError, ModelFileError
from unbinned.infer.intervals import Interval, profile_interval
from unbinned.infer.mle import FitResult, fit
from unbinned.likelihood.moments import IntegrationMoments, MomentAccumulator
from unbinned.likelihood.nll import Likelihood, UnbinnedRegion
from unbinned.likelihood.surrogate import event_tensors, surrogate_region
from unbinned.likelihood.tensors import EventTensors
from unbinned.ml.serialization import _sha256_file
from unbinned.model.spec import ModelSpec

__all__ = ["AnalysisModel", "Measurement", "build_analysis", "train_analysis"]

FloatArray = npt.NDArray[np.float64]
_FORMAT = "unbinned-analysis"
_CHUNK = 200_000
"""Events per chunk when a large sample is evaluated (bounds the (N, P, M) tensors)."""
_FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)
class Measurement:
    """The measurement of a parameter of interest on one dataset.

    Attributes
    ----------
    poi
        Parameter name.
    value, lower, upper
        Best fit and the profiled interval at ``cl`` (every other parameter
        profiled).
    cl
        Confidence level of the interval.
    method
        ``"unbinned"`` or ``"binned"``.
    valid
        The fit and both interval edges are valid.
    fit
        The global fit (all parameters, covariance, status).
    interval
        The interval object (method used, notes).
    n_events
        Events (sum of weights) in the data.
    seconds
        Wall time of fit + interval.
    binned
        The binned baseline's measurement on the same data, if asked for.
    counts
        For a binned measurement, the observed counts per region in the template
        bins: with them the binned fit can be redone (another template model, the
        same binning) without the events.
    """

    poi: str
    value: float
    lower: float
    upper: float
    cl: float
    method: str
    valid: bool
    fit: FitResult = field(repr=False)
    interval: Interval = field(repr=False)
    n_events: float
    seconds: float
    binned: Measurement | None = None
    counts: Mapping[str, FloatArray] | None = field(default=None, repr=False)

    @property
    def lo(self) -> float:
        """Lower interval edge (alias of ``lower``)."""
        return self.lower

    @property
    def hi(self) -> float:
        """Upper interval edge (alias of ``upper``)."""
        return self.upper

    @property
    def width(self) -> float:
        """upper - lower."""
        return self.upper - self.lower

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers (JSON-ready), the binned baseline's under ``"binned"``."""
        out: dict[str, Any] = {
            "poi": self.poi,
            "value": self.value,
            "lower": self.lower,
            "upper": self.upper,
            "width": self.width,
            "cl": self.cl,
            "method": self.method,
            "valid": self.valid,
            "status": self.fit.status,
            "interval_method": self.interval.method,
            "n_events": self.n_events,
            "seconds": self.seconds,
            "parameters": dict(self.fit.values),
            "errors": dict(self.fit.errors),
        }
        if self.binned is not None:
            out["binned"] = self.binned.to_dict()
        return out

    def _row(self) -> str:
        lo, hi = self.value - self.lower, self.upper - self.value
        flag = "" if self.valid else "  INVALID"
        return (
            f"  {self.method:<9}{self.value:>10.4f}{-lo:>+10.4f}{hi:>+10.4f}"
            f"{self.width:>10.4f}{self.seconds:>9.2f} s{flag}"
        )

    def __repr__(self) -> str:
        head = (
            f"Measurement({self.poi} at {100 * self.cl:.3g}% CL, {self.n_events:.6g} events)\n"
            f"  {'method':<9}{'value':>10}{'-err':>10}{'+err':>10}{'width':>10}{'time':>11}"
        )
        rows = [self._row()] + ([self.binned._row()] if self.binned is not None else [])
        if self.binned is not None and self.binned.width > 0:
            rows.append(f"  width ratio unbinned/binned: {self.width / self.binned.width:.3f}")
        return "\n".join([head, *rows])

    def _repr_html_(self) -> str:
        rows = [self] + ([self.binned] if self.binned is not None else [])
        body = "".join(
            f"<tr><td>{m.method}</td><td>{m.value:.4f}</td><td>[{m.lower:.4f}, {m.upper:.4f}]"
            f"</td><td>{m.width:.4f}</td><td>{'valid' if m.valid else 'INVALID'}</td></tr>"
            for m in rows
        )
        return (
            f"<table><tr><th colspan=5>{self.poi} at {100 * self.cl:.3g}% CL</th></tr>"
            "<tr><th>method</th><th>value</th><th>interval</th><th>width</th><th>fit</th></tr>"
            f"{body}</table>"
        )


@dataclass(eq=False, repr=False)
class AnalysisModel:
    """A trained analysis (module docstring): surrogates, declaration, binned baseline.

    Parameters
    ----------
    spec
        The model declaration (its processes are the surrogate's; one unbinned region).
    surrogate
        The trained :class:`~unbinned.ml.SurrogateModel`.
    integration
        Per-event tensors of the nominal simulation (weights = expected events), or
        their moments (:class:`~unbinned.likelihood.moments.IntegrationMoments`, for
        a large sample: the fit's cost then does not grow with it).
    templates
        The binned baseline's templates, or None.
    metadata
        Provenance (package version, seeds, settings).
    """

    spec: ModelSpec
    surrogate: Any
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
    def tensors(self, events: Any) -> EventTensors:
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

    def likelihood(self, events: Any) -> Likelihood:
        """The unbinned likelihood of ``events``.

        Each process's learned shape is normalised over the integration sample
        (``UnbinnedRegion(normalised=True)``): its expected yield is f_p Y_p(ν) s_p
        with s_p the classifier-weighted nominal yield, the yield change coming from
        the yield model alone.  A shape network that does not average to one over the
        nominal density by a few 10⁻³ would otherwise shift the expected yield of 10⁶
        events by more than the whole signal.
        """
        return Likelihood(self.spec, [self._region(self.tensors(events))])

    def scored(self, events: Any) -> ScoredEvents:
        """The events reduced to the binned analysis's score c_sig(x) and weights."""
        k = list(self.surrogate.processes).index(self.signal)
        if isinstance(events, EventSet) and len(events) > _CHUNK:
            # in chunks: the (N, P, M) tensors of a large sample need not exist at once
            parts = [self.scored(chunk) for chunk in events.chunks(_CHUNK)]
            return ScoredEvents(np.concatenate([p.score for p in parts]),
                                np.concatenate([p.weights for p in parts]))  # fmt: skip
        t = self.tensors(events)
        return ScoredEvents(t.fractions[:, k], t.weights)

    def binned_likelihood(self, events: Any) -> BinnedLikelihood:
        """The binned baseline's likelihood of ``events`` (same classifier, same constraints)."""
        if self.templates is None:
            raise ConfigError("this analysis was trained without the binned baseline (bins=0)")
        observed = self.templates.histogram_observed(self.scored(events))
        return BinnedLikelihood(self.spec, self.templates, observed)

    # ------------------------------------------------------------------ measuring
    def measure(
        self,
        events: Any,
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
        out = _measure(self.likelihood(tensors), self.poi, cl, seed, "unbinned", tensors)
        if binned and self.templates is not None:
            blik = self.binned_likelihood(tensors)
            b = _measure(blik, self.poi, cl, seed, "binned", tensors)
            out = replace(out, binned=replace(b, counts=dict(blik.observed)))
        return out

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
        return replace(
            _measure(lik, self.poi, cl, seed, "binned", None, n_events=n), counts=observed
        )

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
        out = _measure(asimov, self.poi, cl, 0, "unbinned", None, n_events=n)
        if binned and self.templates is not None:
            blik = BinnedLikelihood(self.spec, self.templates, "asimov").asimov(point)
            out = replace(out, binned=_measure(blik, self.poi, cl, 0, "binned", None, n_events=n))
        return out

    def with_templates(
        self,
        reference: Any,
        bins: int | None = None,
        *,
        powered_templates: bool = False,
        template_reach: Mapping[str, float] | Literal["auto"] | None = "auto",
    ) -> AnalysisModel:
        """The same analysis with the binned baseline's templates rebuilt from ``reference``.

        ``reference`` is nominal and varied simulation as in :func:`build_analysis`
        (e.g. the same sample, to rebuild the templates after their construction
        changed); ``bins`` defaults to the current number; ``powered_templates`` and
        ``template_reach`` as in :func:`build_analysis`.  The unbinned model is unchanged.
        """
        if bins is None:
            if self.templates is None:
                raise ConfigError("this analysis has no binned baseline; give bins=")
            bins = self.templates.regions[0].n_bins
        if not isinstance(bins, int) or bins < 1:
            raise ConfigError(f"bins={bins!r}; expected a positive integer")
        _check_parametrisation(self.surrogate, reference)
        return AnalysisModel(
            self.spec, self.surrogate, self.integration,
            _templates(self, reference, bins, powered=powered_templates, reach=template_reach),
            dict(self.metadata),
        )  # fmt: skip

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
        """Write the analysis to ``directory`` (module docstring); atomic per file."""
        from safetensors.numpy import save_file

        path = Path(directory)
        if path.exists() and any(path.iterdir()) and not overwrite:
            raise ModelFileError(f"{path} exists and is not empty; pass overwrite=True")
        path.mkdir(parents=True, exist_ok=True)
        sur = path / "surrogate"
        if sur.exists():
            shutil.rmtree(sur)
        self.surrogate.save(sur)
        atomic_write_text(path / "spec.yaml", self.spec.to_yaml())
        arrays: dict[str, FloatArray] = {}
        integ_meta: dict[str, Any] = {"kind": "events"}
        events: EventTensors | None
        if isinstance(self.integration, IntegrationMoments):
            mo = self.integration
            for order in range(5):
                arrays[f"moments.m{order}"] = np.ascontiguousarray(getattr(mo, f"m{order}"))
            integ_meta = {"kind": "moments", "n_events": mo.n_events,
                          "max_rel_error": mo.max_rel_error}  # fmt: skip
            events = mo.sample
        else:
            events = self.integration
        if events is not None:
            arrays["integration.fractions"] = np.ascontiguousarray(events.fractions)
            arrays["integration.weights"] = np.ascontiguousarray(events.weights)
            if events.delta is not None:
                arrays["integration.delta"] = np.ascontiguousarray(events.delta)
        tmeta: list[dict[str, Any]] = []
        if self.templates is not None:
            for i, r in enumerate(self.templates.regions):
                arrays[f"templates.{i}.edges"] = r.edges
                arrays[f"templates.{i}.nominal"] = r.nominal
                arrays[f"templates.{i}.sumw2"] = r.sumw2
                for k in self.templates.shape_nuisances:
                    arrays[f"templates.{i}.down.{k}"] = r.down[k]
                    arrays[f"templates.{i}.up.{k}"] = r.up[k]
                tmeta.append({"name": r.name, "processes": list(r.processes)})
        with atomic_path(path / "tensors.safetensors") as tmp:
            save_file({k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}, str(tmp))
        content = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "package_version": __version__,
            "metadata": self.metadata,
            "integration": integ_meta,
            "templates": None
            if self.templates is None
            else {
                "regions": tmeta,
                "shape_nuisances": list(self.templates.shape_nuisances),
                "variation_points": {
                    k: list(v) for k, v in self.templates.variation_points.items()
                },
                "parametrisation": {
                    k: [float(o), int(p)] for k, (o, p) in self.templates.parametrisation.items()
                },
                "secants": {k: float(v) for k, v in self.templates.secants.items()},
            },
            "sha256": {
                name: _sha256_file(path / name) for name in ("spec.yaml", "tensors.safetensors")
            },
        }
        atomic_write_text(path / "analysis.json", json.dumps(content, indent=2))
        return path

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> AnalysisModel:
        """Read an analysis written by :meth:`save`, verifying checksums (never unpickles)."""
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        from unbinned.ml.surrogate import SurrogateModel

        path = Path(directory)
        meta_path = path / "analysis.json"
        if not meta_path.is_file():
            raise ModelFileError(f"{path} is not an analysis directory: analysis.json is missing")
        try:
            content = json.loads(meta_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelFileError(
                f"{meta_path} is not valid JSON ({exc}); the file is damaged"
            ) from exc
        if not isinstance(content, dict) or content.get("format") != _FORMAT:
            raise ModelFileError(f"{meta_path} is not an unbinned analysis file")
        if content.get("format_version") != _FORMAT_VERSION:
            raise ModelFileError(
                f"{meta_path} has format version {content.get('format_version')}; this "
                f"version of unbinned reads version {_FORMAT_VERSION}"
            )
        for name, digest in dict(content.get("sha256", {})).items():
            file = path / name
            if not file.is_file():
                raise ModelFileError(f"{file} is missing from the analysis directory")
            if _sha256_file(file) != digest:
                raise ModelFileError(
                    f"{file} does not match its recorded SHA-256: the file was modified or "
                    "damaged; retrain or restore it"
                )
        spec = ModelSpec.from_yaml(path / "spec.yaml")
        surrogate = SurrogateModel.load(path / "surrogate")
        try:
            arrays = load_file(str(path / "tensors.safetensors"))
        except (SafetensorError, OSError) as exc:
            raise ModelFileError(f"{path / 'tensors.safetensors'} cannot be read: {exc}") from exc
        arrays = {k: np.array(v) for k, v in arrays.items()}  # writable copies
        events = None
        if "integration.fractions" in arrays:
            events = EventTensors(
                arrays["integration.fractions"],
                arrays["integration.weights"],
                arrays.get("integration.delta"),
            )
        imeta = dict(content.get("integration") or {"kind": "events"})
        integration: EventTensors | IntegrationMoments
        if imeta.get("kind") == "moments":
            integration = IntegrationMoments(
                arrays["moments.m0"],
                arrays["moments.m1"],
                arrays["moments.m2"],
                arrays["moments.m3"],
                arrays["moments.m4"],
                n_events=int(imeta["n_events"]),
                max_rel_error=float(imeta["max_rel_error"]),
                sample=events,
            )
        elif events is None:
            raise ModelFileError(f"{path}: the integration tensors are missing")
        else:
            integration = events
        templates = None
        tinfo = content.get("templates")
        if tinfo:
            shape = tuple(tinfo["shape_nuisances"])
            regions = []
            for i, r in enumerate(tinfo["regions"]):
                regions.append(
                    RegionTemplates(
                        r["name"],
                        arrays[f"templates.{i}.edges"],
                        tuple(r["processes"]),
                        arrays[f"templates.{i}.nominal"],
                        arrays[f"templates.{i}.sumw2"],
                        {k: arrays[f"templates.{i}.down.{k}"] for k in shape},
                        {k: arrays[f"templates.{i}.up.{k}"] for k in shape},
                    )
                )
            points = {k: (float(v[0]), float(v[1])) for k, v in tinfo["variation_points"].items()}
            # files written before the powered parametrisation have none
            powered = {k: (float(v[0]), int(v[1]))
                       for k, v in tinfo.get("parametrisation", {}).items()}  # fmt: skip
            secants = {k: float(v) for k, v in tinfo.get("secants", {}).items()}
            templates = Templates(tuple(regions), shape, points, powered, secants)
        return cls(spec, surrogate, integration, templates, dict(content.get("metadata", {})))


def _measure(
    lik: Any,
    poi: str,
    cl: float,
    seed: int,
    method: str,
    tensors: EventTensors | None,
    n_events: float | None = None,
) -> Measurement:
    t0 = time.perf_counter()
    best = fit(lik, seed=seed)
    iv = profile_interval(lik, poi, cl=cl, best=best, seed=seed)
    seconds = time.perf_counter() - t0
    n = n_events if n_events is not None else (tensors.sum_weights if tensors else math.nan)
    return Measurement(
        poi=poi,
        value=best.values[poi],
        lower=iv.lower,
        upper=iv.upper,
        cl=cl,
        method=method,
        valid=bool(best.valid and iv.valid),
        fit=best,
        interval=iv,
        n_events=float(n),
        seconds=seconds,
    )


def train_analysis(
    source: Any,
    spec: ModelSpec | None = None,
    *,
    reference: Any | None = None,
    surrogate_config: Any | None = None,
    design: Any | None = None,
    bins: int = 10,
    seed: int = 0,
    progress: bool = True,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    num_threads: int | None = None,
    device: str | None = "cpu",
    integration: str = "events",
    keep: float = 0.05,
    yield_model: Any | None = None,
    calibrate: bool = False,
    recalibrate_classifier: bool = False,
    template_reach: Mapping[str, float] | Literal["auto"] | None = "auto",
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
    bins
        Bins of the binned baseline (equal expected signal per bin); 0 skips it.
    seed
        Seed of the training (deterministic on CPU).
    progress
        Progress bars on stderr.
    checkpoint_dir
        Checkpoints of the networks: an interrupted training resumes.
    num_threads
        Torch threads during the training (None: unchanged).
    device
        Training device (``"auto"``: a GPU when present).
    integration
        ``"events"``: keep the per-event tensors of the nominal reference sample;
        ``"moments"``: keep their fourth-order moments (:mod:`unbinned.likelihood.moments`;
        the fit's cost no longer grows with the reference sample, which can then be
        made much larger than the data) and a ``keep`` fraction of the events (for
        Asimov datasets).  The measured truncation error is in ``metadata``.
    keep
        Fraction of the reference events kept alongside the moments.
    yield_model
        Factory of the yield models (:func:`~unbinned.ml.train_surrogate`'s
        ``yield_model``; default: the quadratic least-squares fit).
    calibrate
        Fit the residual calibration of the responses in bins of the signal score
        (:mod:`unbinned.ml.calibration`) to the reference sample.
    recalibrate_classifier
        Refit the classifier's temperature and biases on the reference sample
        (:func:`build_analysis`).
    """
    from unbinned.ml.surrogate import train_surrogate

    if not isinstance(bins, int) or bins < 0:
        raise ConfigError(f"bins={bins!r}; expected a non-negative integer (0: no binned baseline)")
    if integration not in ("events", "moments"):
        raise ConfigError(f"integration={integration!r}; expected 'events' or 'moments'")
    surrogate = train_surrogate(
        source,
        design=design,
        config=surrogate_config,
        seed=seed,
        progress=progress,
        checkpoint_dir=checkpoint_dir,
        num_threads=num_threads,
        device=device,
        yield_model=yield_model,
    )
    return build_analysis(
        surrogate,
        reference if reference is not None else source,
        spec,
        bins=bins,
        integration=integration,
        keep=keep,
        calibrate=calibrate,
        seed=seed,
        progress=progress,
        recalibrate_classifier=recalibrate_classifier,
        template_reach=template_reach,
    )


def build_analysis(
    surrogate: Any,
    reference: Any,
    spec: ModelSpec | None = None,
    *,
    bins: int = 10,
    integration: str = "events",
    keep: float = 0.05,
    calibrate: bool = False,
    seed: int = 0,
    progress: bool = True,
    integration_batches: Iterable[EventSet] | None = None,
    calibration_events: int | None = 300_000,
    recalibrate_classifier: bool = False,
    calibrate_odds: bool = False,
    powered_templates: bool = False,
    template_reach: Mapping[str, float] | Literal["auto"] | None = "auto",
) -> AnalysisModel:
    r"""An analysis from a trained surrogate: integration sample, calibration, templates.

    Parameters
    ----------
    surrogate
        A trained :class:`~unbinned.ml.SurrogateModel` (its own score calibration is
        replaced when ``calibrate``).
    reference
        Nominal and varied simulation, best independent of the surrogate's training:
        the integration sample, the calibration and the binned templates come from it.
    spec, bins, integration, keep, seed, progress
        As in :func:`train_analysis`.
    calibrate
        Fit the score calibration of the responses (:mod:`unbinned.ml.calibration`)
        to ``reference``.
    calibration_events
        Generated events per process the calibration uses (None: all of the
        reference's).  Its Monte-Carlo error is common to every measurement, so in
        the signal-like bins it must be well below the data's statistical error.
    integration_batches
        The nominal events of the integration moments, one batch at a time, instead
        of ``reference.nominal()``: e.g. a generator of k successive simulations, each
        weighted to 1/k of the expected yields.  Only one batch is in memory at once,
        so the integration sample can be far larger than the reference.  Needs
        ``integration="moments"``.
    recalibrate_classifier
        Refit the classifier's bias-corrected temperature scaling
        (:func:`unbinned.ml.classifier.calibrate`) on the nominal reference sample
        before anything else uses its fractions.  At the fit's minimum
        :math:`\sum_i w_i c_p(x_i) = \sum_{i \in p} w_i` for every process, so the
        model's expected nominal yields (the integral of the fractions) equal the
        reference's, to the Monte-Carlo precision of that sample.  The training's own
        calibration split is small (20 % of the training's nominal events), and the
        signal's sum there carries the Monte-Carlo error of the few background events in the
        signal-like region: on the H→ττ simulator with 300 k events per process its
        fractions integrated to 1036 signal events on an independent sample of 19 M,
        against 1015 simulated (+2.1 %).
    calibrate_odds
        With ``calibrate``, also calibrate the signal fraction's odds per score bin on
        the whole nominal reference (``odds=True`` of
        :func:`~unbinned.ml.calibration.fit_score_calibration`): a local correction
        where the global one above leaves the signal-like bins off by 5–10 % on the
        H→ττ simulator (BENCHMARKS.md).  Its Monte-Carlo error is that of the
        reference's background in those bins.
    powered_templates
        Interpolate the binned templates of a nuisance that enters the surrogate as a
        power (soft_met²) linearly in that power, from templates at θ⁰ - σ and the
        point symmetric to it in the power (:func:`~unbinned.binned.templates.template_points`),
        instead of linearly in θ from θ⁰ ± σ.  Off by default: on the H→ττ simulator at
        full luminosity it reduces the binned fit's bias below soft_met ≈ 2 GeV but
        makes it worse above (−0.69 against −0.48 in μ above 3 GeV), where the ±1σ
        templates, 1 GeV² apart, are extrapolated to α ≈ 15 (BENCHMARKS.md).
    template_reach
        ``{nuisance: θ_far}``: make that nuisance's up template the secant from the
        nominal to a simulation at θ_far (:func:`~unbinned.binned.templates.with_secant_up`),
        so that far beyond +1σ the binned model interpolates to a simulated point
        instead of extrapolating the ±1σ difference and its Monte-Carlo noise.
        ``"auto"`` (default): every floating shape nuisance with a log-normal prior
        (a long upper tail) and an upper bound beyond its up template reaches to that
        bound; on the H→ττ simulator at full luminosity (soft_met to 5 GeV) this takes
        the binned fit's bias slope from −0.13 to 0.00 per GeV of true soft_met and its
        pull width from 1.39 to 1.17 (BENCHMARKS.md, 1000 pseudo-experiments).
        None: ±1σ templates only.
    """
    from dataclasses import replace as _replace

    from unbinned.ml.calibration import fit_score_calibration
    from unbinned.ml.classifier import calibrate as _calibrate_classifier
    from unbinned.ml.classifier import clf_with_calibration

    if spec is None:
        from unbinned.analysis.spec import challenge_spec

        spec = challenge_spec(tuple(surrogate.nuisance_names))
    if not isinstance(bins, int) or bins < 0:
        raise ConfigError(f"bins={bins!r}; expected a non-negative integer (0: no binned baseline)")
    if integration not in ("events", "moments"):
        raise ConfigError(f"integration={integration!r}; expected 'events' or 'moments'")
    if calibrate_odds and not calibrate:
        raise ConfigError("calibrate_odds needs calibrate=True (part of the score calibration)")
    if integration_batches is not None and integration != "moments":
        raise ConfigError("integration_batches needs integration='moments'")
    _check_parametrisation(surrogate, reference)
    recalibrated = None
    if recalibrate_classifier:
        nominal = reference.nominal()
        if len(nominal) == 0:
            raise DataError("the reference has no nominal events to recalibrate the classifier on")
        recalibrated = _calibrate_classifier(surrogate.classifier, nominal)
        del nominal
        surrogate = _replace(
            surrogate, classifier=clf_with_calibration(surrogate.classifier, recalibrated)
        )
    if calibrate:
        signal = [p.name for p in spec.processes if p.signal]
        if len(signal) != 1:
            raise ConfigError(f"the calibration needs exactly one signal process, got {signal}")
        cal = fit_score_calibration(
            surrogate, reference, signal[0], max_events=calibration_events, seed=seed,
            progress=progress, odds=calibrate_odds,
        )  # fmt: skip
        surrogate = _replace(surrogate, calibration=cal)
    integ: EventTensors | IntegrationMoments
    if integration == "moments":
        # streamed: the per-event tensors of a large reference never exist at once
        acc = MomentAccumulator()
        if surrogate.design is not None:
            acc.set_test_points(surrogate.monomials(nu) for nu in surrogate.design.points)
        batches = [reference.nominal()] if integration_batches is None else integration_batches
        n_integ = 0
        for batch in batches:
            for chunk in batch.chunks(_CHUNK):
                acc.add(event_tensors(surrogate, chunk), keep=keep, seed=seed)
            n_integ += len(batch)
        if n_integ == 0:
            raise DataError("the integration sample has no events")
        integ = acc.result()
        total = float(integ.m0.sum())
    else:
        integ = event_tensors(surrogate, reference.nominal())
        n_integ, total = integ.n_events, integ.sum_weights
    if not total > 0:
        raise DataError("the nominal simulation has zero total weight; check the weights")
    model = AnalysisModel(spec, surrogate, integ, None, {})
    templates = (
        _templates(model, reference, bins, powered=powered_templates, reach=template_reach)
        if bins
        else None
    )
    meta = {
        "package_version": __version__,
        "seed": seed,
        "bins": bins,
        "integration_events": n_integ,
        "integration": integration,
        "score_calibration": surrogate.calibration is not None,
        "classifier_recalibrated_events": 0 if recalibrated is None else recalibrated.n_events,
        "trained": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if isinstance(integ, IntegrationMoments):
        meta["moments_max_rel_error"] = integ.max_rel_error
    return AnalysisModel(spec, surrogate, integ, templates, meta)


def _check_parametrisation(surrogate: Any, reference: Any) -> None:
    """The reference must map ν to physical values as the surrogate does (varied samples)."""
    theirs = {n.name: n for n in getattr(reference, "nuisances", ())}
    for n in surrogate.nuisances:
        other = theirs.get(n.name)
        if other is not None and other.to_dict() != n.to_dict():
            raise ConfigError(
                f"shape nuisance {n.name!r} is declared differently by the surrogate "
                f"({n.to_dict()}) and the reference sample ({other.to_dict()}); build the "
                "reference with nuisances=surrogate.nuisances"
            )


def _auto_reach(templates: Templates, floating: Sequence[Any]) -> dict[str, float]:
    """Secant points of ``template_reach="auto"``: upper bounds of log-normal nuisances."""
    out = {}
    for n in floating:
        if n.name not in templates.shape_nuisances or n.prior != "lognormal" or not n.bounds:
            continue
        hi = float(n.bounds[1])
        if math.isfinite(hi) and hi > templates.variation_points[n.name][1] * (1 + 1e-9):
            out[n.name] = hi
    return out


def _templates(
    model: AnalysisModel,
    source: Any,
    bins: int,
    *,
    powered: bool,
    reach: Mapping[str, float] | Literal["auto"] | None = None,
) -> Templates:
    """HistFactory templates of c_sig(x) at the nominal point and ±1σ of each shape nuisance.

    With ``powered``, a nuisance that enters the surrogate as a power is interpolated
    linearly in that power (templates at the points of
    :func:`~unbinned.binned.templates.template_points`), otherwise linearly in θ.
    ``reach``: secant up templates (:func:`~unbinned.binned.templates.with_secant_up`).
    """
    spec, sur = model.spec, model.surrogate
    by_name = {n.name: n for n in sur.nuisances}
    floating = [n for n in spec.shape_nuisances if n.floating and n.name in by_name]
    nominal_point = {n.name: n.nominal for n in spec.shape_nuisances if n.name in by_name}

    def scored_at(point: Mapping[str, float]) -> ScoredEvents:
        nu = np.array([by_name[n.name].standardize(point.get(n.name, n.nominal))
                       for n in sur.nuisances])  # fmt: skip
        if np.allclose(nu, 0.0):
            ev = source.nominal()
        else:
            ev = EventSet.concat([source.varied(p, nu) for p in sur.processes])
        sc = model.scored(ev)
        return ScoredEvents(sc.score, sc.weights, ev.process_labels)

    # a nuisance that enters the surrogate as a power ((θ - nominal)/scale)^power can be
    # interpolated linearly in that power (templates module: soft_met²); not the default:
    # its ±1σ templates are 1 GeV² apart, so far in the tail (soft_met ≈ 4 GeV, α ≈ 15)
    # the extrapolation amplifies their Monte-Carlo noise (BENCHMARKS.md, session 7)
    parametrisation = {n.name: (by_name[n.name].nominal, by_name[n.name].power)
                       for n in floating if powered and by_name[n.name].power != 1}  # fmt: skip
    nominal = scored_at(nominal_point)
    variations = []
    for n in floating:
        if n.width is None:
            continue
        origin, power = parametrisation.get(n.name, (0.0, 1))
        for value in template_points(n.nominal, n.width, origin, power):
            variations.append(({n.name: value}, scored_at({**nominal_point, n.name: value})))
    templates = build_templates(
        spec,
        nominal,
        variations,
        binning="quantile-signal",
        n_bins=bins,
        parametrisation=parametrisation,
    )
    if reach == "auto":
        reach = _auto_reach(templates, floating)
    elif reach is not None and not isinstance(reach, Mapping):
        raise ConfigError(
            f"template_reach={reach!r}; expected 'auto', a mapping nuisance -> value or None"
        )
    for name, value in (reach or {}).items():
        if name not in templates.shape_nuisances:
            raise ConfigError(
                f"template_reach names {name!r}, not a floating shape nuisance with templates "
                f"({list(templates.shape_nuisances)})"
            )
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise ConfigError(f"template_reach[{name!r}] = {value!r}; expected a finite number")
        far = scored_at({**nominal_point, name: float(value)})
        templates = with_secant_up(templates, name, float(value), far)
    return templates
