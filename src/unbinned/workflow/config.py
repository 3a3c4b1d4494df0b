r"""The analysis configuration: one YAML file describes a whole analysis.

Sections (every key is checked; an unknown or mistyped key is an error that names
it and the keys expected there)::

    name: htautau-challenge          # a label for the report
    output: htautau-output           # output folder (relative to the config file)
    seed: 0                          # base seed of every step
    data:                            # where nominal and varied simulation come from
      kind: simulator                # simulator | parquet | root | files | oracle | toy
      events_per_process: 200000
    model: challenge                 # a preset name, or a full model declaration
    preset: {...}                    # options of the preset: ggH/VBF POIs, control regions
    training: {...}                  # surrogate networks and the variation design
    binned: {bins: 10}               # the binned baseline
    inference: {...}                 # Asimov point, pseudo-experiment, scan, toys
    report: {title: ...}

``model`` is either the name of a preset (``challenge``: the H→ττ challenge model,
see :func:`unbinned.analysis.challenge_spec`) or a declaration in the form of
:class:`unbinned.model.ModelSpec` (``pois``, ``nuisances`` with their priors,
``processes`` with their rate modifiers, ``regions``: one unbinned region and any
number of ``kind: counting`` regions, each with a ``selection``).  ``preset``
(:class:`PresetSettings`) gives the preset separate ggH and VBF signal strengths
and counting control regions.

Examples
--------
>>> cfg = AnalysisConfig.from_yaml_string("data: {kind: simulator}\nmodel: challenge")
>>> cfg.data.kind, cfg.training.design.steps
('simulator', (1.0, 2.0, 3.0))
>>> plan = "training: {classifier: {min_steps: 4000, max_batch_size: 512}}"
>>> cfg = AnalysisConfig.from_yaml_string("data: {kind: simulator}\n" + plan)
>>> cfg.training.classifier.overrides()
{'min_steps': 4000, 'max_batch_size': 512}
"""

from __future__ import annotations

import hashlib
import json
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from unbinned.data.files import check_variation_keys
from unbinned.data.schema import FEATURES, PROCESSES
from unbinned.exceptions import ConfigError
from unbinned.model.spec import ModelSpec

__all__ = [
    "PRESETS",
    "AnalysisConfig",
    "BinnedSettings",
    "DataFiles",
    "DesignSettings",
    "InferenceSettings",
    "NetworkSettings",
    "OracleData",
    "PresetSettings",
    "PseudoExperimentSettings",
    "ReportSettings",
    "SampleFilesData",
    "Scan2DSettings",
    "ScanSettings",
    "SimulatorData",
    "ToyData",
    "ToySettings",
    "TrainingSettings",
    "VariationSettings",
    "load_config",
    "section_digest",
]

PRESETS = ("challenge",)
"""Names accepted for ``model:`` instead of a declaration."""

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------- data
class SimulatorData(_Strict):
    """The built-in H→ττ simulator (:func:`unbinned.sim.htautau.simulate`).

    ``events_per_process`` raw events per process are simulated for training and
    as many again (``test_events_per_process``), with another seed, as the large
    weighted sample pseudo-experiments are drawn from; ``reference_events_per_process``
    (default 4 × ``events_per_process``), with a third seed, is the nominal sample the
    learned densities are integrated over and the binned templates are filled from.
    Its Monte-Carlo statistics must far exceed the data's: μ̂ fluctuates with it by
    about √(data events / reference events) standard deviations, the same for every
    pseudo-experiment.

    ``process_events`` (and ``reference_process_events``) give some processes other
    numbers of raw events in the training (reference) sample, each process weighted
    to its expected yield: e.g. ``{ztautau: 2000000}``.  Z→ττ holds 95 % of the
    events and is the most signal-like background; with as many raw events as the
    signal each of its events weighs 10³ signal events, and the classifier learns
    the background under the signal-like tail from a few dozen of them.
    """

    kind: Literal["simulator"]
    events_per_process: PositiveInt = 200_000
    test_events_per_process: PositiveInt | None = None
    reference_events_per_process: PositiveInt | None = None
    luminosity: PositiveFloat = 10.0
    process_events: dict[str, PositiveInt] = Field(default_factory=dict)
    reference_process_events: dict[str, PositiveInt] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> SimulatorData:
        for key in ("process_events", "reference_process_events"):
            unknown = sorted(set(getattr(self, key)) - set(PROCESSES))
            if unknown:
                raise ValueError(
                    f"{key}: unknown process(es) {unknown}; expected some of {list(PROCESSES)}"
                )
        return self

    def raw_events(self, which: str) -> dict[str, int]:
        """Raw events per process of the ``train``, ``test`` or ``reference`` sample."""
        sizes = {
            "train": self.events_per_process,
            "test": self.test_events_per_process or self.events_per_process,
            "reference": self.reference_events_per_process or 4 * self.events_per_process,
        }
        if which not in sizes:
            raise ConfigError(f"no simulated sample {which!r}; expected one of {list(sizes)}")
        n = sizes[which]
        extra = {"train": self.process_events, "reference": self.reference_process_events}
        return {p: int(extra.get(which, {}).get(p, n)) for p in PROCESSES}


