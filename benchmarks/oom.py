"""A learned unfoldable observable (Optimal Observable Machine) vs a standard observable.

Toy: :class:`unbinned.aware.toys.ThresholdToy`, a tt̄-threshold-like spectrum in
(m, cos φ) at generator level with a pseudoscalar admixture θ near threshold
(the parameter of interest, truth θ = 1), detector smearing, an m-dependent
efficiency, a reco-level background with a 10 % normalisation uncertainty and
a 2 % energy-scale nuisance.  Both observables are unfolded the same way (an
unregularised binned unfolding with the generator-level yields σ_g free and the
nuisances profiled, the Asimov Fisher information; :mod:`unbinned.aware.oom`),
then θ is fitted to the unfolded spectrum with the continuum normalisation free.

* ``sigma_oom``: the learned observable O(m, cos φ) with ``--bins`` arg-max bins,
  trained (from the standard observable) with the unfolding-aware loss
  sqrt(σ_θ² + λ·mean bias²), bias for a response matrix built at θ = 0 and 2.
* ``sigma_standard_observable``: m_tt in the same number of bins (quantiles of
  the expected generator-level spectrum), same unfolding.
* ``bias_vs_assumed_parameter``: θ̂ - θ_t of the learned observable when the
  response matrix is built from simulation at an assumed θ_a (keys) instead of
  the truth θ_t = 1 (the standard observable's in ``..._standard``).
* ``response_matrix`` R_rg (reco bin × generator bin), the generator-level yields
  and each bin's mean (m, cos φ): the observable's binning.
* ``sigma_oom_no_bias_penalty`` and its bias: the same training with λ = 0
  (``singular_response_*``: how many (init, θ_a) had a singular R(θ_a), i.e. a
  generator-level bin holding only signal, whose unfolding at θ_a is undefined;
  the biases are medians over the finite ones).

All on an independent test sample; medians over ``--inits`` trainings.
Run: ``.venv/bin/python benchmarks/oom.py [--quick]``; one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from unbinned.aware import Standardize
from unbinned.aware.oom import (
    OOMConfig,
    UnfoldingData,
    evaluate_observable,
    quantile_observable,
    train_oom,
)
from unbinned.aware.toys import ThresholdToy
from unbinned.ml import MLP

ASSUMED = (0.0, 0.5, 1.5, 2.0)


def _quantile_edges(data: UnfoldingData, k: int) -> np.ndarray:
    m = data.gen[:, 0].double().numpy()
    w = data.weights.numpy()
    o = np.argsort(m)
    cw = np.cumsum(w[o])
    inner = np.interp(np.linspace(0, 1, k + 1)[1:-1] * cw[-1], cw, m[o])
    return np.concatenate([[0.0], inner, [1e6]])


def _train(
    data: UnfoldingData, k: int, edges: np.ndarray, lam: float, steps: int, seed: int
) -> Any:
    torch.manual_seed(seed)
    net = nn.Sequential(Standardize.fit(data.gen.numpy()), MLP(2, k, (64, 64), activation="relu"))
    cfg = OOMConfig(n_bins=k, steps=steps, bias_weight=lam, pretrain_edges=tuple(edges),
                    seed=seed)  # fmt: skip
    return train_oom(net, data, cfg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--bins", type=int, default=6)
    parser.add_argument("--inits", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--train-events", type=int, default=60_000, help="per process")
    parser.add_argument("--test-events", type=int, default=300_000, help="per process")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.quick:
        args.inits, args.steps, args.train_events, args.test_events = 1, 100, 30_000, 100_000
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    toy = ThresholdToy()
    test = UnfoldingData.from_events(toy.generate(args.test_events, seed=999))
    edges = _quantile_edges(test, args.bins)
    std = evaluate_observable(quantile_observable(0, edges), test, assumed=ASSUMED)
    print(f"standard observable: {std}", file=sys.stderr)

    runs: dict[float, list[Any]] = {1.0: [], 0.0: []}
    for init in range(args.inits):
        train = UnfoldingData.from_events(toy.generate(args.train_events, seed=init))
        for lam in runs:
            res = _train(train, args.bins, edges, lam, args.steps, init)
            ev = evaluate_observable(res.membership, test, assumed=ASSUMED)
            runs[lam].append((ev, res))
            print(f"init {init} lambda {lam}: {ev} ({res.seconds:.0f} s)", file=sys.stderr)

    def med(lam: float, key: str) -> float:
        vals = [getattr(ev, key) for ev, _ in runs[lam]]
        return float(statistics.median(vals))

    def med_bias(lam: float) -> dict[str, float | None]:
        """Median over inits of the finite biases (None where every R(θ_a) was singular)."""
        out: dict[str, float | None] = {}
        for a in ASSUMED:
            finite = [ev.bias[a] for ev, _ in runs[lam] if math.isfinite(ev.bias[a])]
            out[f"{a:g}"] = round(float(statistics.median(finite)), 4) if finite else None
        return out

    def n_singular(lam: float) -> int:
        return sum(1 for ev, _ in runs[lam] for a in ASSUMED if not math.isfinite(ev.bias[a]))

    # the median run (by σ) of the penalised training: its observable and response
    ordered = sorted(runs[1.0], key=lambda r: r[0].sigma_theta)
    ev_med, res_med = ordered[len(ordered) // 2]
    with torch.no_grad():
        bins = res_med.bin_index(test.gen).numpy()
    gen = test.gen.double().numpy()
    w = test.weights.numpy()
    centroids = [
        [round(float(np.average(gen[bins == b, j], weights=w[bins == b])), 3) for j in (0, 1)]
        if np.any(bins == b) else None
        for b in range(args.bins)
    ]  # fmt: skip
    out: dict[str, Any] = {
        "sigma_oom": round(med(1.0, "sigma_theta"), 4),
        "sigma_standard_observable": round(std.sigma_theta, 4),
        "oom_over_standard": round(med(1.0, "sigma_theta") / std.sigma_theta, 4),
        "bias_vs_assumed_parameter": med_bias(1.0),
        "bias_vs_assumed_parameter_standard": {f"{a:g}": round(std.bias[a], 4) for a in ASSUMED},
        "sigma_oom_no_bias_penalty": round(med(0.0, "sigma_theta"), 4),
        "bias_vs_assumed_parameter_no_bias_penalty": med_bias(0.0),
        "singular_response_no_bias_penalty": n_singular(0.0),
        "singular_response_oom": n_singular(1.0),
        "theta_true": 1.0,
        "n_bins": args.bins,
        "response_matrix": np.round(ev_med.response, 4).tolist(),
        "gen_yields": np.round(ev_med.gen_yields, 1).tolist(),
        "bin_mean_m_cos": centroids,
        "standard_edges_m": [round(float(e), 2) for e in edges[1:-1]],
        "inits": args.inits,
        "steps": args.steps,
        "train_events_per_process": args.train_events,
        "test_events_per_process": args.test_events,
        "total_s": round(time.perf_counter() - t0, 1),
        "torch_threads": torch.get_num_threads(),
        "quick": bool(args.quick),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
