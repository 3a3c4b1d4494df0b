r"""The signal-like tail of a learned response: its training statistics, or the test's noise.

Issue 18: :func:`unbinned.analysis.surrogate_health`'s paired response closure in the
signal-like tail fails for the demo's signal at jes = ±1.5σ (χ²/ndf ≈ 35).  This script
separates the candidate causes by measurement:

* the test's own statistics: the same response tested on ``--closure-events`` N
  generated events (several sizes).  A genuine error of R gives χ² ∝ N (a fixed
  relative error over a variance ∝ 1/N); noise, or a mis-estimated variance, gives a
  χ²/ndf that does not grow with N;
* the response's training statistics and capacity: the process's response retrained
  (``--retrain``: same design, transform and seed rule as the analysis's training) on
  ``--train-events`` raw events with ``--max-events-per-point`` of them per variation
  point, design ``--steps``, ``--hidden`` and ``--epochs``, then tested the same way.
  The retrained response follows the model's
  recipe (``SurrogateConfig.response_emphasis`` and ``signal_response_epochs`` of its
  metadata; models from before them: neither) unless ``--emphasis`` α (the
  :class:`~unbinned.ml.response.SignalEmphasis` h(x) = 1 + α min(c_sig/t,
  ``--emphasis-cap``) of the loss) or ``--epochs`` is given; ``--whole`` adds the
  closure over every event.

The test: nominal events of an independent simulation (seed ``--seed``) reweighted by
the learned R_p(x|ν) against the same events simulated at ν, in ``tail_bins`` (5)
quantile bins of c_sig above the threshold that leaves 25 % of the signal weight
above it, at the held-out on-axis points of :func:`unbinned.analysis.health`
(``default_points``): the health check's (c), for one process.  Reported per point:
χ²/ndf and the largest |a_b / b_b − 1| (the relative closure error of a bin).
One JSON line on stdout; progress on stderr.  Example::

    python benchmarks/response_tail.py --model runs/demo/train/model \
        --closure-events 50000 200000 --retrain --max-events-per-point 0
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import torch

from unbinned.analysis import AnalysisModel
from unbinned.analysis.health import _SignalFirst, _TailSource, default_points
from unbinned.ml import HTauTauSource, RunOptions, TrainConfig, closure_test, default_design
from unbinned.ml.diagnostics import CLASSIFIER_SCORE
from unbinned.ml.response import SignalEmphasis, train_response
from unbinned.sim.htautau import simulate

TAIL_FRACTION = 0.25
TAIL_BINS = 5


def say(text: str) -> None:
    """A progress line on stderr."""
    print(f"[response_tail {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def retrained(model: AnalysisModel, process: str, args: argparse.Namespace) -> Any:
    """The process's response trained anew (the analysis's design rule, seed, transform)."""
    sur = model.surrogate
    frame = simulate(args.train_events, seed=args.train_seed, luminosity=10.0,
                     processes=[process])  # fmt: skip
    source = HTauTauSource(frame, nuisances=sur.nuisances, processes=[process],
                           feature_names=sur.feature_names, seed=args.train_seed)  # fmt: skip
    cfg_all = sur.metadata["config"]
    base = cfg_all["response"]
    overrides: dict[str, Any] = {}
    if args.hidden:
        overrides["hidden"] = list(args.hidden)
    if args.batch_size:
        overrides["max_batch_size"] = args.batch_size
    if args.learning_rate:
        overrides["learning_rate"] = args.learning_rate
    cfg = TrainConfig.from_dict({**base, **overrides})
    design = default_design(sur.nuisances, steps=tuple(args.steps), mixed=(1,))
    i = list(sur.processes).index(process)
    # the model's own recipe unless overridden (models before issue 18's fix: none)
    alpha = args.emphasis if args.emphasis is not None else cfg_all.get("response_emphasis", 0.0)
    epochs = args.epochs or (cfg_all.get("signal_response_epochs") if i == 0 else None)
    if epochs:
        cfg = replace(cfg, min_epochs=epochs, max_epochs=max(epochs, cfg.max_epochs))
    emphasis = None
    emphasised = cfg_all.get("response_emphasis_processes") or [model.signal]
    if alpha and (args.emphasis is not None or process in emphasised):
        k = list(sur.processes).index(model.signal)
        sig = (source.nominal(model.signal) if process == model.signal else
               HTauTauSource(simulate(args.train_events, seed=args.train_seed, luminosity=10.0,
                                      processes=[model.signal]),
                             nuisances=sur.nuisances, processes=[model.signal],
                             feature_names=sur.feature_names).nominal())  # fmt: skip
        emphasis = SignalEmphasis.from_sample(sur.classifier, k, sig, alpha,
                                              cap=args.emphasis_cap)  # fmt: skip
        say(f"emphasis {emphasis!r}")
    t0, c0 = time.perf_counter(), time.process_time()
    resp = train_response(
        source, process, design=design, transform=sur.classifier.transform, config=cfg,
        max_events=args.max_events_per_point or None,
        seed=args.response_seed or sur.metadata["seed"] + 1 + i,
        run=RunOptions(device="cpu", progress=False, num_threads=args.threads),
        emphasis=emphasis,
    )  # fmt: skip
    state = None if emphasis is None else emphasis.to_dict()
    return resp, time.perf_counter() - t0, time.process_time() - c0, state


def tail_rows(
    model: AnalysisModel, source: HTauTauSource, process: str, n: int,
    fraction: float = TAIL_FRACTION,
) -> list[dict]:  # fmt: skip
    """The paired closure of ``process`` on ``n`` generated events, per point.

    In the ``fraction`` of the signal weight with the largest c_sig (1: every event).
    """
    sur = model.surrogate
    k = list(sur.processes).index(model.signal)
    sig = source.nominal(model.signal)
    c = sur.classifier.fractions(sig)[:, k]
    t = (-np.inf if fraction >= 1.0 else
         float(np.quantile(c, 1.0 - fraction, weights=np.clip(sig.weights, 0, None),
                           method="inverted_cdf")))  # fmt: skip
    result = closure_test(
        _SignalFirst(sur, k), _TailSource(source, sur.classifier, k, t),
        default_points(sur.nuisances), features=[CLASSIFIER_SCORE], n_bins=TAIL_BINS,
        processes=[process], pairing="paired", max_events=n,
    )  # fmt: skip
    rows = []
    for e in result.entries:
        if not e.ndf:
            continue
        a, b = np.asarray(e.reweighted), np.asarray(e.varied)
        rows.append({"nu": list(e.nu), "chi2_ndf": round(e.chi2_ndf, 3), "ndf": e.ndf,
                     "max_rel": round(float(np.max(np.abs(a / b - 1.0))), 4)})  # fmt: skip
    return rows


def main() -> None:
    """Command line; one JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="an AnalysisModel folder")
    ap.add_argument("--process", default="htautau")
    ap.add_argument("--seed", type=int, default=918_273_645, help="of the independent test")
    ap.add_argument("--events", type=int, default=1_000_000, help="raw test events")
    ap.add_argument("--closure-events", type=int, nargs="+", default=[200_000],
                    help="generated events of the paired test (several: N-scaling)")  # fmt: skip
    ap.add_argument("--retrain", action="store_true", help="retrain the process's response")
    ap.add_argument("--train-events", type=int, default=200_000, help="raw events to retrain on")
    ap.add_argument("--train-seed", type=int, default=0)
    ap.add_argument("--response-seed", type=int, default=0, help="0: the analysis's rule")
    ap.add_argument("--max-events-per-point", type=int, default=60_000, help="0: all")
    ap.add_argument("--steps", type=float, nargs="+", default=[1, 2, 3],
                    help="design steps (σ) of the retrained response")  # fmt: skip
    ap.add_argument("--hidden", type=int, nargs="*", help="response hidden layers")
    ap.add_argument("--epochs", type=int,
                    help="min_epochs of the signal's response (default: the model's)")  # fmt: skip
    ap.add_argument("--batch-size", type=int, help="max_batch_size of the response")
    ap.add_argument("--learning-rate", type=float, help="learning_rate of the response")
    ap.add_argument("--emphasis", type=float,
                    help="α of h = 1 + α min(c_sig/t, cap) (default: the model's)")  # fmt: skip
    ap.add_argument("--emphasis-cap", type=float, default=np.inf, help="h ≤ 1 + α·cap")
    ap.add_argument("--whole", action="store_true",
                    help="also the closure over every event (c_sig quantile bins)")  # fmt: skip
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model = AnalysisModel.load(args.model)
    sur = model.surrogate
    row: dict[str, Any] = {"model": os.path.abspath(args.model), "process": args.process}
    if args.retrain:
        say(f"retraining the {args.process} response on {args.train_events} raw events")
        resp, seconds, cpu, emphasis_state = retrained(model, args.process, args)
        sur.responses[args.process] = resp
        row.update(train_events=args.train_events, hidden=args.hidden, epochs=args.epochs,
                   steps=args.steps,
                   max_events_per_point=args.max_events_per_point,
                   batch_size=args.batch_size, learning_rate=args.learning_rate,
                   emphasis=args.emphasis, emphasis_cap=args.emphasis_cap,
                   train_seconds=round(seconds, 1), train_cpu_seconds=round(cpu, 1),
                   train_steps=resp.history.steps if resp.history else None,
                   best_epoch=resp.history.best_epoch if resp.history else None,
                   net_seconds=round(resp.history.seconds, 1) if resp.history else None,
                   emphasis_state=None if emphasis_state is None else emphasis_state)  # fmt: skip
    procs = sorted({model.signal, args.process})
    say(f"simulating {args.events} raw test events of {procs} (seed {args.seed})")
    frame = simulate(args.events, seed=args.seed, luminosity=10.0, processes=procs)
    source = HTauTauSource(frame, nuisances=sur.nuisances, processes=procs,
                           feature_names=sur.feature_names, seed=args.seed)  # fmt: skip
    row["closure"] = {}
    for n in args.closure_events:
        rows = tail_rows(model, source, args.process, n)
        say(f"N = {n}: " + ", ".join(f"{r['nu']} {r['chi2_ndf']} ({r['max_rel']})" for r in rows))
        row["closure"][str(n)] = rows
        if args.whole:
            rows = tail_rows(model, source, args.process, n, fraction=1.0)
            say(
                f"N = {n}, every event: "
                + ", ".join(f"{r['nu']} {r['chi2_ndf']} ({r['max_rel']})" for r in rows)
            )
            row.setdefault("closure_whole", {})[str(n)] = rows
    row.update(seconds=round(time.perf_counter() - t0, 1), load=os.getloadavg()[0],
               date=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))  # fmt: skip
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