class DataFiles(_Strict):
    """Challenge-format files (weighted, before the 26 GeV re-selection).

    ``train`` is the training sample; ``test`` the sample pseudo-experiments are
    drawn from (default: ``train``); ``observed`` an unweighted dataset to measure
    instead of a pseudo-experiment.  Relative paths are relative to the config file.
    ``tree`` names the TTree of ROOT files.
    """

    kind: Literal["parquet", "root"]
    train: Path
    test: Path | None = None
    observed: Path | None = None
    tree: str = "tree"


class VariationSettings(_Strict):
    """One variation point of ``data: kind: files`` (:class:`unbinned.ml.VariationPoint`).

    ``at``: physical nuisance values of the point (the others nominal); then
    ``files`` (process -> files made at the point; a process left out keeps its
    nominal events; a list of shared files with ``label_column``), a ``weight``
    column (each event's whole weight at the point, replacing ``data.weight``) or a
    ``factor`` column (multiplying ``data.weight``), or ``files`` with a ``weight`` or
    ``factor`` column: the files' events reweighted by the column read from those
    files (the mixed point of a file-based and a weight-based nuisance).
    """

    at: dict[str, float]
    files: dict[str, list[str]] | list[str] | None = None
    weight: str | None = None
    factor: str | None = None

    @model_validator(mode="after")
    def _check(self) -> VariationSettings:
        check_variation_keys(self.at, self.files, self.weight, self.factor)  # a ValueError
        return self


class SampleFilesData(_Strict):
    """The user's own samples (:class:`unbinned.data.FileSamples`) and shape variations.

    ``processes``: process -> files (parquet or ROOT; globs allowed), in the model's
    order; or just the names, with shared ``files`` and a ``label_column`` saying
    each event's process (``labels``: label value -> process).  ``features``,
    ``weight`` (none: every event weighs 1), ``selection`` and ``regions`` (name ->
    selection, safe expressions as ``"pt > 20 and abs(eta) < 2.5"``), ``region``
    (the one the analysis measures; none: the selection alone), ``tree`` (ROOT),
    ``event_id`` (a column naming the generated event when variation files hold
    the same events).  ``variations``: the shape-nuisance points
    (:class:`VariationSettings`); every nuisance of the model with ``acts_on:
    shape`` needs points.  Or, instead of points, ``callable``: a Python function
    ``"package.module:function"`` (looked for in the config's folder first) that
    varies the events to any value of the shape nuisances
    (:class:`unbinned.ml.CallableVariationSource`), reading also the ``columns``.
    ``observed``: files of the dataset to measure instead of a pseudo-experiment.
    """

    kind: Literal["files"]
    processes: dict[str, list[str]] | list[str]
    features: tuple[str, ...]
    weight: str | None = None
    files: list[str] = []
    label_column: str | None = None
    labels: dict[str | int, str] | None = None
    selection: str | None = None
    regions: dict[str, str] = {}
    region: str | None = None
    tree: str | None = None
    event_id: str | None = None
    variations: list[VariationSettings] = []
    callable: str | None = None
    columns: list[str] = []
    observed: list[str] | None = None

    @model_validator(mode="after")
    def _check(self) -> SampleFilesData:
        self.samples(Path("."))
        if self.callable is not None and self.variations:
            raise ValueError(
                "give the shape variations either as variations: (points) or as callable: "
                "(a function), not both"
            )
        if self.region is not None and self.region not in self.regions:
            raise ValueError(
                f"region {self.region!r} is not declared in regions: {list(self.regions)}"
            )
        return self

    def samples(self, base_dir: Path) -> Any:
        """The :class:`unbinned.data.FileSamples` this section declares."""
        from unbinned.data.files import FileSamples  # deferred: pandas/pyarrow at CLI start-up

        try:
            return FileSamples(
                self.processes,
                self.features,
                weight=self.weight,
                files=self.files,
                label_column=self.label_column,
                labels=self.labels,
                selection=self.selection,
                regions=self.regions,
                tree=self.tree,
                event_id=self.event_id,
                base_dir=base_dir,
            )
        except ConfigError as exc:
            raise ValueError(str(exc)) from None


