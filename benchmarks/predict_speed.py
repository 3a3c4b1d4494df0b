"""Wall time of ``challenge.Model.predict`` on one full-luminosity pseudo-experiment.

Prints one JSON line:

* ``predict_s_1M``: wall seconds of ``Model.predict`` (the ingestion program's call:
  DataFrame of the 28 features and weights in, μ̂ and its profiled 68 % interval
  out: the surrogates evaluated on every event, the unbinned fit of μ and the 6
  nuisances, the interval) per 10⁶ events, median of ``--repeats``, with
  ``--threads`` torch threads (default 2, the challenge machine's cores);
  ``predict_s_raw`` every run, ``n_events`` the pseudo-experiment's size
  (10 fb⁻¹, ≈ 1.05 M events, nuisances drawn from the challenge's priors).
* ``stages_s``: the same call's parts, measured separately once after the timed
  runs: the input's conversion to an EventSet, the surrogate evaluation, the fit
  with its interval.
* ``model``: the analysis (``--model DIR``, scaled to 10 fb⁻¹ by its expected
  events and saved to a temporary folder for ``Model``), or one trained here with
  the library's defaults on ``--train-events`` raw events per process.
* ``load_average``: the 1-minute load when the run started.

Target (issue 20): ``predict_s_1M`` <= 5 on 2 cores.

Usage: ``python benchmarks/predict_speed.py [--model DIR] [--repeats R] [--threads T]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a saved analysis (default: train one)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-events", type=int, default=50_000, help="per process")
    args = parser.parse_args()
    load = os.getloadavg()[0]

    from _analysis import full_luminosity_analysis
    from unbinned.challenge import ChallengeSettings, Model
    from unbinned.data.events import EventSet
    from unbinned.data.schema import FEATURES, WEIGHT_COLUMN
    from unbinned.ml.runtime import torch_threads
    from unbinned.sim.htautau import raw_rates, simulate_pseudo_experiment

    analysis, label = full_luminosity_analysis(args.model, args.train_events)
    rates = raw_rates(10.0, events_per_process=200_000)
    pe = simulate_pseudo_experiment(rates, mu=1.0, draw_nuisances=True, seed=5)
    test_set = {"data": pe.data[list(FEATURES)], "weights": pe.data[WEIGHT_COLUMN].to_numpy()}
    n = len(pe.data)
    with tempfile.TemporaryDirectory() as tmp:
        analysis.save(tmp, overwrite=True)
        model = Model(settings=ChallengeSettings(model_dir=tmp, num_threads=args.threads))
        model.fit()
    runs, out = [], {}
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        out = model.predict(test_set)
        runs.append(time.perf_counter() - t0)
    stages = _stages(model.analysis, test_set, args.threads, EventSet, FEATURES, torch_threads)
    print(json.dumps({
        "predict_s_1M": round(statistics.median(runs) * 1e6 / n, 3),
        "predict_s_raw": [round(r, 3) for r in runs],
        "stages_s": stages,
        "n_events": n,
        "mu_hat": round(out["mu_hat"], 5),
        "interval": [round(out["p16"], 5), round(out["p84"], 5)],
        "valid": out["valid"],
        "threads": args.threads,
        "model": label,
        "load_average": round(load, 2),
    }))  # fmt: skip


def _stages(analysis, test_set, threads, EventSet, FEATURES, torch_threads):
    """Wall seconds of predict's parts: conversion, surrogate evaluation, fit + interval."""
    from unbinned.analysis.measurement import measure_likelihood

    with torch_threads(threads):
        t0 = time.perf_counter()
        frame = test_set["data"][list(FEATURES)].copy()
        frame["weights"] = test_set["weights"]
        events = EventSet.from_pandas(frame, feature_columns=FEATURES, weight_column="weights")
        t1 = time.perf_counter()
        tensors = analysis.tensors(events)
        t2 = time.perf_counter()
        measure_likelihood(analysis.likelihood(tensors), analysis.poi, 0.6827, 0, "u", tensors)
        t3 = time.perf_counter()
    return {"convert": round(t1 - t0, 3), "surrogate": round(t2 - t1, 3), "fit": round(t3 - t2, 3)}


if __name__ == "__main__":
    main()
