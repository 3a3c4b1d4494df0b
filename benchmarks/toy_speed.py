"""Cost of one pseudo-experiment's ingredients on one core (issue 20).

Prints one JSON line:

* ``simulate_events_per_s_per_core``: raw (stored) events per CPU second of
  ``unbinned.sim.htautau.simulate`` (all four processes, every feature, a frame
  as the library returns it), with numpy's, OpenMP's and torch's threads pinned to
  one; the best of ``--repeats`` runs.  CPU seconds rather than wall seconds: on
  a shared machine they are less sensitive to the other load.
  ``simulate_wall_events_per_s`` the same per wall-clock second.
* ``syst_events_per_s_per_core``: events per CPU second through
  ``apply_systematics`` (tes, jes and soft_met varied: MET propagation,
  re-selection, DER recomputed).
* ``binned_toys_per_s``: binned pseudo-experiments per wall second on ``--workers``
  (default 2) processes, one core each: Poisson counts drawn from the expectation
  at the start values, each fitted (MLE with the exact-Hessian covariance, as
  ``pyhf.infer.mle.fit(..., return_uncertainties=True)`` does) by
  :func:`unbinned.infer.fit_batch` (Newton steps vectorised over the toys; fit()
  for a toy whose minimum lies on a bound), generation included.  Problem: the one
  of ``benchmarks/binned_vs_pyhf.py`` (2 regions x 20 bins, 4 processes, μ and 6
  nuisances).  ``binned_toys_per_s_per_core`` one worker's rate,
  ``binned_toys_batched_fraction`` the share fitted in the batch, and
  ``binned_fit_toys_per_s_per_core`` the same toys fitted one by one with
  :func:`unbinned.infer.fit` (MIGRAD; the way before ``fit_batch``) for comparison.
* ``core_s_per_toy_full`` (part ``full``): CPU seconds (one thread) of one
  full-luminosity (10 fb⁻¹, ≈ 1.05 M events) pseudo-experiment of the challenge
  protocol: simulated afresh (``simulate_pseudo_experiment``, nuisances drawn),
  the surrogates evaluated once per event, the unbinned and the binned fits with
  their profiled 68 % intervals (``AnalysisModel.measure``), the mean over
  ``--full-toys``; ``core_s_full_<stage>`` the stages (simulate, surrogate,
  unbinned, binned).  The analysis is ``--model DIR`` (scaled to 10 fb⁻¹ by its
  expected events), or else one trained here on ``--train-events`` simulated
  events per process with the library's defaults (``model`` in the JSON says which).
* with ``--baseline-src DIR``: ``baseline_*`` the same figures of another source
  tree (e.g. an older commit exported with ``git archive``), measured in a
  subprocess in the same run, and ``simulate_speedup`` the ratio.
* ``load_average``: the 1-minute load when the run started.

Targets (issue 20): ``simulate_events_per_s_per_core`` >= 500,000,
``binned_toys_per_s`` >= 500 (pyhf's users report about 100 toys/s),
``core_s_per_toy_full`` <= 6.

Usage: ``python benchmarks/toy_speed.py [--events N] [--repeats R]
[--baseline-src DIR] [--binned-toys T] [--workers W] [--parts sim,binned,full]
[--model DIR] [--full-toys K]`` (N per process, default 100,000; T default 20,000).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported: one core

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402


def measure(events: int, repeats: int) -> dict[str, float]:
    """Best-of-``repeats`` throughputs of the simulator and the systematics."""
    import torch

    torch.set_num_threads(1)
    from unbinned.sim.htautau import simulate
    from unbinned.sim.systematics import Nuisances, apply_systematics

    simulate(2000, seed=0)  # warm-up: imports, tables
    best_cpu = best_wall = best_syst = 0.0
    nuisances = Nuisances(tes=1.03, jes=0.97, soft_met=2.0)
    for r in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        df = simulate(events, seed=1 + r)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        n = len(df)
        best_cpu, best_wall = max(best_cpu, n / cpu), max(best_wall, n / wall)
        cpu = time.process_time()
        apply_systematics(df, nuisances, seed=r)
        best_syst = max(best_syst, n / (time.process_time() - cpu))
        del df
    return {
        "simulate_events_per_s_per_core": round(best_cpu),
        "simulate_wall_events_per_s": round(best_wall),
        "syst_events_per_s_per_core": round(best_syst),
    }


def _binned_worker(args: tuple[int, int]) -> dict[str, float]:
    """Fit ``n`` binned toys (seed ``seed``) in a batch; wall seconds and the batched share."""
    n, seed = args
    from binned_vs_pyhf import _problem
    from unbinned.binned import BinnedBatch
    from unbinned.infer import fit_batch

    lik = _problem(False)[0]
    fit_batch(BinnedBatch.poisson(lik, n_toys=20, seed=10_000 + seed))  # warm-up
    wall = time.perf_counter()
    results = fit_batch(BinnedBatch.poisson(lik, n_toys=n, seed=seed))
    wall = time.perf_counter() - wall
    batched = sum("batched" in r.status for r in results)
    return {"wall": wall, "batched": batched, "valid": sum(r.valid for r in results)}


def measure_binned(n_toys: int, workers: int) -> dict[str, float]:
    """``binned_toys_per_s`` and its companions (module docstring)."""
    import multiprocessing

    from binned_vs_pyhf import _problem
    from unbinned.binned import BinnedBatch
    from unbinned.infer import fit

    per = max(1, n_toys // workers)
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        parts = pool.map(_binned_worker, [(per, s) for s in range(workers)])
    wall = max(p["wall"] for p in parts)
    one = _binned_worker((per, 0))  # alone: one core's rate
    lik = _problem(False)[0]
    toys = BinnedBatch.poisson(lik, n_toys=200, seed=0)
    fit(toys.likelihood(0))
    cpu = time.perf_counter()
    for t in range(toys.n_toys):
        fit(toys.likelihood(t))
    cpu = time.perf_counter() - cpu
    total = per * workers
    return {
        "binned_toys_per_s": round(total / wall),
        "binned_toys_per_s_per_core": round(per / one["wall"]),
        "binned_toys_batched_fraction": round(sum(p["batched"] for p in parts) / total, 4),
        "binned_toys_valid_fraction": round(sum(p["valid"] for p in parts) / total, 4),
        "binned_fit_toys_per_s_per_core": round(toys.n_toys / cpu),
        "binned_toys": total,
        "binned_workers": workers,
    }


def measure_full(model_dir: str | None, toys: int, train_events: int) -> dict[str, Any]:
    """``core_s_per_toy_full`` and its stages (module docstring), one thread."""
    import torch

    torch.set_num_threads(1)
    from _analysis import full_luminosity_analysis
    from unbinned.analysis.measurement import measure_likelihood
    from unbinned.sim.htautau import raw_rates, simulate_pseudo_experiment

    model, label = full_luminosity_analysis(model_dir, train_events)
    rates = raw_rates(10.0, events_per_process=200_000)
    small = {p: r / 100 for p, r in rates.items()}  # warm-up outside the timing
    model.tensors(simulate_pseudo_experiment(small, mu=1.0, seed=99).data)
    stages = dict.fromkeys(("simulate", "surrogate", "unbinned", "binned"), 0.0)
    n_events, valid = 0, 0
    for seed in range(toys):
        c0 = time.process_time()
        pe = simulate_pseudo_experiment(rates, mu=1.0, draw_nuisances=True, seed=100 + seed)
        c1 = time.process_time()
        tensors = model.tensors(pe.data)
        c2 = time.process_time()
        m = measure_likelihood(model.likelihood(tensors), model.poi, 0.6827, seed, "u", tensors)
        c3 = time.process_time()
        b = measure_likelihood(model.binned_likelihood(tensors), model.poi, 0.6827, seed, "b", None)
        c4 = time.process_time()
        for k, dt in zip(stages, (c1 - c0, c2 - c1, c3 - c2, c4 - c3), strict=True):
            stages[k] += dt / toys
        n_events += len(pe.data)
        valid += int(m.valid and b.valid)
    return {
        "core_s_per_toy_full": round(sum(stages.values()), 3),
        **{f"core_s_full_{k}": round(v, 3) for k, v in stages.items()},
        "full_toys": toys,
        "full_events_per_toy": round(n_events / toys),
        "full_valid_fraction": valid / toys,
        "model": label,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="events per process")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-src", default=None, help="src folder of the code to compare")
    parser.add_argument("--binned-toys", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2, help="processes for the binned toys")
    parser.add_argument(
        "--parts", default="sim,binned,full", help="comma-separated: sim, binned, full"
    )
    parser.add_argument("--model", default=None, help="a saved analysis (default: train one)")
    parser.add_argument("--full-toys", type=int, default=3)
    parser.add_argument("--train-events", type=int, default=50_000, help="per process")
    parser.add_argument("--raw", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    parts = {"sim"} if args.raw else set(args.parts.split(","))  # --raw: the baseline's simulator

    load = os.getloadavg()[0]
    out: dict[str, object] = {}
    if "binned" in parts:
        out.update(measure_binned(args.binned_toys, args.workers))
    if "full" in parts:
        out.update(measure_full(args.model, args.full_toys, args.train_events))
    if "sim" in parts:
        out.update(measure(args.events, args.repeats))
    if args.raw:
        print(json.dumps(out))
        return
    if args.baseline_src and "sim" in parts:
        env = dict(os.environ, PYTHONPATH=os.path.abspath(args.baseline_src))
        cmd = [sys.executable, __file__, "--raw", f"--events={args.events}"]
        cmd.append(f"--repeats={args.repeats}")
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        base = json.loads(res.stdout.strip().splitlines()[-1])
        out.update({f"baseline_{k}": v for k, v in base.items()})
        out["simulate_speedup"] = round(
            out["simulate_events_per_s_per_core"] / base["simulate_events_per_s_per_core"], 2
        )
    if "sim" in parts:
        out["n_events"] = 4 * args.events
    out["load_average"] = round(load, 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