class OracleData(_Strict):
    """An analytic oracle model (:mod:`unbinned.sim.oracle`) as the simulation."""

    kind: Literal["oracle"]
    model: Literal["resonance"] = "resonance"
    events_per_process: PositiveInt = 20_000
    mode: Literal["vary", "reweight"] = "vary"


class ToyData(_Strict):
    """The two-feature Gaussian toy (:class:`unbinned.ml.GaussianToySource`), for tests."""

    kind: Literal["toy"]
    events_per_process: Annotated[int, Field(ge=10)] = 2000


DataSettings = Annotated[
    SimulatorData | DataFiles | SampleFilesData | OracleData | ToyData,
    Field(discriminator="kind"),
]


# ---------------------------------------------------------------------------- preset
class PresetSettings(_Strict):
    """Options of the ``challenge`` model preset: several POIs and counting regions.

    ``production_modes: true`` splits the H→ττ signal by its production mode (the
    simulator's ``production_mode`` column) into the processes ``ggH`` and ``VBF``
    with their own signal strengths ``mu_ggh`` and ``mu_vbf``
    (:func:`unbinned.analysis.production_mode_spec`).  ``control_regions``: name →
    selection (a safe expression over the H→ττ features, e.g.
    ``"DER_mass_transverse_met_lep > 80"``) of counting regions; the unbinned region
    ``SR`` holds every other event.  A declared ``model`` declares its own POIs and
    regions instead.
    """

    production_modes: bool = False
    control_regions: dict[str, str] = {}

    @model_validator(mode="after")
    def _check(self) -> PresetSettings:
        from unbinned.data.expr import Selection  # deferred: numpy's ast walk, light

        for name, text in self.control_regions.items():
            if name == "SR":
                raise ValueError(
                    "control_regions: 'SR' is the unbinned signal region's name; "
                    "call the control region otherwise (e.g. CR)"
                )
            try:
                cols = Selection(text).columns
            except ConfigError as exc:
                raise ValueError(f"control_regions.{name}: {exc}") from None
            unknown = sorted(set(cols) - set(FEATURES))
            if unknown:
                raise ValueError(
                    f"control_regions.{name}: the selection reads {unknown}, which are not "
                    f"H→ττ features; use some of {list(FEATURES)}"
                )
        return self

    @property
    def active(self) -> bool:
        """Whether any option is set."""
        return self.production_modes or bool(self.control_regions)


