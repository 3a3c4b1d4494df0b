"""The steps of an analysis, run in order, each skipped when its inputs have not changed.

=========  =====================================================  ==========================
step       what it does                                           outputs (``<output>/<step>/``)
=========  =====================================================  ==========================
simulate   simulate the training and test samples (or check the   ``train.parquet``,
           user's files)                                          ``test.parquet``, ``data.json``
train      train the surrogates and the binned baseline           ``model/``, ``training.json``
validate   classifier calibration, reweighting closure and the    ``diagnostics.json``,
           surrogates' health checks on held-out simulation       ``health.json``
           (the health check itself runs in ``train``)
fit        Asimov and observed (pseudo-)data, unbinned and        ``result.json``,
           binned, every POI; pulls, every POI's impacts, Fisher  ``observed.parquet``
           information
scan       profile-likelihood scans of the POI, both methods      ``scan.json``
           (two POIs: also their joint 2-D scan)
toys       a pseudo-experiment study (resumable; each POI's       ``toys.jsonl``, ``summary.json``
           coverage; simulated afresh where the data can be)
report     the HTML page and the JSON summary                     ``report.html``, ``summary.json``
=========  =====================================================  ==========================

A step's cache key hashes the config sections it reads and the output checksums of
the steps it depends on (:mod:`unbinned.workflow.cache`).

Notes
-----
The CLI imports this module before it reads a config, so that a mistyped key is
reported at once: the imports that cost seconds (torch through
:mod:`unbinned.analysis` and :mod:`unbinned.ml`, scipy.stats through
:mod:`unbinned.infer`) are made inside the steps that need them, each marked
``# deferred``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np
from tqdm.auto import tqdm

from unbinned._version import __version__
from unbinned.data import EventSet
from unbinned.exceptions import ConfigError
from unbinned.sim.htautau import simulate as simulate_htautau
from unbinned.workflow.cache import StepRecord, Workspace, file_digest, write_json_atomic
from unbinned.workflow.config import (
    AnalysisConfig,
    DataFiles,
    NetworkSettings,
    SimulatorData,
    section_digest,
)
from unbinned.workflow.data import (
    REFERENCE_SEED_OFFSET,
    TEST_SEED_OFFSET,
    heldout_source,
    model_spec,
    observed_events,
    pseudo_data,
    reference_source,
    sample_file_paths,
    toy_sampling,
    toy_sampling_record,
    training_source,
)
from unbinned.workflow.diagnostics import diagnostics, health, health_options, leave_one_out
from unbinned.workflow.toys import config_json, poi_study_rows, workflow_toy_task

if TYPE_CHECKING:
    from unbinned.analysis import AnalysisModel, AnalysisOptions

__all__ = [
    "STEPS",
    "Analysis",
    "StepOutcome",
    "analysis_options",
    "measurement_dict",
    "pois_dict",
]

STEPS = ("simulate", "train", "validate", "fit", "scan", "toys", "report")
"""Every step, in order."""

_DEPENDS: dict[str, tuple[str, ...]] = {
    "simulate": (),
    "train": ("simulate",),
    "validate": ("simulate", "train"),
    "fit": ("simulate", "train"),
    "scan": ("train", "fit"),
    "toys": ("simulate", "train"),
    "report": ("simulate", "train", "validate", "fit", "scan", "toys"),
}

_SECTIONS: dict[str, tuple[str, ...]] = {
    "simulate": ("data", "seed"),
    "train": ("data", "model", "preset", "training", "binned", "seed"),
    "validate": ("report", "seed"),
    "fit": (
        "inference.poi",
        "inference.interval",
        "inference.asimov",
        "inference.pseudo_experiment",
        "inference.impacts",
    ),
    "scan": ("inference.poi", "inference.interval", "inference.scan", "inference.scan_2d"),
    "toys": ("inference.poi", "inference.interval"),  # + the study settings (see toys())
    "report": ("name", "report"),
}


@dataclass(frozen=True)
class StepOutcome:
    """What happened to a step: ``ran`` or ``skipped`` (up to date), and its record."""

    step: str
    status: str
    record: StepRecord

    @property
    def seconds(self) -> float:
        """Wall time of the run that made the outputs."""
        return self.record.seconds


def measurement_dict(m: Any) -> dict[str, Any]:
    """The numbers of a :class:`unbinned.analysis.Measurement` (without the binned one)."""
    value, lo, hi = float(m.value), float(m.lo), float(m.hi)
    return {
        "poi": str(m.poi),
        "value": value,
        "lo": lo,
        "hi": hi,
        "err_lo": value - lo,
        "err_hi": hi - value,
        "width": hi - lo,
        "valid": bool(m.valid),
    }


def pois_dict(m: Any) -> dict[str, Any] | None:
    """Every POI of a several-POI :class:`unbinned.analysis.Measurement`, and their correlation.

    ``{"pois": {name: measurement_dict}, "correlation": {"a,b": ρ}}`` of the unbinned
    fit, the binned one's under ``"binned"``; None with one POI.
    """
    if m is None or m.pois is None:
        return None
    names = list(m.pois)
    out: dict[str, Any] = {
        "pois": {k: measurement_dict(v) for k, v in m.pois.items()},
        "correlation": {f"{a},{b}": m.correlation_of(a, b)
                        for i, a in enumerate(names) for b in names[i + 1 :]},
    }  # fmt: skip
    if m.binned is not None:
        out["binned"] = pois_dict(m.binned)
    return out


def _fisher_dict(f: Any) -> dict[str, Any]:
    return {
        "parameter_names": list(f.parameter_names),
        "floating": list(f.floating),
        "information": np.asarray(f.information).tolist(),
        "point": dict(f.point),
    }


def _binned_study(study: Any) -> Any:
    """The binned baseline's rows of a toy study as a study of their own."""
    from unbinned.infer import ToyStudy  # deferred: scipy.stats (~0.8 s), module notes

    rows = study.rows.drop(columns=["mu_hat", "p16", "p84", "valid"]).rename(
        columns={f"binned_{k}": k for k in ("mu_hat", "p16", "p84", "valid")}
    )
    rows["valid"] = rows["valid"].fillna(False).astype(bool)
    return ToyStudy(rows, study.store, study.task + " (binned)")


