"""Coverage, interval widths and the challenge score of the H→ττ analysis, with pseudo-experiments.

The protocol of the FAIR Universe challenge (DESIGN.md §2): per pseudo-experiment the
true μ ~ U(0.1, 3) and the true nuisances from the challenge priors, the systematics
applied to an independent simulated test sample, every event drawn k ~ Poisson(w)
times; the trained analysis then measures μ with the unbinned profile likelihood
and with the binned baseline (same classifier, same constraints, same events).

Figures (one JSON line):

* ``coverage``: fraction of the unbinned 68.27 % intervals that contain μ_true
  (valid fits only; the number of invalid ones is reported), window [0.653, 0.712];
  ``coverage_binned`` likewise;
* ``mean_width_unbinned``, ``mean_width_binned``, ``width_ratio`` = unbinned/binned;
* ``score``: the challenge score of the unbinned intervals (and ``score_binned``).

The analysis is trained with the library's defaults (``--recipe default``: the
:class:`~unbinned.ml.SurrogateConfig` defaults, the training sample
:data:`~unbinned.sim.htautau.TRAINING_EVENTS`, a reference of 2 M raw events per process
kept as its moments, the classifier recalibrated on it: the recipe of ``challenge.yaml``);
``--recipe legacy`` gives the hand-set settings of the studies before 2026-12-08 (300 k
training events per process, one classifier network, (64, 64) responses trained 30
epochs on every event, ``--epochs``, ``--response-*``, ``--max-events-per-point``).

Steps (each cached under ``--work-dir`` in the library's content-addressed workspace,
:class:`unbinned.workflow.cache.Workspace`: one folder per complete set of settings,
named by their SHA-256 and recorded in its ``step.json``, so a rerun resumes): simulate the training
sample and train the surrogates (:func:`unbinned.ml.train_surrogate`); simulate the
reference (integration) sample and build the analysis on them
(:func:`unbinned.analysis.build_analysis`; variants of this step reuse the surrogates);
measure the expected raw event counts (``--events fresh``, the default: every
pseudo-experiment is simulated afresh, :func:`unbinned.sim.htautau.simulate_pseudo_experiment`)
or simulate one test sample to draw them all from (``--events pool``, the challenge's way,
whose Monte-Carlo fluctuation is then common to every pseudo-experiment);
run the pseudo-experiments (:func:`unbinned.infer.run_toys`, results appended to a
JSON-lines store: an interrupted study resumes without repeating a seed) on local
processes (``--workers``) or a Dask cluster (``--scheduler tcp://HOST:PORT``).

The integration sample's Monte-Carlo statistics must exceed the data's by a good
factor, process by process (the expected signal-like yield is estimated from it; μ̂
moves with its fluctuation by about √(N_data/N_reference) σ in every pseudo-experiment
alike).  Z→ττ makes 95 % of the data (≈1.0 M of 1.05 M events at 10 fb⁻¹), so
``--integration-process-events ztautau=N`` enlarges its part alone.
``--integration-batches K`` simulates the integration sample in K independent
batches, each weighted to 1/K of the expected yields and streamed into the moments
one at a time, so that it can exceed the memory (the binned templates and the
calibration then use a separate reference of ``--integration-events`` per process,
or ``--reference-process-events PROCESS=N`` for a process).
``--recalibrate-classifier`` (``auto``, the library's default, = ``true`` here: the
reference is an independent simulation) refits the classifier's temperature scaling on
the reference sample before the rest is built, so that its fractions integrate to the
simulated yields there (the training's calibration split is too small for the signal's:
:class:`unbinned.analysis.CalibrationOptions`).
``--luminosity-scale`` reduces the data's luminosity for a study that fits a
machine's time; ``integration_over_data`` (all processes) is reported.

Run: ``.venv/bin/python benchmarks/coverage.py`` (full size: hours; ``--quick``
for a small check).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from unbinned.ml.runtime import RunOptions
from unbinned.workflow.cache import Workspace
from unbinned.workflow.config import section_digest


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


def _cached(work: Workspace, kind: str, settings: dict[str, Any]) -> Path:
    """Where the ``kind`` output made with ``settings`` lives, in ``<kind>-<digest>/``.

    The step folder is named by the SHA-256 of the complete settings
    (:func:`unbinned.workflow.config.section_digest`); its manifest ``step.json``
    records them (:class:`unbinned.workflow.cache.Workspace`).
    """
    name = {"test": "test.parquet", "rates": "rates.json"}.get(kind, kind)
    return work.step_dir(f"{kind}-{section_digest(settings)[:16]}") / name


def _done(work: Workspace, path: Path, settings: dict[str, Any]) -> bool:
    """The output at ``path`` was made with ``settings`` and is intact (manifest checksums)."""
    return work.up_to_date(path.parent.name, section_digest(settings)) is not None


@contextlib.contextmanager
def _step(work: Workspace, path: Path, settings: dict[str, Any]) -> Iterator[Path]:
    """Stage the output at ``path`` and commit it with its settings (atomic)."""
    t0 = time.perf_counter()
    with work.staging(path.parent.name) as tmp:
        yield tmp
        work.commit(path.parent.name, tmp, section_digest(settings),
                    seconds=time.perf_counter() - t0, info={"settings": settings})  # fmt: skip


def _recalibrate(flag: str) -> bool | Literal["auto"]:
    """``--recalibrate-classifier`` as :class:`CalibrationOptions` takes it."""
    return "auto" if flag == "auto" else flag == "true"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (minutes)")
    parser.add_argument("--toys", type=int, default=1000)
    parser.add_argument(
        "--recipe",
        choices=("default", "legacy"),
        default="default",
        help="surrogate training: the library's defaults (SurrogateConfig(), the training "
        "sample TRAINING_EVENTS, a 2 M-per-process reference, as challenge.yaml) or the "
        "hand-set settings of the earlier studies (--epochs, --response-*, "
        "--max-events-per-point apply to these only)",
    )
    parser.add_argument(
        "--train-events",
        type=int,
        default=None,
        help="raw events per process (default: TRAINING_EVENTS for the default recipe, "
        "300000 for the legacy one)",
    )
    parser.add_argument(
        "--integration-events",
        type=int,
        default=None,
        help="per process (default: 2000000, as challenge.yaml; legacy: 1000000)",
    )
    parser.add_argument(
        "--integration-process-events",
        nargs="*",
        default=[],
        metavar="PROCESS=N",
        help="another size of the reference for a process (e.g. ztautau=5000000)",
    )
    parser.add_argument(
        "--reference-process-events",
        nargs="*",
        default=[],
        metavar="PROCESS=N",
        help="with --integration-batches: another size of the reference (templates, "
        "calibration) for a process",
    )
    parser.add_argument(
        "--integration-batches",
        type=int,
        default=1,
        help="simulate the integration sample in this many batches (memory)",
    )
    parser.add_argument("--test-events", type=int, default=300_000, help="per process")
    parser.add_argument("--luminosity-scale", type=float, default=1.0)
    parser.add_argument("--bins", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument(
        "--max-events-per-point",
        type=int,
        default=0,
        help="generated events per process at each variation point (0: all)",
    )
    parser.add_argument("--response-hidden", default="64,64", help="widths of the response MLPs")
    parser.add_argument("--response-epochs", type=int, default=30)
    parser.add_argument("--calibrate", action="store_true", help="score-calibrate the responses")
    parser.add_argument(
        "--calibrate-odds",
        action="store_true",
        help="with --calibrate: also the signal fraction's odds per score bin",
    )
    parser.add_argument(
        "--recalibrate-classifier",
        choices=("auto", "true", "false"),
        default="auto",
        help="refit the classifier's temperature scaling on the reference sample (auto, "
        "the library's default: yes, the reference here being an independent simulation)",
    )
    parser.add_argument(
        "--calibration-events",
        type=int,
        default=300_000,
        help="generated events per process of the calibration (0: the whole reference)",
    )
    parser.add_argument(
        "--soft-met-power",
        type=int,
        choices=(1, 2),
        default=2,
        help="the responses' soft_met parametrisation, nu = (soft_met/scale)**power",
    )
    parser.add_argument(
        "--soft-met-scale",
        type=float,
        default=None,
        help="GeV per unit of soft_met/scale; default 1 for power 1, the library's "
        "(sqrt(5), nu in [0, 5]) for power 2",
    )
    parser.add_argument(
        "--events",
        choices=("fresh", "pool"),
        default="fresh",
        help="simulate every pseudo-experiment afresh, or draw from one sample",
    )
    parser.add_argument(
        "--rate-events",
        type=int,
        default=2_000_000,
        help="raw events per process to measure the expected counts (fresh)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads for training")
    parser.add_argument(
        "--tag", default="", help="a label: part of the cache key of the analysis and toys"
    )
    parser.add_argument(
        "--yield-locality",
        type=float,
        default=None,
        help="weight the yield fit towards nominal (scale in sigma)",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scheduler", default=None, help="Dask scheduler tcp://HOST:PORT")
    parser.add_argument("--work-dir", default="benchmarks/.cache/coverage")
    parser.add_argument(
        "--out",
        default="benchmarks/results/coverage.json",
        help="where the summary, the command and the commit are written ('': nowhere)",
    )
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument(
        "--integration-mode",
        choices=("events", "moments"),
        default="moments",
        help="keep the integration sample as events or as its moments",
    )
    args = parser.parse_args()
    from _results import code_state

    state = code_state()  # the code the study starts with
    legacy = args.recipe == "legacy"
    if args.integration_events is None:
        args.integration_events = 1_000_000 if legacy else 2_000_000
    if args.quick:
        args.toys, args.train_events = min(args.toys, 40), 30_000
        args.integration_events, args.test_events = 60_000, 30_000
        args.luminosity_scale, args.epochs, args.bins = 0.02, 4, 5
        args.response_hidden, args.response_epochs, args.rate_events = "32,32", 4, 200_000
    hidden = tuple(int(h) for h in args.response_hidden.split(","))

    import pandas as pd
    import torch

    from _reference import reference_frame
    from unbinned.analysis import (
        AnalysisModel,
        AnalysisOptions,
        CalibrationOptions,
        IntegrationOptions,
        TemplateOptions,
        build_analysis,
        htautau_toy_task,
    )
    from unbinned.infer import make_executor, run_toys
    from unbinned.ml import (
        HTAUTAU_SHAPE_NUISANCES,
        HTauTauSource,
        SurrogateConfig,
        TrainConfig,
        load,
        save,
        train_surrogate,
    )
    from unbinned.ml.yields import PolynomialYieldModel
    from unbinned.sim.htautau import TRAINING_EVENTS, simulate

    train_events: int | dict[str, int] = (
        args.train_events if args.train_events is not None
        else 300_000 if legacy else dict(TRAINING_EVENTS)
    )  # fmt: skip
    torch.set_num_threads(1)
    # every cached piece lives in the library's content-addressed workspace
    # (unbinned.workflow.cache): a step folder per complete set of settings, whose
    # manifest records them; the analysis (reference sample, calibration, templates)
    # is cached apart from the surrogates it is built on, so its variants reuse them
    work = Workspace(args.work_dir)
    soft_default = next(n for n in HTAUTAU_SHAPE_NUISANCES if n.name == "soft_met")
    soft_scale = args.soft_met_scale
    if soft_scale is None:
        soft_scale = 1.0 if args.soft_met_power == 1 else soft_default.scale
    extra = dict(item.split("=") for item in args.integration_process_events)
    ref_extra = dict(item.split("=") for item in args.reference_process_events)
    k = args.integration_batches
    cfg = SurrogateConfig() if not legacy else SurrogateConfig(
        classifier=TrainConfig(epochs=args.epochs, batch_size=4096, patience=4),
        response=TrainConfig(hidden=hidden, epochs=args.response_epochs,
                             batch_size=16384, learning_rate=2e-3, patience=6),
        max_events_per_point=args.max_events_per_point or None, classifier_members=1,
        max_events_per_point_largest=None, response_emphasis=0.0, signal_response_epochs=None,
    )  # fmt: skip
    surrogate_settings: dict[str, Any] = {
        "train_events": train_events, "train_seed": 101, "seed": 0,
        "yield_locality": args.yield_locality,
        "soft_met": {"power": args.soft_met_power, "scale": soft_scale},
    }  # fmt: skip
    if legacy:  # the keys of the studies cached before the recipes (their caches stay valid)
        surrogate_settings.update(
            epochs=args.epochs, response_hidden=list(hidden),
            response_epochs=args.response_epochs,
            max_events_per_point=args.max_events_per_point or None,
        )  # fmt: skip
    else:
        surrogate_settings["config"] = cfg.to_dict()
    options = AnalysisOptions(
        TemplateOptions(bins=args.bins),
        IntegrationOptions(mode=args.integration_mode),
        CalibrationOptions(
            calibrate=args.calibrate, calibrate_odds=args.calibrate_odds,
            calibration_events=args.calibration_events or None,
            recalibrate_classifier=_recalibrate(args.recalibrate_classifier),
        ),
    )  # fmt: skip
    surrogate_dir = _cached(work, "surrogate", surrogate_settings)
    analysis_settings = {
        "surrogate": surrogate_dir.parent.name,
        "integration_events": args.integration_events,
        "integration_process_events": {p: int(n) for p, n in extra.items()},
        "integration_batches": k,
        "reference_process_events": {p: int(n) for p, n in ref_extra.items()} if k > 1 else {},
        "options": options.to_dict(),
        "tag": args.tag,
    }
    analysis_dir = _cached(work, "analysis", analysis_settings)
    test_settings = {"test_events": args.test_events, "seed": 103}
    rates_settings = {"rate_events": args.rate_events, "seed": 104}
    test_path = _cached(work, "test", test_settings)
    rates_path = _cached(work, "rates", rates_settings)
    t0 = time.perf_counter()
    if not _done(work, analysis_dir, analysis_settings):
        if not _done(work, surrogate_dir, surrogate_settings):
            log("simulating the training sample ...")
            train = simulate(train_events, seed=101, progress=True)
            shape = tuple(
                dataclasses.replace(n, power=args.soft_met_power, scale=soft_scale)
                if n.name == "soft_met"
                else n
                for n in HTAUTAU_SHAPE_NUISANCES
            )
            checkpoints = work.work_dir("checkpoints") / surrogate_dir.parent.name
            with _step(work, surrogate_dir, surrogate_settings) as tmp:
                surrogate = train_surrogate(
                    HTauTauSource(train, seed=101, nuisances=shape), config=cfg, seed=0,
                    run=RunOptions(progress=True, num_threads=args.threads,
                                   checkpoint_dir=checkpoints),
                    yield_model=None if args.yield_locality is None else functools.partial(
                        PolynomialYieldModel, 3, locality=args.yield_locality),
                )  # fmt: skip
                save(surrogate, tmp / surrogate_dir.name, overwrite=True)
            del train
        log("simulating the reference sample and building the analysis ...")
        surrogate = load(surrogate_dir)

        def reference(seed: int, fraction: float, sizes: dict[str, str]) -> pd.DataFrame:
            return reference_frame(args.integration_events, sizes, seed, fraction)

        def batches() -> Any:
            for b in range(k):
                log(f"integration batch {b + 1}/{k} ...")
                frame = reference(1020 + b, 1.0 / k, extra)
                yield HTauTauSource(frame, seed=1020 + b, nuisances=surrogate.nuisances).nominal()

        integ = reference(102, 1.0, ref_extra if k > 1 else extra)
        with _step(work, analysis_dir, analysis_settings) as tmp:
            model = build_analysis(
                surrogate, HTauTauSource(integ, seed=102, nuisances=surrogate.nuisances),
                integration_batches=batches() if k > 1 else None, progress=True,
                templates=options.templates, integration=options.integration,
                calibration=options.calibration, reference_independent=True,
            )  # fmt: skip
            model.save(tmp / analysis_dir.name, overwrite=True)
        del integ
    train_s = time.perf_counter() - t0
    if args.events == "pool" and not _done(work, test_path, test_settings):
        log("simulating the test sample ...")
        test = simulate(args.test_events, seed=103, progress=True)
        with _step(work, test_path, test_settings) as tmp:
            test.to_parquet(tmp / test_path.name)
    if args.events == "fresh" and not _done(work, rates_path, rates_settings):
        log("measuring the selection efficiencies (expected raw event counts) ...")
        from unbinned.sim.htautau import raw_rates

        rates = raw_rates(10.0, events_per_process=args.rate_events, seed=104)
        with _step(work, rates_path, rates_settings) as tmp:
            (tmp / rates_path.name).write_text(json.dumps(rates))
    analysis = AnalysisModel.load(analysis_dir)
    if analysis.templates is not None and not analysis.templates.secants:
        # analyses cached before template_reach="auto" keep ±1σ templates only; their
        # stored counts can be refitted with benchmarks/binned_refit.py
        log(
            "note: the cached binned templates have no secant up template (built before "
            "template_reach); refit: benchmarks/binned_refit.py --variant linear+soft_met=5"
        )
    integration_events = analysis.integration.n_events
    moments_error = getattr(analysis.integration, "max_rel_error", None)
    source: dict[str, Any] = (
        {"test_sample": str(test_path)} if args.events == "pool"
        else {"rates": json.loads(rates_path.read_text())}
    )  # fmt: skip
    task = functools.partial(
        htautau_toy_task,
        analysis=str(analysis_dir),
        luminosity_scale=args.luminosity_scale,
        **source,
    )
    data_dir = test_path if args.events == "pool" else rates_path
    study = {"analysis": analysis_dir.parent.name, "events": args.events,
             "luminosity_scale": args.luminosity_scale, "data": data_dir.parent.name}  # fmt: skip
    store = work.work_dir("toys") / f"{section_digest(study)[:16]}.jsonl"
    seeds = range(args.first_seed, args.first_seed + args.toys)
    kind = "dask" if args.scheduler else ("processes" if args.workers > 1 else "serial")
    executor = make_executor(kind, scheduler=args.scheduler, n_workers=args.workers)  # type: ignore[arg-type]
    t1 = time.perf_counter()
    try:
        study = run_toys(task, seeds, store=store, executor=executor, progress=True)
    finally:
        executor.close()
    toys_s = time.perf_counter() - t1
    summary = study.summary()
    # the binned baseline's intervals, summarised by the same code as the unbinned ones
    from unbinned.infer import ToyStudy

    rows = study.rows
    binned_cols = {"binned_mu_hat": "mu_hat", "binned_p16": "p16", "binned_p84": "p84",
                   "binned_valid": "valid"}  # fmt: skip
    has_b = set(binned_cols) <= set(rows.columns)
    b_frame = rows.drop(columns=["mu_hat", "p16", "p84", "valid"]).rename(columns=binned_cols)
    b_summary = ToyStudy(b_frame.assign(valid=b_frame["valid"].fillna(False).astype(bool)))
    binned = b_summary.summary() if has_b else None
    ok = rows[rows["error"].isna()] if "error" in rows.columns else rows
    data_events = float(ok["n_events"].mean()) if len(ok) else float("nan")
    nan = float("nan")
    out = {
        "coverage": round(summary.coverage, 4),
        "coverage_error": round(summary.coverage_error, 4),
        "coverage_binned": round(binned.coverage, 4) if binned else nan,
        "mean_width_unbinned": round(summary.mean_width, 4),
        "mean_width_binned": round(binned.mean_width, 4) if binned else nan,
        "width_ratio": round(summary.mean_width / binned.mean_width, 4) if binned else None,
        "score": None if summary.score is None else round(summary.score.score, 4),
        "score_binned": round(binned.score.score, 4) if binned and binned.score else nan,
        "bias": round(summary.bias, 4),
        "pull_mean": round(summary.pull_mean, 3),
        "pull_width": round(summary.pull_width, 3),
        "n_toys": summary.n,
        "n_valid": summary.n_valid,
        "n_valid_binned": binned.n_valid if binned else 0,
        "n_failed": summary.n_failed,
        "luminosity_scale": args.luminosity_scale,
        "data_events_mean": round(data_events),
        "integration_events": integration_events,
        "integration_over_data": round(integration_events / data_events, 2) if len(ok) else None,
        "integration_mode": args.integration_mode,
        "integration_process_events": extra or None,
        "moments_max_rel_error": moments_error,
        "events": args.events,
        "recipe": args.recipe,
        "train_events_per_process": train_events,
        "surrogate_config": cfg.to_dict(),
        "soft_met_power": args.soft_met_power,
        "soft_met_scale": soft_scale,
        "calibrated": args.calibrate,
        "classifier_recalibrated": args.recalibrate_classifier != "false",
        "odds_calibrated": args.calibrate_odds,
        "calibration_events": args.calibration_events if args.calibrate else None,
        "yield_locality": args.yield_locality,
        "train_s": round(train_s, 1),
        "toys_s": round(toys_s, 1),
        "executor": kind,
        "workers": args.workers,
        "loadavg": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(out))
    if args.out:
        from _results import write_result

        log(f"wrote {write_result(args.out, 'coverage', out, state)}")


if __name__ == "__main__":
    main()