# ---------------------------------------------------------------------------- training
class NetworkSettings(_Strict):
    """Hyper-parameters of one network (:class:`unbinned.ml.TrainConfig`).

    Unset keys keep the library defaults (:class:`unbinned.ml.SurrogateConfig`).
    Unset ``epochs`` and ``batch_size`` are planned from the training sample
    (:meth:`TrainConfig.plan <unbinned.ml.TrainConfig.plan>`): the batch size is
    about 1/20 of the events, at most ``max_batch_size``; the epochs give at least
    ``min_steps`` optimiser steps, within [``min_epochs``, ``max_epochs``], and the
    patience of early stopping grows with them.  Given ``epochs`` or ``batch_size``
    are used as they are.
    """

    hidden: tuple[PositiveInt, ...] | None = None
    activation: str | None = None
    epochs: PositiveInt | None = None
    batch_size: PositiveInt | None = None
    learning_rate: PositiveFloat | None = None
    final_lr_factor: Annotated[float, Field(gt=0, le=1)] | None = None
    weight_decay: Annotated[float, Field(ge=0)] | None = None
    patience: PositiveInt | None = None
    validation_fraction: Annotated[float, Field(gt=0, lt=1)] | None = None
    min_steps: Annotated[int, Field(ge=0)] | None = None
    min_epochs: PositiveInt | None = None
    max_epochs: PositiveInt | None = None
    max_batch_size: PositiveInt | None = None

    @model_validator(mode="after")
    def _check(self) -> NetworkSettings:
        if (
            self.min_epochs is not None
            and self.max_epochs is not None
            and self.max_epochs < self.min_epochs
        ):
            raise ValueError(
                f"max_epochs ({self.max_epochs}) is below min_epochs ({self.min_epochs})"
            )
        return self

    def overrides(self) -> dict[str, Any]:
        """The keys that are set."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class DesignSettings(_Strict):
    """The variation design (:func:`unbinned.ml.default_design`).

    Training points at ±steps σ on each axis, pairs of axes at (±l, ±l) for l in
    ``mixed``, optionally every corner.
    """

    steps: tuple[PositiveFloat, ...] = (1.0, 2.0, 3.0)
    mixed: tuple[PositiveFloat, ...] = (1.0,)
    corners: bool | None = None


class YieldModelSettings(_Strict):
    """How each process's yield response ln Y_p(ν) is modelled.

    ``polynomial``: least squares on the monomials of ν at the variation points
    (DESIGN.md §3).  ``gp``: a Gaussian process (:class:`unbinned.response.GPYieldModel`)
    on the variation points plus ``design_points`` more chosen by Bayesian experimental
    design (DESIGN.md §6), each one varied simulation of the process; ``kernel`` and
    ``restarts`` (random restarts of the hyperparameter fit) configure the GP.
    """

    kind: Literal["polynomial", "gp"] = "polynomial"
    design_points: Annotated[int, Field(ge=0, le=200)] = 8
    kernel: Literal["rbf", "matern52"] = "rbf"
    restarts: Annotated[int, Field(ge=0, le=20)] = 3

    def factory(self) -> Any:
        """A factory of the yield model for :func:`unbinned.analysis.train_analysis`, or None."""
        if self.kind == "polynomial":
            return None
        # deferred: unbinned.response pulls in torch (~2 s); the CLI reads configs at start-up
        from unbinned.response import GPYieldModel

        return partial(
            GPYieldModel,
            n_restarts=self.restarts,
            gp_options={"kernel": self.kernel},
            design_points=self.design_points,
        )


class TrainingSettings(_Strict):
    """The surrogates: classifier, response networks, variation design.

    ``score_calibration`` adds the residual calibration of the responses in bins of
    the signal score, fitted to the reference sample (:mod:`unbinned.ml.calibration`).
    ``integration``: how the reference sample is kept for the fits, ``moments`` (the
    fit's cost does not grow with it) or ``events``; unset: ``moments``, or
    ``events`` with counting regions (which need every event's region).
    ``classifier_members``: networks in the classifier's ensemble (unset: the library's
    ``SurrogateConfig().classifier_members``).
    ``max_events_per_point_largest``: the response of the process with the largest
    yield trains on up to this many generated events per variation point, the others
    on their yield share of it, at least ``max_events_per_point``
    (:attr:`unbinned.ml.SurrogateConfig.max_events_per_point_largest`; null: off).
    ``classifier_recalibration`` refits the classifier's temperature scaling on the
    reference sample, so that its fractions integrate to the simulated yields
    (``recalibrate_classifier`` of :class:`unbinned.analysis.CalibrationOptions`):
    ``auto`` (the default) when the reference is independent of the training (the
    simulator's, an oracle's or a toy's reference; not the files kind, whose reference
    is its training sample), or true / false.
    """

    classifier: NetworkSettings = NetworkSettings()
    response: NetworkSettings = NetworkSettings()
    calibration_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.2
    classifier_members: PositiveInt | None = None
    max_events_per_point: PositiveInt | None = 60_000
    max_events_per_point_largest: PositiveInt | None = 1_000_000
    design: DesignSettings = DesignSettings()
    device: str | None = None
    threads: PositiveInt | None = 1
    integration: Literal["events", "moments"] | None = None
    score_calibration: bool = False
    classifier_recalibration: bool | Literal["auto"] = "auto"
    yield_model: YieldModelSettings = YieldModelSettings()


class BinnedSettings(_Strict):
    """The binned baseline: number of bins of the classifier score."""

    bins: Annotated[int, Field(ge=2)] = 10


# ---------------------------------------------------------------------------- inference
class PseudoExperimentSettings(_Strict):
    """The pseudo-experiment that ``fit`` measures (unless ``data.observed`` is given).

    Either ``draw_nuisances: true`` (values from the priors) or explicit ``nuisances``
    (physical values by name; missing ones nominal).
    """

    mu: Annotated[float, Field(ge=0)] = 1.0
    seed: Annotated[int, Field(ge=0)] = 7
    draw_nuisances: bool = False
    nuisances: dict[str, float] = {}

    @model_validator(mode="after")
    def _check(self) -> PseudoExperimentSettings:
        if self.draw_nuisances and self.nuisances:
            raise ValueError("give either draw_nuisances: true or explicit nuisances, not both")
        return self


class ScanSettings(_Strict):
    """The profile-likelihood scan of the POI.

    ``points`` values over ``range`` (default: from the lowest to the highest of the
    unbinned and binned best fits ± ``width`` times their larger 68 % error).
    """

    points: Annotated[int, Field(ge=3, le=401)] = 21
    range: tuple[float, float] | None = None
    width: PositiveFloat = 2.5

    @model_validator(mode="after")
    def _check(self) -> ScanSettings:
        if self.range is not None and not self.range[0] < self.range[1]:
            raise ValueError(f"range {list(self.range)} is empty; expected [low, high], low < high")
        return self


class Scan2DSettings(_Strict):
    """The joint profile-likelihood scan of two POIs (a model with two or more POIs).

    ``points`` values per POI (0: no 2-D scan) over each POI's best fit ± ``width``
    times its larger 68 % error (the unbinned and binned fits together), or over
    ``ranges`` (POI → [low, high]); ``pois``: which two (default: the first two).
    """

    points: Annotated[int, Field(ge=0, le=51)] = 9
    width: PositiveFloat = 2.5
    ranges: dict[str, tuple[float, float]] = {}
    pois: tuple[str, str] | None = None

    @model_validator(mode="after")
    def _check(self) -> Scan2DSettings:
        if 0 < self.points < 3:
            raise ValueError(f"points {self.points}: give 0 (no 2-D scan) or at least 3")
        for name, (lo, hi) in self.ranges.items():
            if not lo < hi:
                raise ValueError(f"ranges.{name} [{lo}, {hi}] is empty; expected low < high")
        return self


class ToySettings(_Strict):
    """The pseudo-experiment study: ``n`` toys with seeds ``first_seed, first_seed + 1, ...``.

    ``mu: null`` draws the true μ of each toy uniformly in ``mu_range`` (the challenge's
    U(0.1, 3)); the nuisances are drawn from their priors unless ``draw_nuisances`` is
    false.  ``executor``: ``serial``, ``processes`` or ``dask`` (``scheduler:
    tcp://HOST:PORT`` for an existing Dask cluster); ``workers`` worker processes.

    ``sampling``: where each toy's events come from.  ``simulate``: simulated afresh
    for every toy (the data kinds that can simulate: ``simulator``, ``oracle``,
    ``toy``), so that no two toys share a Monte-Carlo fluctuation; ``pool``: drawn
    (k ~ Poisson(w)) from one fixed sample, the test sample (or, for data without
    one, the whole sample), whose fluctuation every toy then shares (a warning when
    its events are fewer than 20 × the pseudo-data's); ``auto`` (default):
    ``simulate`` where the data kind can, else ``pool``.
    """

    n: Annotated[int, Field(ge=0)] = 20
    first_seed: Annotated[int, Field(ge=0)] = 1000
    mu: Annotated[float, Field(ge=0)] | None = None
    mu_range: tuple[float, float] = (0.1, 3.0)
    draw_nuisances: bool = True
    binned: bool = False
    executor: Literal["serial", "processes", "dask"] = "serial"
    workers: PositiveInt | None = None
    scheduler: str | None = None
    sampling: Literal["auto", "simulate", "pool"] = "auto"

    @model_validator(mode="after")
    def _check(self) -> ToySettings:
        lo, hi = self.mu_range
        if not 0 <= lo < hi:
            raise ValueError(f"mu_range {[lo, hi]} must satisfy 0 <= low < high")
        if self.scheduler is not None:
            if self.executor != "dask":
                raise ValueError(f"scheduler {self.scheduler!r} needs executor: dask")
            if not self.scheduler.startswith("tcp://"):
                raise ValueError(f"scheduler {self.scheduler!r} must look like tcp://HOST:PORT")
        return self


class InferenceSettings(_Strict):
    """Fits, intervals, scans, impacts and the toy study.

    ``asimov`` holds the parameter values of the Asimov dataset (missing ones: POI
    init and nuisance nominal); ``interval`` the method of the 68 % intervals.
    """

    poi: str | None = None
    interval: Literal["scan", "minos"] = "scan"
    asimov: dict[str, float] = {}
    pseudo_experiment: PseudoExperimentSettings = PseudoExperimentSettings()
    scan: ScanSettings = ScanSettings()
    scan_2d: Scan2DSettings = Scan2DSettings()
    impacts: bool = True
    toys: ToySettings = ToySettings()


class ReportSettings(_Strict):
    """The HTML report."""

    title: str | None = None
    closure_features: tuple[str, ...] | None = None


# ---------------------------------------------------------------------------- the whole
class AnalysisConfig(_Strict):
    """A whole analysis (see the module docstring).

    ``base_dir`` is where relative paths are resolved (the folder of the config file);
    it is set by :meth:`from_yaml` and not part of the file.
    """

    name: str = "analysis"
    output: Path = Path("unbinned-output")
    seed: Annotated[int, Field(ge=0)] = 0
    data: DataSettings
    model: str | ModelSpec = "challenge"
    preset: PresetSettings = PresetSettings()
    training: TrainingSettings = TrainingSettings()
    binned: BinnedSettings = BinnedSettings()
    inference: InferenceSettings = InferenceSettings()
    report: ReportSettings = ReportSettings()
    base_dir: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _model_section(cls, data: Any) -> Any:
        model = data.get("model") if isinstance(data, dict) else None
        if isinstance(model, str) and model not in PRESETS:
            raise ValueError(
                f"model: unknown preset {model!r}; expected one of {list(PRESETS)} "
                "or a declaration with pois, nuisances, processes and regions"
            )
        return data

    @model_validator(mode="after")
    def _check(self) -> AnalysisConfig:
        if self.model == "challenge" and self.data.kind in ("oracle", "toy", "files"):
            raise ValueError(
                f"model: the 'challenge' preset fits H→ττ data, but data.kind is "
                f"{self.data.kind!r}; declare the model (pois, nuisances, processes, regions)"
            )
        if isinstance(self.data, SampleFilesData) and isinstance(self.model, ModelSpec):
            _check_variations(self.data, self.model, self.base_dir)
        _check_pois_and_regions(self)
        return self

    @property
    def poi_names(self) -> tuple[str, ...]:
        """The model's POIs (the preset's: ``mu``, or ``mu_ggh`` and ``mu_vbf``)."""
        if isinstance(self.model, ModelSpec):
            return tuple(self.model.poi_names)
        return ("mu_ggh", "mu_vbf") if self.preset.production_modes else ("mu",)

    @property
    def counting_regions(self) -> tuple[str, ...]:
        """The model's counting regions (declared, or the preset's control regions)."""
        if isinstance(self.model, ModelSpec):
            return tuple(r.name for r in self.model.regions if r.kind == "counting")
        return tuple(self.preset.control_regions)

    # ------------------------------------------------------------------ helpers
    def resolve(self, path: Path) -> Path:
        """``path`` relative to the config file's folder (absolute paths unchanged)."""
        return path if path.is_absolute() else self.base_dir / path

    @property
    def output_dir(self) -> Path:
        """The output folder, resolved."""
        return self.resolve(self.output)

    def section(self, *keys: str) -> Any:
        """The JSON form of some sections, by dotted key (what a step's cache key hashes)."""
        dumped = self.model_dump(mode="json")
        out = {}
        for k in keys:
            node: Any = dumped
            for part in k.split("."):
                node = node[part]
            out[k] = node
        return out

    def replace(self, **changes: Any) -> AnalysisConfig:
        """A validated copy with some keys changed (nested dicts are merged)."""
        data = _merge(self.model_dump(mode="json"), changes)
        return AnalysisConfig.from_dict(data, base_dir=self.base_dir)

    # ------------------------------------------------------------------ I/O
    @classmethod
    def from_dict(cls, data: Any, *, base_dir: Path | str = ".") -> AnalysisConfig:
        """Validate a mapping; errors name the key, the problem and the value found."""
        if not isinstance(data, dict):
            raise ConfigError(
                f"the analysis config must be a mapping of sections (data, model, ...), "
                f"got {type(data).__name__}"
            )
        try:
            return cls.model_validate({**data, "base_dir": Path(base_dir)})
        except ValidationError as exc:
            raise ConfigError(_format(exc)) from None

    @classmethod
    def from_yaml_string(cls, text: str, *, base_dir: Path | str = ".") -> AnalysisConfig:
        """Read a config from YAML text."""
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()
            raise ConfigError(f"not valid YAML: {' '.join(s.strip() for s in first)}") from None
        return cls.from_dict(data, base_dir=base_dir)

    @classmethod
    def from_yaml(cls, path: str | Path) -> AnalysisConfig:
        """Read a config file."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(
                f"no config file {str(path)!r}; write one with `unbinned init {path}`"
            )
        try:
            return cls.from_yaml_string(
                path.read_text(encoding="utf-8"), base_dir=path.resolve().parent
            )
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    def to_yaml(self) -> str:
        """The config as YAML (round-trips through :meth:`from_yaml_string`)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def _check_variations(data: SampleFilesData, model: ModelSpec, base_dir: Path) -> None:
    """Every variation names a shape nuisance of the model, inside its bounds, and back."""
    shape = {n.name: n for n in model.nuisances if n.acts_on == "shape"}
    if data.callable is not None:
        from unbinned.data.callables import check_keywords, load_callable  # deferred: pandas

        try:
            fn = load_callable(data.callable, key="data.callable", search=base_dir)
            check_keywords(fn, list(shape), key="data.callable", optional=("seed", "process"))
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
    varied: set[str] = set(shape) if data.callable is not None else set()
    for i, v in enumerate(data.variations):
        for name, value in v.at.items():
            if name not in shape:
                raise ValueError(
                    f"data.variations[{i}]: {name!r} is not a shape nuisance of the model "
                    f"(acts_on: shape): {sorted(shape)}"
                )
            lo, hi = shape[name].bounds or (float("-inf"), float("inf"))
            if not lo <= value <= hi:
                raise ValueError(
                    f"data.variations[{i}]: {name}={value:g} lies outside the nuisance's bounds "
                    f"[{lo:g}, {hi:g}]; fix the value or the bounds"
                )
            varied.add(name)
    missing = sorted(set(shape) - varied)
    if missing:
        raise ValueError(
            f"data.variations: the shape nuisance(s) {missing} have no variation point; add "
            "points (at: {name: value} with files, weight or factor) or declare them acts_on: rate"
        )
    unknown = [p.name for p in model.processes if p.name not in data.samples(Path(".")).processes]
    if unknown:
        raise ValueError(
            f"model: process(es) {unknown} have no samples in data.processes "
            f"{list(data.samples(Path('.')).process_names)}"
        )


def _check_pois_and_regions(cfg: AnalysisConfig) -> None:
    """The preset options, the POIs named in ``inference`` and the regions' integration."""
    if cfg.preset.active and isinstance(cfg.model, ModelSpec):
        raise ValueError(
            "preset: its options (production_modes, control_regions) apply to model: "
            "challenge; a declared model declares its POIs (model.pois) and its counting "
            "regions (model.regions with kind: counting and a selection) itself"
        )
    pois = cfg.poi_names
    named = [("inference.poi", cfg.inference.poi)]
    named += [
        (f"inference.scan_2d.pois[{i}]", p) for i, p in enumerate(cfg.inference.scan_2d.pois or ())
    ]
    named += [(f"inference.scan_2d.ranges.{p}", p) for p in cfg.inference.scan_2d.ranges]
    for key, poi in named:
        if poi is not None and poi not in pois:
            raise ValueError(f"{key}: {poi!r} is not a POI of the model; its POIs are {list(pois)}")
    if cfg.counting_regions and cfg.training.integration == "moments":
        raise ValueError(
            f"training.integration: 'moments' cannot tell the events of the counting "
            f"region(s) {list(cfg.counting_regions)} apart; use events (the default with "
            "counting regions)"
        )


def load_config(path: str | Path) -> AnalysisConfig:
    """Read and validate an analysis config file (:meth:`AnalysisConfig.from_yaml`)."""
    return AnalysisConfig.from_yaml(path)


def section_digest(obj: Any) -> str:
    """SHA-256 of the canonical JSON of ``obj`` (the cache key of a config section)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in changes.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


_TAGS = {"simulator": SimulatorData, "parquet": DataFiles, "root": DataFiles,
         "files": SampleFilesData, "oracle": OracleData, "toy": ToyData}  # fmt: skip


def _clean_loc(loc: tuple[Any, ...]) -> list[str]:
    """Drop pydantic's internal path parts (union tags, validator names)."""
    out: list[str] = []
    for part in loc:
        text = str(part)
        if text in _TAGS and out == ["data"]:
            out.append(f"<{text}>")
        elif "[" in text or text in ("str", "ModelSpec"):
            continue
        else:
            out.append(text)
    return out


def _expected_keys(path: list[str]) -> list[str] | None:
    """The keys allowed at ``path`` (the parent of an unknown key), or None."""
    model: Any = AnalysisConfig
    for part in path:
        if part.startswith("<"):
            model = _TAGS[part[1:-1]]
            continue
        if isinstance(model, type) and issubclass(model, BaseModel) and part in model.model_fields:
            ann = model.model_fields[part].annotation
            cands = [a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type)]
            model = next((a for a in cands if issubclass(a, BaseModel)), None)
        elif part.isdigit():
            continue
        else:
            return None
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [k for k in model.model_fields if k != "base_dir"]
    return None


def _format(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        if err["loc"][-1:] == ("str",) and isinstance(err.get("input"), dict):
            continue  # a declaration given for model: the preset-name branch does not apply
        loc = _clean_loc(err["loc"])
        where = ".".join(p for p in loc if not p.startswith("<")) or "config"
        msg = err["msg"].removeprefix("Value error, ")
        got = err.get("input")
        shown = "" if isinstance(got, dict | list) else f" (got {got!r})"
        if err["type"] == "extra_forbidden":
            keys = _expected_keys(loc[:-1])
            msg = "unknown key" + (f"; expected one of {keys}" if keys else "")
            shown = ""
        elif err["type"] == "missing":
            msg = "required key is missing"
        if not loc and ":" in msg:  # a whole-config check names its own key
            lines.append(msg)
        else:
            lines.append(f"{where}: {msg}{shown}")
    return "invalid analysis config: " + "; ".join(lines)