def _poi_summaries(study: Any, names: Sequence[str]) -> dict[str, Any]:
    """Coverage, bias and pulls of every POI of a several-POI toy study (empty: one POI).

    ``{name: summary}``, the binned fit's under ``summary["binned"]``
    (:func:`~unbinned.workflow.toys.poi_study_rows`).
    """
    from unbinned.infer import ToyStudy  # deferred: scipy.stats (~0.8 s), module notes

    out: dict[str, Any] = {}
    if len(names) < 2:
        return out
    for name in names:
        rows = poi_study_rows(study.rows, name)
        if rows is None:
            continue
        one = ToyStudy(rows, study.store, f"{study.task} ({name})").summary().as_dict()
        brows = poi_study_rows(study.rows, name, binned=True)
        if brows is not None:
            one["binned"] = ToyStudy(brows, study.store, f"{study.task} ({name}, binned)"
                                     ).summary().as_dict()  # fmt: skip
        out[name] = one
    return out


def _toy_warnings(summary: Mapping[str, Any]) -> list[str]:
    """The statistical flags of a toys ``summary.json`` (the binned baseline's labelled)."""
    out = [f"pseudo-experiments: {w}" for w in summary.get("warnings", [])]
    binned = summary.get("binned") or {}
    out += [f"pseudo-experiments, binned baseline: {w}" for w in binned.get("warnings", [])]
    for name, one in list((summary.get("pois") or {}).items())[1:]:  # the first: as above
        out += [f"pseudo-experiments, {name}: {w}" for w in one.get("warnings", [])]
        b = one.get("binned") or {}
        out += [f"pseudo-experiments, {name}, binned baseline: {w}" for w in b.get("warnings", [])]
    return out


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _impact_dicts(found: Sequence[Any]) -> list[dict[str, Any]]:
    """Impacts as JSON rows, ranked by post-fit size (largest first; NaN ones last)."""
    ranked = sorted(found, key=lambda i: -i.size if math.isfinite(i.size) else 0.0)
    return [{k: _finite(v) if isinstance(v, float) else v
             for k, v in dataclasses.asdict(i).items()} for i in ranked]  # fmt: skip


