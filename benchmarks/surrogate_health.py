r"""Health of a trained H→ττ analysis's learned densities on a fresh independent simulation.

Issue 18, item 2: loads an analysis (:meth:`unbinned.analysis.AnalysisModel.load`),
simulates ``--events`` raw events per process with a seed the training never used
(:func:`unbinned.sim.htautau.simulate`, nominal, at ``--luminosity`` fb⁻¹) and runs
:func:`unbinned.analysis.surrogate_health` on it (formulas in
:mod:`unbinned.analysis.health`):

* ``fraction_closure_worst``: max over 20 equal-signal bins of c_sig of
  |true/claimed − 1| (totals normalised; target ≤ 0.05);
* ``fisher_closure``: the stat-only information on μ the fractions claim,
  Σ w c_sig², over that of a 100-bin true-label histogram of the same score
  (target [0.95, 1.05]);
* ``response_tail_chi2ndf_max``: the worst χ²/ndf of the paired response closure in
  the signal-like tail (the quarter of the signal weight with the largest c_sig), at
  the held-out on-axis variation points (target ≤ 2);

and the rest of :meth:`HealthReport.to_dict <unbinned.analysis.HealthReport.to_dict>`
(the per-bin ratios under ``fraction_ratio``, the failed checks under ``warnings``).
Progress on stderr; one JSON line on stdout.  Example (the demo's analysis, ≈ 3 min
on one core)::

    python benchmarks/surrogate_health.py --model runs/demo/train/model
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime

import torch

from unbinned.analysis import AnalysisModel, HealthOptions, surrogate_health


def say(text: str) -> None:
    """A progress line on stderr."""
    print(f"[surrogate_health {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def main() -> None:
    """Command line: the model folder, the sample size and seed; one JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="an AnalysisModel folder (AnalysisModel.save)")
    ap.add_argument("--events", type=int, default=1_000_000, help="raw events per process")
    ap.add_argument("--seed", type=int, default=918_273_645, help="seed of the new simulation")
    ap.add_argument("--luminosity", type=float, default=10.0, help="fb⁻¹ of the sample's weights")
    ap.add_argument("--max-events", type=int, default=200_000,
                    help="generated events per process in the tail response closure")  # fmt: skip
    ap.add_argument("--no-response", action="store_true", help="skip the tail response closure")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    say(f"loading {args.model}")
    model = AnalysisModel.load(args.model)
    say(f"simulating {args.events} raw events per process (seed {args.seed})")
    from _analysis import fresh_source  # beside this script (as predict_speed.py does)

    source = fresh_source(model, args.events, args.seed, args.luminosity)
    t_sim = time.perf_counter() - t0
    say("checking (fraction closure, Fisher closure, tail response closure) ...")
    options = HealthOptions(max_events=args.max_events, response=not args.no_response)
    report = surrogate_health(model, source, options=options)
    say(f"done in {time.perf_counter() - t0:.0f} s\n{report!r}")
    d = report.to_dict()
    fraction = d.pop("fraction")
    row = {
        "model": os.path.abspath(args.model),
        "events_per_process": args.events,
        "seed": args.seed,
        "luminosity": args.luminosity,
        "fraction_closure_worst": d.pop("fraction_closure_worst"),
        "fisher_closure": d.pop("fisher_closure"),
        "response_tail_chi2ndf_max": d.pop("response_tail_chi2ndf_max"),
        **d,
        "fraction_ratio": [round(r, 4) for r in fraction["ratio"]],
        "fraction_error": [round(e, 4) for e in fraction["error"]],
        "seconds": round(time.perf_counter() - t0, 1),
        "simulation_seconds": round(t_sim, 1),
        "threads": args.threads,
        "load": os.getloadavg()[0],
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
