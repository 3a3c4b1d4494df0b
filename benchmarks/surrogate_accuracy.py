"""Accuracy and speed of the learned surrogates (classifier, responses, yields).

Prints ONE JSON line on stdout (progress on stderr) with

- ``oracle_logratio_rms``: RMS of learned minus exact ln R_p(x|ν) on the analytic
  resonance oracle (:class:`unbinned.sim.oracle.ResonanceModel`, three shape
  nuisances), over the bulk of the data (1-99 % quantiles of every feature) at
  held-out points with |ν| ≤ 2 (Euclidean norm of the standardised ν; on-axis ±1, ±2
  and random points in the ball).  Target ≤ 0.02.
- ``closure_chi2ndf_max``: the worst χ²/ndf of the held-out closure on the H→ττ
  simulator: per process and feature (m_vis, MET, lepton pT, τ_h pT, classifier
  score), nominal × R_p(x|ν) against the truly varied simulation at the 26 points
  of ``validation_design`` (never used in training), independent halves of a
  held-out simulation, 20 quantile bins, χ² pooled over the points.  Target ≤ 2.
- ``train_minutes``: wall time of :func:`train_surrogate` (systematic variations,
  classifier, four response networks for tes, jes, soft_met) on ≥ 1 M simulated
  events.  Target ≤ 20 on 2 CPU cores.
- ``eval_events_per_s``: :meth:`SurrogateModel.precompute` (classifier + four
  responses, float64 outputs) on ≥ 1 M events.  Target ≥ 1e6 on CPU.

Usage::

    python benchmarks/surrogate_accuracy.py            # full run (~40 min on 2 cores)
    python benchmarks/surrogate_accuracy.py --quick    # small run (~3 min)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import numpy as np
import torch


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


def ball_points(d: int, radius: float, n: int, seed: int) -> np.ndarray:
    pts = []
    for a in range(d):
        for v in (-2.0, -1.0, 1.0, 2.0):
            p = np.zeros(d)
            p[a] = v
            pts.append(p)
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(n, d))
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    r = radius * rng.random(n) ** (1.0 / d)
    pts += list(g * r[:, None])
    return np.array(pts)


def run_oracle(args: argparse.Namespace, device: str) -> dict[str, Any]:
    from unbinned.ml import OracleSource, RunOptions, SurrogateConfig, TrainConfig, train_surrogate
    from unbinned.ml.diagnostics import bulk_points, oracle_comparison
    from unbinned.sim.oracle import ResonanceModel

    oracle = ResonanceModel()
    n = args.oracle_events
    cfg = SurrogateConfig(
        classifier=TrainConfig(
            hidden=args.classifier_hidden, epochs=args.epochs, batch_size=2048, patience=4
        ),
        response=TrainConfig(
            hidden=args.response_hidden,
            epochs=args.epochs,
            batch_size=16384,
            learning_rate=1e-3,
            patience=4,
        ),
        max_events_per_point=None,
    )
    out: dict[str, Any] = {}
    for mode in ["vary"] + (["reweight"] if args.oracle_reweight else []):
        t0 = time.perf_counter()
        source = OracleSource(oracle, n, seed=1, mode=mode)
        model = train_surrogate(
            source, config=cfg, seed=0, run=RunOptions(device=device, progress=args.progress)
        )
        held = OracleSource(oracle, 30_000, seed=2)
        ball = oracle_comparison(model, held, ball_points(3, 2.0, 24, seed=7))
        box = oracle_comparison(model, held, bulk_points(model))
        out[mode] = {
            "rms_ball": ball.logratio_rms,
            "rms_box": box.logratio_rms,
            "rms_by_process": ball.rms_by_process(),
            "fractions_rms": ball.fractions_rms,
            "train_s": time.perf_counter() - t0,
        }
        log(f"oracle ({mode}): {ball!r}; box |nu_a|<=2: {box.logratio_rms:.4f}")
    out["events_per_process"] = n
    return out


def run_htautau(args: argparse.Namespace, device: str) -> dict[str, Any]:
    from unbinned.ml import (
        HTauTauSource,
        RunOptions,
        SurrogateConfig,
        TrainConfig,
        closure_test,
        reliability,
        train_surrogate,
        yield_closure,
    )
    from unbinned.sim.htautau import simulate

    t0 = time.perf_counter()
    raw = simulate(args.events_per_process, seed=1)
    sim_s = time.perf_counter() - t0
    log(f"simulated {len(raw)} raw events in {sim_s:.0f} s")
    source = HTauTauSource(raw, seed=1)
    cfg = SurrogateConfig(
        classifier=TrainConfig(
            hidden=args.classifier_hidden, epochs=args.epochs, batch_size=4096, patience=4
        ),
        response=TrainConfig(
            hidden=args.response_hidden,
            epochs=args.epochs,
            batch_size=16384,
            learning_rate=1e-3,
            patience=4,
        ),
        max_events_per_point=args.max_events_per_point,
    )
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    model = train_surrogate(
        source, config=cfg, seed=0, run=RunOptions(device=device, progress=args.progress,
                                          checkpoint_dir=args.checkpoint_dir),
    )  # fmt: skip
    train_s = time.perf_counter() - t0
    load1 = os.getloadavg()
    log(f"trained in {train_s / 60:.2f} min: {model!r}")
    n_selected = sum(len(source.nominal(p)) for p in source.processes)
    del source, raw
    if args.out_dir:
        model.save(os.path.join(args.out_dir, "htautau_model"), overwrite=True)

    held_raw = simulate(args.held_out_events, seed=2)
    held = HTauTauSource(held_raw, seed=2)
    nominal = held.nominal()
    closure_y = yield_closure(model.classifier, nominal)
    rel = reliability(model.classifier, nominal)
    log(repr(closure_y))
    res = closure_test(model, held, max_events=args.closure_events)
    log(repr(res))
    if args.out_dir:
        _plots(args.out_dir, res, rel)

    # evaluation speed on >= 1M events
    from unbinned.data import EventSet

    reps = int(np.ceil(args.eval_events / len(nominal)))
    big = EventSet.concat([nominal] * reps) if reps > 1 else nominal
    model.precompute(big.select(np.arange(20000)))
    eval_runs: dict[str, Any] = {}
    threads_before = torch.get_num_threads()
    for threads in sorted({1, args.threads, 2}):
        torch.set_num_threads(threads)
        rates = []
        for _ in range(3):
            t0 = time.perf_counter()
            out = model.precompute(big, batch_size=args.batch_size)
            rates.append(len(big) / (time.perf_counter() - t0))
        assert out.delta.dtype == np.float64
        eval_runs[f"threads_{threads}"] = {
            "first": round(rates[0]),
            "best": round(max(rates)),
            "loadavg": os.getloadavg()[0],
        }
        log(f"precompute, {threads} thread(s): {len(big)} events, {max(rates):.3g} events/s")
    torch.set_num_threads(threads_before)
    eval_rate = max(r["best"] for r in eval_runs.values())
    return {
        "train_s": train_s,
        "simulate_s": sim_s,
        "raw_events": 4 * args.events_per_process,
        "selected_events": n_selected,
        "seconds": model.metadata["seconds"],
        "loadavg_before_after": [load0, load1],
        "closure": res,
        "yield_closure": closure_y,
        "reliability_error": rel.calibration_error,
        "eval_events": len(big),
        "eval_rate": eval_rate,
        "eval_runs": eval_runs,
        "model": model,
    }


def _plots(out_dir: str, res: Any, rel: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    rel.plot(ax=ax)
    fig.savefig(os.path.join(out_dir, "reliability.png"), dpi=120)
    plt.close(fig)
    worst = max(res.entries, key=lambda e: e.chi2_ndf if e.ndf else 0.0)
    fig, ax = plt.subplots()
    res.plot(worst, ax=ax)
    fig.savefig(os.path.join(out_dir, "closure_worst.png"), dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (minutes)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads for training (1: best on a shared 2-core machine)",
    )
    parser.add_argument("--device", default="auto", help="training device (auto: GPU if any)")
    parser.add_argument("--events-per-process", type=int, default=300_000)
    parser.add_argument("--oracle-events", type=int, default=50_000)
    parser.add_argument("--held-out-events", type=int, default=100_000)
    parser.add_argument("--closure-events", type=int, default=None)
    parser.add_argument("--max-events-per-point", type=int, default=60_000)
    parser.add_argument("--eval-events", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=8192, help="precompute batch size")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument(
        "--response-hidden", type=int, nargs="+", default=[32, 32], help="response widths"
    )
    parser.add_argument(
        "--classifier-hidden", type=int, nargs="+", default=[64, 64], help="classifier widths"
    )
    parser.add_argument("--oracle-reweight", action="store_true", help="also train on reweighting")
    parser.add_argument("--skip-oracle", action="store_true")
    parser.add_argument("--out-dir", default=None, help="save the model and plots here")
    parser.add_argument("--checkpoint-dir", default=None)
    parser.add_argument("--progress", action="store_true", help="progress bars on stderr")
    args = parser.parse_args()
    if args.quick:
        args.events_per_process = 25_000
        args.oracle_events = 20_000
        args.held_out_events = 20_000
        args.max_events_per_point = 15_000
        args.epochs = 8
        args.eval_events = 200_000
    args.response_hidden = tuple(args.response_hidden)
    args.classifier_hidden = tuple(args.classifier_hidden)
    torch.set_num_threads(args.threads)
    from unbinned.ml.training import resolve_device

    device = str(resolve_device(args.device))
    if args.out_dir:
        os.makedirs(args.out_dir, exist_ok=True)
    t_start = time.perf_counter()
    oracle = None if args.skip_oracle else run_oracle(args, device)
    htt = run_htautau(args, device)
    res = htt["closure"]
    result = {
        "oracle_logratio_rms": None if oracle is None else round(oracle["vary"]["rms_ball"], 5),
        "closure_chi2ndf_max": round(res.max_pooled_chi2_ndf, 4),
        "train_minutes": round(htt["train_s"] / 60.0, 3),
        "eval_events_per_s": round(htt["eval_rate"]),
        "details": {
            "quick": args.quick,
            "device": device,
            "cuda_available": torch.cuda.is_available(),
            "torch_threads": torch.get_num_threads(),
            "response_hidden": list(args.response_hidden),
            "classifier_hidden": list(args.classifier_hidden),
            "cpu_count": os.cpu_count(),
            "loadavg_during_training": htt["loadavg_before_after"],
            "oracle": oracle,
            "htautau_raw_events": htt["raw_events"],
            "htautau_selected_events": htt["selected_events"],
            "simulate_s": round(htt["simulate_s"], 1),
            "train_seconds": htt["seconds"],
            "closure_pairing": res.pairing,
            "closure_points": len({e.nu for e in res.entries}),
            "closure_chi2ndf_single_max": round(res.max_chi2_ndf, 4),
            "closure_chi2ndf_pooled": {
                f"{p}/{f}": round(v, 4) for (p, f), v in res.pooled_chi2_ndf().items()
            },
            "closure_chi2ndf_by_feature_single_max": {
                k: round(v, 4) for k, v in res.chi2_ndf_by_feature().items()
            },
            "closure_yield_max_abs_dev": round(res.max_abs_yield_deviation, 5),
            "closure_yield_max_abs_pull": round(res.max_abs_yield_pull, 3),
            "classifier_yield_closure": {
                p: {
                    "rel_dev": round(v, 5),
                    "stat": round(
                        htt["yield_closure"].uncertainty[p] / htt["yield_closure"].true[p], 5
                    ),
                }
                for p, v in htt["yield_closure"].relative_deviation.items()
            },
            "reliability_error": {k: round(v, 5) for k, v in htt["reliability_error"].items()},
            "eval_events": htt["eval_events"],
            "eval_runs": htt["eval_runs"],
            "wall_s": round(time.perf_counter() - t_start, 1),
        },
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
