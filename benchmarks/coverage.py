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

Steps (each cached under ``--work-dir``, so a rerun resumes): simulate the training
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
``--recalibrate-classifier`` refits the classifier's temperature scaling on the
reference sample before the rest is built, so that its fractions integrate to the
simulated yields there (the training's calibration split is too small for the signal's:
:func:`unbinned.analysis.build_analysis`).
``--luminosity-scale`` reduces the data's luminosity for a study that fits a
machine's time; ``integration_over_data`` (all processes) is reported.

Run: ``.venv/bin/python benchmarks/coverage.py`` (full size: hours; ``--quick``
for a small check).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (minutes)")
    parser.add_argument("--toys", type=int, default=1000)
    parser.add_argument("--train-events", type=int, default=300_000, help="per process")
    parser.add_argument("--integration-events", type=int, default=1_000_000, help="per process")
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
        action="store_true",
        help="refit the classifier's temperature scaling on the reference sample",
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
    parser.add_argument("--tag", default="", help="extra name of the cached analysis/toys")
    parser.add_argument(
        "--yield-locality",
        type=float,
        default=None,
        help="weight the yield fit towards nominal (scale in sigma)",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scheduler", default=None, help="Dask scheduler tcp://HOST:PORT")
    parser.add_argument("--work-dir", default="benchmarks/.cache/coverage")
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument(
        "--integration-mode",
        choices=("events", "moments"),
        default="moments",
        help="keep the integration sample as events or as its moments",
    )
    args = parser.parse_args()
    if args.quick:
        args.toys, args.train_events = min(args.toys, 40), 30_000
        args.integration_events, args.test_events = 60_000, 30_000
        args.luminosity_scale, args.epochs, args.bins = 0.02, 4, 5
        args.response_hidden, args.response_epochs, args.rate_events = "32,32", 4, 200_000
    hidden = tuple(int(h) for h in args.response_hidden.split(","))

    import pandas as pd
    import torch

    from _reference import reference_frame
    from unbinned.analysis import AnalysisModel, build_analysis, htautau_toy_task
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
    from unbinned.sim.htautau import simulate

    torch.set_num_threads(1)
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    # the surrogates (trained once) and the analysis built on them (reference sample,
    # calibration, templates) are cached separately: variants of the second reuse the first
    train_tag = (f"tr{args.train_events}_ep{args.epochs}"
                 f"_r{'x'.join(map(str, hidden))}e{args.response_epochs}")  # fmt: skip
    if args.max_events_per_point:
        train_tag += f"_pp{args.max_events_per_point}"
    if args.yield_locality is not None:
        train_tag += f"_loc{args.yield_locality:g}"
    soft_default = next(n for n in HTAUTAU_SHAPE_NUISANCES if n.name == "soft_met")
    soft_scale = args.soft_met_scale
    if soft_scale is None:
        soft_scale = 1.0 if args.soft_met_power == 1 else soft_default.scale
    if args.soft_met_power != 1:  # caches without the suffix were trained in soft_met itself
        train_tag += f"_sm{args.soft_met_power}"
    if soft_scale != 1.0:  # "_sm2" alone: soft_met² in GeV² (nu up to 25)
        train_tag += f"s{soft_scale:.3g}"
    extra = dict(item.split("=") for item in args.integration_process_events)
    tag = f"{train_tag}_in{args.integration_events}"
    tag += "".join(f"_{p}{int(n)}" for p, n in sorted(extra.items()))
    ref_extra = dict(item.split("=") for item in args.reference_process_events)
    if args.integration_batches > 1:
        tag += f"_k{args.integration_batches}"
        tag += "".join(f"_ref{p}{int(n)}" for p, n in sorted(ref_extra.items()))
    tag += f"_b{args.bins}_{args.integration_mode}"
    if args.calibrate:
        tag += "_cal"
        if args.calibration_events != 300_000:
            tag += f"{args.calibration_events}"
    if args.recalibrate_classifier:
        tag += "_rc"
    if args.calibrate_odds:
        tag += "_odds"
    if args.tag:
        tag += f"_{args.tag}"
    surrogate_dir = work / f"surrogate_{train_tag}"
    analysis_dir = work / f"analysis_{tag}"
    test_path = work / f"test_{args.test_events}.parquet"
    rates_path = work / f"rates_{args.rate_events}.json"
    t0 = time.perf_counter()
    if not (analysis_dir / "analysis.json").is_file():
        if not (surrogate_dir / "model.json").is_file():
            log("simulating the training sample ...")
            train = simulate(args.train_events, seed=101, progress=True)
            cfg = SurrogateConfig(
                classifier=TrainConfig(epochs=args.epochs, batch_size=4096, patience=4),
                response=TrainConfig(hidden=hidden, epochs=args.response_epochs,
                                     batch_size=16384, learning_rate=2e-3, patience=6),
                max_events_per_point=args.max_events_per_point or None,
            )  # fmt: skip
            shape = tuple(
                dataclasses.replace(n, power=args.soft_met_power, scale=soft_scale)
                if n.name == "soft_met"
                else n
                for n in HTAUTAU_SHAPE_NUISANCES
            )
            surrogate = train_surrogate(
                HTauTauSource(train, seed=101, nuisances=shape), config=cfg, seed=0, progress=True,
                num_threads=args.threads, checkpoint_dir=work / f"checkpoints_{train_tag}",
                yield_model=None if args.yield_locality is None else functools.partial(
                    PolynomialYieldModel, 3, locality=args.yield_locality),
            )  # fmt: skip
            save(surrogate, surrogate_dir, overwrite=True)
            del train
        log("simulating the reference sample and building the analysis ...")
        k = args.integration_batches
        surrogate = load(surrogate_dir)

        def reference(seed: int, fraction: float, sizes: dict[str, str]) -> pd.DataFrame:
            return reference_frame(args.integration_events, sizes, seed, fraction)

        def batches() -> Any:
            for b in range(k):
                log(f"integration batch {b + 1}/{k} ...")
                frame = reference(1020 + b, 1.0 / k, extra)
                yield HTauTauSource(frame, seed=1020 + b, nuisances=surrogate.nuisances).nominal()

        integ = reference(102, 1.0, ref_extra if k > 1 else extra)
        model = build_analysis(
            surrogate, HTauTauSource(integ, seed=102, nuisances=surrogate.nuisances),
            integration_batches=batches() if k > 1 else None,
            calibration_events=args.calibration_events or None,
            bins=args.bins,
            integration=args.integration_mode, calibrate=args.calibrate, progress=True,
            recalibrate_classifier=args.recalibrate_classifier, calibrate_odds=args.calibrate_odds,
        )  # fmt: skip
        model.save(analysis_dir, overwrite=True)
        del integ
    train_s = time.perf_counter() - t0
    from unbinned._io import atomic_path

    if args.events == "pool" and not test_path.is_file():
        log("simulating the test sample ...")
        test = simulate(args.test_events, seed=103, progress=True)
        with atomic_path(test_path) as tmp:
            test.to_parquet(tmp)
    if args.events == "fresh" and not rates_path.is_file():
        log("measuring the selection efficiencies (expected raw event counts) ...")
        from unbinned.sim.htautau import raw_rates

        rates = raw_rates(10.0, events_per_process=args.rate_events, seed=104)
        with atomic_path(rates_path) as tmp:
            Path(tmp).write_text(json.dumps(rates))
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
    events_tag = f"te{args.test_events}" if args.events == "pool" else "fresh"
    store = work / f"toys_{tag}_{events_tag}_lumi{args.luminosity_scale:g}.jsonl"
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
        "train_events_per_process": args.train_events,
        "max_events_per_point": args.max_events_per_point or None,
        "response_hidden": list(hidden),
        "response_epochs": args.response_epochs,
        "soft_met_power": args.soft_met_power,
        "soft_met_scale": soft_scale,
        "calibrated": args.calibrate,
        "classifier_recalibrated": args.recalibrate_classifier,
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


if __name__ == "__main__":
    main()