class Analysis:
    """Runs the steps of one analysis config into its output folder.

    Parameters
    ----------
    config
        The validated config (:func:`unbinned.workflow.load_config`).
    output
        Output folder (default: the config's ``output``).
    force
        Re-run steps even when they are up to date.
    progress
        Progress bars (stderr).
    log
        Where step messages go (default: stderr).
    """

    def __init__(
        self,
        config: AnalysisConfig,
        *,
        output: str | Path | None = None,
        force: bool | Sequence[str] = False,
        progress: bool = True,
        log: TextIO | None = None,
    ) -> None:
        self.config = config
        self.workspace = Workspace(Path(output) if output is not None else config.output_dir)
        self.force = set(STEPS) if force is True else set(force or ())
        self.progress = progress
        self._log = log if log is not None else sys.stderr
        self._model: AnalysisModel | None = None

    # ------------------------------------------------------------------ plumbing
    def _bar(self, items: Iterable[Any], desc: str) -> Any:
        return tqdm(
            list(items), desc=f"  {desc}", file=self._log, disable=not self.progress, leave=False
        )

    @property
    def root(self) -> Path:
        """The output folder."""
        return self.workspace.root

    def say(self, text: str) -> None:
        """A progress message on the log stream."""
        print(text, file=self._log, flush=True)

    def _key(self, step: str, extra: Mapping[str, Any] | None = None) -> str:
        deps = {d: self.workspace.require(d).digest for d in _DEPENDS[step]}
        config = self.config.section(*_SECTIONS[step])
        if self.config.data.kind == "files" and "data" in config:  # observed: fit's input only
            config["data"] = {k: v for k, v in config["data"].items() if k != "observed"}
        return section_digest(
            {
                "step": step,
                "version": __version__,  # a new release recomputes every step
                "config": config,
                "inputs": deps,
                "extra": dict(extra or {}),
            }
        )

    def _run(
        self,
        step: str,
        body: Callable[[Path], Mapping[str, Any] | None],
        extra: Mapping[str, Any] | None = None,
    ) -> StepOutcome:
        key = self._key(step, extra)
        rec = None if step in self.force else self.workspace.up_to_date(step, key)
        if rec is not None:
            self.say(f"[{step}] up to date, skipped (outputs in {self.workspace.step_dir(step)})")
            return StepOutcome(step, "skipped", rec)
        self.say(f"[{step}] running ...")
        if step != "simulate" and self.config.training.threads is not None:
            import torch  # deferred: torch costs ~2 s; the CLI imports this module at start-up

            torch.set_num_threads(int(self.config.training.threads))
        t0 = time.perf_counter()
        with self.workspace.staging(step) as tmp:
            info = body(tmp)
            rec = self.workspace.commit(step, tmp, key, seconds=time.perf_counter() - t0, info=info)
        self.say(f"[{step}] done in {rec.seconds:.1f} s")
        return StepOutcome(step, "ran", rec)

    def run(self, steps: Iterable[str] = STEPS) -> dict[str, StepOutcome]:
        """Run ``steps`` (default: all) in order; returns what happened to each."""
        wanted = list(steps)
        unknown = [s for s in wanted if s not in STEPS]
        if unknown:
            raise ConfigError(f"unknown step(s) {unknown}; the steps are {list(STEPS)}")
        out = {}
        for s in STEPS:
            if s in wanted:
                out[s] = getattr(self, s)()
        return out

    def model(self) -> AnalysisModel:
        """The trained :class:`unbinned.analysis.AnalysisModel` (loaded once)."""
        if self._model is None:
            from unbinned.analysis import AnalysisModel  # deferred: pulls in torch (~2 s)

            rec = self.workspace.require("train")
            self._model = AnalysisModel.load(self.workspace.step_dir("train") / "model")
            self._model_key = rec.key
        return self._model

    @property
    def data_dir(self) -> Path:
        """The ``simulate`` step's folder."""
        return self.workspace.step_dir("simulate")

    @property
    def poi(self) -> str:
        """The parameter of interest."""
        return self.config.inference.poi or model_spec(self.config).poi_names[0]

    # ------------------------------------------------------------------ simulate
    def simulate(self) -> StepOutcome:
        """Simulate the samples (simulator), or record the checksums of the user's files."""
        data = self.config.data
        extra: dict[str, Any] = {}
        if isinstance(data, DataFiles):
            for name in ("train", "test", "observed"):
                p = getattr(data, name)
                if p is not None:
                    path = self.config.resolve(p)
                    if not path.is_file():
                        raise ConfigError(
                            f"data.{name}: file {str(path)!r} does not exist; fix the path"
                        )
                    extra[name] = file_digest(path)
        for path in sample_file_paths(self.config, observed=False):  # data: kind: files
            extra[str(path)] = file_digest(path)

        def body(tmp: Path) -> dict[str, Any]:
            info: dict[str, Any] = {"kind": data.kind}
            if isinstance(data, SimulatorData):
                for which, seed in (
                    ("train", self.config.seed),
                    ("test", self.config.seed + TEST_SEED_OFFSET),
                    ("reference", self.config.seed + REFERENCE_SEED_OFFSET),
                ):
                    frame = self._simulated(data.raw_events(which), which, seed)
                    frame.to_parquet(tmp / f"{which}.parquet")
                    info[f"{which}_events"] = len(frame)
            else:
                info.update({k: v for k, v in extra.items()})
            write_json_atomic(tmp / "data.json", info)
            return info

        return self._run("simulate", body, extra)

    def _simulated(self, counts: Mapping[str, int], which: str, seed: int) -> Any:
        """The simulator's frame of ``counts`` raw events per process."""
        data = self.config.data
        assert isinstance(data, SimulatorData)
        sizes = set(counts.values())
        told = (
            f"{sizes.pop()} raw events per process"
            if len(sizes) == 1
            else "raw events " + ", ".join(f"{p} {n}" for p, n in counts.items())
        )
        self.say(f"  simulating {told} ({which}, seed {seed})")
        # each process weighted by its own count; a seed gives a process the same events
        # whichever others are simulated with it
        return simulate_htautau(
            dict(counts), seed=seed, luminosity=data.luminosity, processes=list(counts),
            progress=self.progress,
        )  # fmt: skip

    # ------------------------------------------------------------------ train
    def _train_arguments(self, source: Any, checkpoint_dir: Path | None = None) -> dict[str, Any]:
        """The keyword arguments of :func:`~unbinned.analysis.train_analysis` the config sets."""
        # deferred: unbinned.ml pulls in torch (~2 s); the CLI imports this module at start-up
        from unbinned.ml import RunOptions, SurrogateConfig, TrainConfig, default_design

        t = self.config.training
        base = SurrogateConfig()

        def network(which: str, defaults: TrainConfig, settings: NetworkSettings) -> TrainConfig:
            try:
                return TrainConfig.from_dict({**defaults.to_dict(), **settings.overrides()})
            except ConfigError as exc:  # e.g. max_epochs below the default min_epochs
                raise ConfigError(f"training.{which}: {exc}") from None

        surrogate_config = SurrogateConfig(
            classifier=network("classifier", base.classifier, t.classifier),
            response=network("response", base.response, t.response),
            calibration_fraction=t.calibration_fraction,
            classifier_members=base.classifier_members
            if t.classifier_members is None
            else t.classifier_members,
            max_events_per_point=t.max_events_per_point,
            max_events_per_point_largest=t.max_events_per_point_largest,
        )
        d = t.design
        design = (
            default_design(source.nuisances, steps=d.steps, mixed=d.mixed, corners=d.corners)
            if source.nuisances
            else None
        )
        data = self.config.data
        if data.kind == "files" and getattr(data, "callable", None) is None:
            design = source.design  # file variations: the points that exist
        options = analysis_options(self.config)
        return {
            "surrogate_config": surrogate_config,
            "design": design,
            "seed": self.config.seed,
            "run": RunOptions(
                device=t.device if t.device is not None else "cpu",
                progress=self.progress,
                checkpoint_dir=checkpoint_dir,
                num_threads=t.threads,
            ),
            "yield_model": t.yield_model.factory(),
            "templates": options.templates,
            "integration": options.integration,
            "calibration": options.calibration,
        }

    def _health_arguments(self) -> dict[str, Any]:
        """The health check of :func:`~unbinned.analysis.train_analysis`: the held-out events."""
        heldout = heldout_source(self.config, self.data_dir)
        return {"health": health_options(heldout), "health_source": heldout}

    def train(self) -> StepOutcome:
        """Train the analysis model (surrogates and binned baseline), resumably."""

        def body(tmp: Path) -> dict[str, Any]:
            from unbinned.analysis import train_analysis  # deferred: pulls in torch (~2 s)

            cfg = self.config
            source = training_source(cfg, self.data_dir)
            reference = reference_source(cfg, self.data_dir)
            ckpt = self.workspace.work_dir("train") / self._key("train")[:16]
            kwargs = {**self._train_arguments(source, checkpoint_dir=ckpt),
                      **self._health_arguments()}  # fmt: skip
            t0 = time.perf_counter()
            model = train_analysis(source, model_spec(cfg), reference=reference, **kwargs)
            seconds = time.perf_counter() - t0
            model.save(tmp / "model")
            self._model = None
            info = {"seconds": seconds, "source": repr(source), "model": repr(model)}
            write_json_atomic(tmp / "training.json", info)
            shutil.rmtree(ckpt, ignore_errors=True)
            return info

        return self._run("train", body)

    # ------------------------------------------------------------------ validate
    def validate(self) -> StepOutcome:
        """Classifier calibration, reweighting closure and the surrogates' health checks.

        On held-out simulation (:mod:`unbinned.workflow.diagnostics`); the health
        report goes to ``health.json``, each failed check is logged as a ``WARNING``
        line (and listed by :meth:`warnings`).
        """

        def body(tmp: Path) -> dict[str, Any]:
            # one held-out source for every check: its files are read (or its events
            # simulated) once, and its nominal sample is evaluated once
            source = heldout_source(self.config, self.data_dir)
            diag = diagnostics(
                self.model(),
                self.config,
                source,
                features=self.config.report.closure_features,
                say=self.say,
            )
            loo = leave_one_out(self.model(), self.config, source, say=self.say)
            if loo is not None:
                diag["leave_one_out"] = loo
            write_json_atomic(tmp / "diagnostics.json", diag)
            info = {"calibration_error": diag.get("reliability", {}).get("calibration_error")}
            report = health(self.model(), self.config, source, say=self.say)
            if report is not None:
                write_json_atomic(tmp / "health.json", report)
                for w in report["warnings"]:
                    self.say(f"  WARNING: {w}")
                info.update(health_passed=report["passed"], warnings=list(report["warnings"]))
            if loo is not None and loo.get("warnings"):
                info["warnings"] = [*info.get("warnings", []), *loo["warnings"]]
            return info

        return self._run("validate", body, {"checks": ["diagnostics", "health", "leave_one_out"]})

    def health(self) -> dict[str, Any] | None:
        """The ``validate`` step's health report (``health.json``), or None without one."""
        path = self.workspace.step_dir("validate") / "health.json"
        if self.workspace.record("validate") is None or not path.is_file():
            return None
        out: dict[str, Any] = json.loads(path.read_text())
        return out

    def warnings(self) -> list[str]:
        """The failed self-checks of the steps run so far.

        The surrogates' health and the leave-one-out closure (``validate``) and the
        pseudo-experiment study's statistical flags (``toys``).
        """
        out = list((self.health() or {}).get("warnings", []))
        diag = self.workspace.step_dir("validate") / "diagnostics.json"
        if self.workspace.record("validate") is not None and diag.is_file():
            loo = json.loads(diag.read_text()).get("leave_one_out") or {}
            out += list(loo.get("warnings", []))
        toys = self.workspace.step_dir("toys") / "summary.json"
        if self.workspace.record("toys") is not None and toys.is_file():
            out += _toy_warnings(json.loads(toys.read_text()))
        return out

    # ------------------------------------------------------------------ fit
    def observed(self) -> tuple[Any, dict[str, float] | None]:
        """The dataset ``fit`` measures (the user's, or the configured pseudo-experiment)."""
        events = observed_events(self.config)
        if events is not None:
            return events, None
        pe = self.config.inference.pseudo_experiment
        return pseudo_data(
            self.config,
            self.data_dir,
            mu=pe.mu,
            seed=pe.seed,
            nuisances=pe.nuisances,
            draw=pe.draw_nuisances,
        )

    def asimov_point(self) -> dict[str, float]:
        """The parameter values of the Asimov dataset."""
        spec = model_spec(self.config)
        unknown = sorted(set(self.config.inference.asimov) - set(spec.parameter_names))
        if unknown:
            raise ConfigError(
                f"inference.asimov: unknown parameter(s) {unknown}; "
                f"the model has {list(spec.parameter_names)}"
            )
        return {**spec.init_values(), **self.config.inference.asimov}

    def fit(self) -> StepOutcome:
        """Measure the Asimov dataset and the observed (pseudo-)data, unbinned and binned."""

        def body(tmp: Path) -> dict[str, Any]:
            # deferred: scipy.stats (~0.8 s), module notes
            from unbinned.infer import fisher_information, impacts_by_poi, pulls

            model = self.model()
            poi = self.poi
            theta = self.asimov_point()
            self.say("  Asimov dataset ...")
            asimov = model.measure_asimov(theta, binned=True, poi=poi)
            self.say("  observed dataset ...")
            events, truth = self.observed()
            events.to_parquet(tmp / "observed.parquet")
            obs = model.measure(events, binned=True, poi=poi)
            lik = model.likelihood(events)
            result: dict[str, Any] = {
                "poi": poi,
                "truth": truth,
                "n_observed": float(events.sum_weights),
                "asimov_point": theta,
                "asimov": {
                    "unbinned": measurement_dict(asimov),
                    "binned": measurement_dict(asimov.binned) if asimov.binned else None,
                },
                "observed": {
                    "unbinned": measurement_dict(obs),
                    "binned": measurement_dict(obs.binned) if obs.binned else None,
                },
                "pois": list(model.pois),
                "several_pois": {"asimov": pois_dict(asimov), "observed": pois_dict(obs)},
                "fit": {
                    "values": dict(obs.fit.values),
                    "errors": dict(obs.fit.errors),
                    "fval": float(obs.fit.fval),
                    "valid": bool(obs.fit.valid),
                    "status": str(obs.fit.status),
                    "correlation": obs.to_dict()["correlation"],
                },
            }
            result["pulls"] = [dataclasses.asdict(p) for p in pulls(lik, obs.fit)]
            # every POI's impacts, from the same fits (the headline POI's also as "impacts")
            by_poi: dict[str, list[Any]] = {p: [] for p in model.pois}
            if self.config.inference.impacts:
                names = [p["nuisance"] for p in result["pulls"]]
                for name in self._bar(names, "impacts"):
                    one = impacts_by_poi(lik, list(model.pois), obs.fit, nuisances=[name])
                    for p, found in one.items():
                        by_poi[p] += found
            result["impacts_by_poi"] = {p: _impact_dicts(found) for p, found in by_poi.items()}
            result["impacts"] = result["impacts_by_poi"].get(poi, [])
            self.say("  Fisher information (Asimov) ...")
            fisher = {}
            for label, make in (
                ("unbinned", model.likelihood),
                ("binned", model.binned_likelihood),
            ):
                f = fisher_information(make(events).asimov(theta), theta)
                fisher[label] = {
                    **_fisher_dict(f),
                    "sigma": f.sigma(poi),
                    "sigma_stat": f.sigma_fixed(poi),
                    "sigma_pois": {p: f.sigma(p) for p in model.pois},
                }
            result["fisher"] = fisher
            write_json_atomic(tmp / "result.json", result)
            return {"mu_hat": result["observed"]["unbinned"]["value"]}

        observed = {str(p): file_digest(p) for p in sample_file_paths(self.config, samples=False)}
        return self._run("fit", body, {"observed": observed} if observed else None)

    def fit_result(self) -> dict[str, Any]:
        """The ``fit`` step's ``result.json``."""
        self.workspace.require("fit")
        out: dict[str, Any] = json.loads(
            (self.workspace.step_dir("fit") / "result.json").read_text()
        )
        return out

    # ------------------------------------------------------------------ scan
    def scan(self) -> StepOutcome:
        """Profile-likelihood scans of the POI on the observed data, unbinned and binned."""

        def body(tmp: Path) -> dict[str, Any]:
            # deferred: scipy.stats, module notes
            from unbinned.infer import fit as do_fit
            from unbinned.infer import profile_scan

            model = self.model()
            poi = self.poi
            res = self.fit_result()
            events = EventSet.read_parquet(self.workspace.step_dir("fit") / "observed.parquet")
            sc = self.config.inference.scan
            if sc.range is not None:
                lo, hi = sc.range
            else:
                # every method's best fit ± width × its larger error
                vals = [res["observed"][k] for k in ("unbinned", "binned") if res["observed"][k]]
                lo = min(v["value"] - sc.width * max(v["err_lo"], v["err_hi"]) for v in vals)
                hi = max(v["value"] + sc.width * max(v["err_lo"], v["err_hi"]) for v in vals)
            bounds = self.model_bounds().get(poi)
            if bounds is not None:
                lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
            grid = np.linspace(lo, hi, sc.points)
            out: dict[str, Any] = {"poi": poi}
            for label, make in (
                ("unbinned", model.likelihood),
                ("binned", model.binned_likelihood),
            ):
                lik = make(events)
                best = do_fit(lik)
                dq = np.empty(grid.size)
                valid = np.empty(grid.size, dtype=bool)
                order = np.argsort(np.abs(grid - best.values[poi]))  # outward from the minimum
                for i in self._bar(order, f"{label} scan"):
                    s = profile_scan(lik, poi, [float(grid[i])], best=best)
                    dq[i], valid[i] = s.delta_q[0], s.valid[0]
                out[label] = {
                    "values": grid.tolist(),
                    "delta_q": dq.tolist(),
                    "valid": valid.tolist(),
                    "best": float(best.values[poi]),
                }
            info: dict[str, Any] = {"points": sc.points, "range": [float(lo), float(hi)]}
            scan2 = self._scan_2d(model, events, res)
            if scan2 is not None:
                out["scan_2d"] = scan2
                info["scan_2d"] = {"pois": scan2["pois"], "points": len(scan2["x"])}
            write_json_atomic(tmp / "scan.json", out)
            return info

        return self._run("scan", body)

    def _scan_2d(self, model: Any, events: Any, res: Mapping[str, Any]) -> dict[str, Any] | None:
        """The joint Δq scan of two POIs, unbinned and binned (None: one POI, or points 0).

        The grid of each POI: ``inference.scan_2d.ranges`` or its best fits ± ``width``
        times the larger error (unbinned and binned), clipped to its bounds.
        """
        s2 = self.config.inference.scan_2d
        several = res.get("several_pois", {}).get("observed")
        if s2.points == 0 or len(model.pois) < 2 or several is None:
            return None
        pois = s2.pois or (model.pois[0], model.pois[1])
        grids = []
        bounds = self.model_bounds()
        for p in pois:
            if p in s2.ranges:
                lo, hi = s2.ranges[p]
            else:
                vals = [several["pois"][p]] + ([several["binned"]["pois"][p]]
                                               if several.get("binned") else [])  # fmt: skip
                lo = min(v["value"] - s2.width * max(v["err_lo"], v["err_hi"]) for v in vals)
                hi = max(v["value"] + s2.width * max(v["err_lo"], v["err_hi"]) for v in vals)
            b = bounds.get(p)
            if b is not None:
                lo, hi = max(lo, b[0]), min(hi, b[1])
            grids.append(np.linspace(lo, hi, s2.points))
        self.say(f"  2-D scan of {pois[0]} × {pois[1]} on {s2.points} × {s2.points} points ...")
        out: dict[str, Any] = {"pois": list(pois), "x": grids[0].tolist(), "y": grids[1].tolist()}
        for label, binned in (("unbinned", False), ("binned", True)):
            if binned and model.templates is None:
                continue
            scan = model.scan_2d((grids[0], grids[1]), events, pois=pois, binned=binned)
            out[label] = scan.to_dict()
        return out

    def model_bounds(self) -> dict[str, tuple[float, float] | None]:
        """Declared parameter bounds."""
        return model_spec(self.config).bounds()

    # ------------------------------------------------------------------ toys
    def toys(
        self,
        *,
        n: int | None = None,
        executor: str | None = None,
        workers: int | None = None,
        scheduler: str | None = None,
    ) -> StepOutcome:
        """A resumable pseudo-experiment study (executor options override the config)."""
        cfg = self.config
        t = cfg.inference.toys
        changes: dict[str, Any] = {}
        if n is not None:
            changes["n"] = n
        if executor is not None:
            changes["executor"] = executor
        if workers is not None:
            changes["workers"] = workers
        if scheduler is not None:
            changes["scheduler"] = scheduler
            changes.setdefault("executor", "dask")
        if changes:
            cfg = cfg.replace(inference={"toys": changes})
            t = cfg.inference.toys
        # where the toys run does not change their results: not part of the key
        study = {k: v for k, v in t.model_dump(mode="json").items()
                 if k not in ("executor", "workers", "scheduler")}  # fmt: skip

        def body(tmp: Path) -> dict[str, Any]:
            # deferred: scipy.stats (~0.8 s), module notes
            from unbinned.infer import make_executor, run_toys

            # the store does not depend on n: a larger study reuses the toys already run
            key = self._key("toys", {"study": {k: v for k, v in study.items() if k != "n"}})
            store = self.workspace.work_dir("toys") / f"{key[:16]}.jsonl"
            # neither the number of toys nor where they run changes a toy: not in the task
            neutral = {"n": 0, "executor": "serial", "workers": None, "scheduler": None}
            task = functools.partial(
                workflow_toy_task,
                config=config_json(cfg.replace(inference={"toys": neutral})),
                model_dir=str(self.workspace.step_dir("train") / "model"),
                data_dir=str(self.data_dir),
                key=key[:16],
            )
            seeds = range(t.first_seed, t.first_seed + t.n)
            summary: dict[str, Any] = {}
            if t.n:
                self.say(f"  pseudo-data: {toy_sampling(cfg)}")
                with make_executor(t.executor, scheduler=t.scheduler, n_workers=t.workers) as ex:
                    self.say(f"  {t.n} pseudo-experiments on {ex!r} (store {store})")
                    result = run_toys(task, seeds, store=store, executor=ex, progress=self.progress)
                result.rows.to_json(tmp / "toys.jsonl", orient="records", lines=True)
                summary = result.summary().as_dict()
                if "binned_mu_hat" in result.rows.columns:
                    summary["binned"] = _binned_study(result).summary().as_dict()
                per_poi = _poi_summaries(result, cfg.poi_names)
                if per_poi:
                    summary["pois"] = per_poi
                # how the toys were drawn; a pool too small for them is a warning
                sampling = toy_sampling_record(cfg, self.data_dir)
                summary["sampling"] = sampling
                if sampling["warning"]:
                    summary["warnings"] = [*summary.get("warnings", []), sampling["warning"]]
                for w in _toy_warnings(summary):
                    self.say(f"  WARNING: {w}")
            write_json_atomic(tmp / "summary.json", summary)
            return {"n": t.n, "coverage": summary.get("coverage")}

        return self._run("toys", body, {"study": study})

    # ------------------------------------------------------------------ report
    def report(self) -> StepOutcome:
        """Write the HTML report and the JSON summary."""

        def body(tmp: Path) -> dict[str, Any]:
            # deferred: the report layer sits above the workflow (and plots with matplotlib)
            from unbinned.report.analysis import build_report

            seconds = {s: self.workspace.require(s).seconds for s in _DEPENDS["report"]}
            html_path, _ = build_report(self, tmp, seconds)
            return {"html": html_path.name}

        return self._run("report", body)


