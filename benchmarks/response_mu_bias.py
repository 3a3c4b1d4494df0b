r"""The bias of μ̂ that each process's learned response causes, on a fresh simulation.

Issue 18: the demo's pseudo-experiments under-cover although the χ²/ndf closure of
the responses looks tolerable.  This benchmark puts the response closure in the
currency of the measurement.  With every nuisance fixed at its true value ν, the
score of μ at μ = 1 is ∂ ln L/∂μ = Σ_i π(x_i) − S (π = s/(s+b) the model's signal
share of an event, S the expected signal), so to first order

.. math::

    \delta\mu_p(\nu) = \frac{T_p - M_p}{I}, \qquad
    T_p = \sum_{i \in p\ \mathrm{at}\ \nu} w_i\,\pi(x_i), \quad
    M_p = \sum_{j \in \mathrm{nominal}} w_j\,c_p(x_j)\,R_p(x_j|\nu)\,G_p\,\pi(x_j),
    \quad I = \sum_i w_i\,\pi(x_i)^2,

T_p from the process's events simulated at ν, M_p the model's expectation from the
same generated events at nominal (G_p: the sample's own nominal yield of process p,
moved by the model's yield response F_p s_p(ν)/F_p s_p(0)).  Σ_p δμ_p is the shift
of μ̂ the learned model causes when the data are at ν; at ν = 0 it measures the
fractions' shapes alone.  Reported relative to ν = 0 (``dmu`` − ``dmu`` at nominal:
the response's own share) and in units of the stat-only σ_μ = I^{-1/2} of the
sample's luminosity, with a Monte-Carlo error from four folds of the generated events.

``response_mu_bias_max``: the largest |Σ_p δμ_p(ν) − Σ_p δμ_p(0)| / σ_μ over the
held-out on-axis points (:func:`unbinned.analysis.health.default_points`).  A value of
0.3 at 1 fb⁻¹ is 0.3 × √10 ≈ 1 σ at 10 fb⁻¹: the bias in μ does not shrink with
luminosity, its error does.  The check is the library's own (e) of
:func:`unbinned.analysis.surrogate_health` (formulas in :mod:`unbinned.analysis.health`),
run here alone.  One JSON line on stdout; progress on stderr.  Example::

    python benchmarks/response_mu_bias.py --model runs/demo/train/model
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime

import torch

from unbinned.analysis import AnalysisModel, HealthOptions
from unbinned.analysis.health import _mu_bias


def say(text: str) -> None:
    """A progress line on stderr."""
    print(f"[response_mu_bias {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def main() -> None:
    """Command line; one JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="an AnalysisModel folder")
    ap.add_argument("--events", type=int, default=400_000, help="raw events per process")
    ap.add_argument("--seed", type=int, default=999, help="of the independent simulation")
    ap.add_argument("--luminosity", type=float, default=1.0, help="fb⁻¹ of σ_μ's units")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model = AnalysisModel.load(args.model)
    sur = model.surrogate
    say(f"simulating {args.events} raw events per process (seed {args.seed})")
    from _analysis import fresh_source  # beside this script (as predict_speed.py does)

    source = fresh_source(model, args.events, args.seed, args.luminosity)
    worst, rows, warnings = _mu_bias(model, source, HealthOptions(max_events=None))
    for r in rows:
        say(f"ν = {r['nu']}: δμ − δμ(0) = {r['dmu']:+.3f} ({r['dmu_sigma']:+.2f} ± "
            f"{r['error_sigma']:.2f} σ_stat); "
            + ", ".join(f"{p} {v:+.3f}" for p, v in r["processes"].items()))  # fmt: skip
    row = {
        "benchmark": "response_mu_bias",
        "model": os.path.abspath(args.model),
        "events": args.events,
        "seed": args.seed,
        "luminosity": args.luminosity,
        "nuisances": [n.name for n in sur.nuisances],
        "points": list(rows),
        "warnings": warnings,
        "response_mu_bias_max": worst,
        "seconds": round(time.perf_counter() - t0, 1),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "load": os.getloadavg()[0],
    }
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