def analysis_options(cfg: AnalysisConfig) -> AnalysisOptions:
    """The option groups of :func:`~unbinned.analysis.build_analysis` that a config sets.

    ``binned.bins`` → :class:`~unbinned.analysis.TemplateOptions`;
    ``training.integration`` → :class:`~unbinned.analysis.IntegrationOptions` (unset
    with counting regions: ``events``, which they need);
    ``training.score_calibration`` and ``training.classifier_recalibration`` →
    :class:`~unbinned.analysis.CalibrationOptions`.  Every other option keeps its default.
    """
    # deferred: unbinned.analysis pulls in torch (~2 s); the CLI imports this module at start-up
    from unbinned.analysis import (
        AnalysisOptions,
        CalibrationOptions,
        IntegrationOptions,
        TemplateOptions,
    )

    t = cfg.training
    # counting regions need the integration events (their region labels); the config
    # rejects an explicit ``moments`` with them
    mode = t.integration or ("events" if cfg.counting_regions else "moments")
    return AnalysisOptions(
        templates=TemplateOptions(bins=cfg.binned.bins),
        integration=IntegrationOptions(mode=mode),
        calibration=CalibrationOptions(
            calibrate=t.score_calibration, recalibrate_classifier=t.classifier_recalibration
        ),
    )
