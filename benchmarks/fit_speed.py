"""Speed of a whole measurement on 10⁶ events: surrogate evaluation, fit and interval.

Figures (one JSON line on stdout, progress on stderr):

* ``precompute_s_1M``: per-event evaluation of every surrogate (classifier +
  four response networks, 9 monomials) on a 10⁶-event dataset
  (:meth:`unbinned.ml.SurrogateModel.precompute`, best of 3).
* ``fit_s_1M``: the MLE with all 7 parameters (μ and 6 nuisances: tes, jes, soft_met
  through the learned shapes, three normalisations) plus the profiled 68 % interval of
  μ, on those 10⁶ events, with the H→ττ analysis's likelihood (normalised
  per-process shapes over the nominal sample the data were drawn from, kept as its
  moments by default, ``--integration events`` for the per-event sums);
  median of ``--repeats``; the numbers of likelihood evaluations by order are reported.
* ``hessian_pass_s_1M``: one pass for q, ∇q and ∇²q together (``Likelihood.evaluate``
  with order 2, uncached) at the best fit, per 10⁶ events, median of 5;
  ``gradient_pass_s_1M`` and ``value_pass_s_1M`` the same for orders 1 and 0.
* ``passes_fit``, ``passes_interval``, ``passes_per_edge``: passes over the events by
  order (0: q, 1: q and ∇q, 2: with ∇²q) of the global fit, of the interval, and of
  each interval edge (one separate fit and interval after the timed ones).
* ``pyhf_time_ratio``: our binned fit / pyhf's (numpy backend, minuit), same
  workspace, same run (``benchmarks/binned_vs_pyhf.py``'s problem).
* ``zfit_time_ratio``: our fit / zfit's on the resonance oracle's exact extended
  likelihood (:class:`unbinned.sim.oracle.ResonanceModel`, one pseudo-experiment at μ = 1,
  nominal nuisances, ≈9 200 events; 6 parameters with its 5 Gaussian constraints), the
  MLE plus the profiled 68.27 % interval of μ on both sides (ours: :func:`unbinned.infer.fit`
  and :func:`unbinned.infer.profile_interval` on the exact q with autodiff derivatives, as
  ``benchmarks/oracle_efficiency.py`` fits it; zfit: MIGRAD + MINOS on the same density in
  zfit, ``benchmarks/_zfit_fit.py``), same events, same start, same bounds, warm (median of
  ``--zfit-repeats``; zfit's tensorflow graph compilation reported apart as
  ``zfit_compile_s``) and cold (``zfit_cold_ratio``: the first fit of each process).
  Only with ``--zfit-python PATH``, an interpreter that has zfit (the ``bench`` dependency
  group; it runs in that subprocess); otherwise null with the reason.
* ``peak_rss_gb``: the process's peak resident memory.

The surrogate has the default architecture, trained one epoch on the simulator (its
accuracy is not the point here; speed does not depend on it).  The dataset is a real
pseudo-experiment of the simulator at 10 fb⁻¹ (one row per event, ≈1.05 M rows), the
integration sample the nominal simulation it was drawn from.

Run: ``.venv/bin/python benchmarks/fit_speed.py`` (about 3 minutes).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events-per-process", type=int, default=80_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pyhf-repeats", type=int, default=5)
    parser.add_argument(
        "--zfit-python",
        default=None,
        help="a Python interpreter with zfit installed: adds zfit_time_ratio (default: off)",
    )
    parser.add_argument("--zfit-repeats", type=int, default=5)
    parser.add_argument(
        "--zfit-gradient",
        choices=("minuit", "zfit"),
        default="zfit",
        help="zfit's MIGRAD gradient: tensorflow's (the faster here) or Minuit's numerical one "
        "(zfit's default)",
    )
    parser.add_argument(
        "--zfit-tol",
        type=float,
        default=1e-6,
        help="zfit Minuit's tol: 1e-6, the loosest of 1e-3 (zfit's default), 1e-5, 1e-6 at which "
        "its MLE agrees with ours within 1e-4 sigma (1e-3: 1.5e-2 sigma, 1e-5: 1.6e-3 sigma)",
    )
    parser.add_argument(
        "--zfit-threads",
        type=int,
        default=1,
        help="threads of both sides in the zfit comparison (9 000 events: torch on 2 threads "
        "of a loaded 2-core machine runs 20-50x slower than on 1)",
    )
    parser.add_argument(
        "--zfit-only", action="store_true", help="only the zfit comparison (no 10⁶-event fit)"
    )
    parser.add_argument(
        "--integration",
        choices=("events", "moments"),
        default="moments",
        help="integration sample as per-event tensors or as their moments",
    )
    args = parser.parse_args()

    import numpy as np
    import torch

    from surrogate_eval_speed import build_model
    from unbinned.analysis import AnalysisModel, challenge_spec
    from unbinned.likelihood import event_tensors
    from unbinned.sim.htautau import simulate
    from unbinned.sim.pseudo import pseudo_experiment

    torch.set_num_threads(args.threads)
    if args.zfit_only:
        print(json.dumps(_zfit_comparison(args)))
        return
    t0 = time.perf_counter()
    model, _nominal = build_model(args.events_per_process, seed=1)
    log(f"surrogate trained in {time.perf_counter() - t0:.0f} s")
    raw = simulate(args.events_per_process, seed=2, progress=False)
    pe = pseudo_experiment(raw, mu=1.0, draw_nuisances=True, seed=7)
    data = pe.data
    log(f"pseudo-experiment: {len(data)} events")

    pre = []
    for _ in range(3):
        t1 = time.perf_counter()
        tensors = event_tensors(model, data)
        pre.append(time.perf_counter() - t1)
    precompute_s = min(pre) * 1e6 / len(data)
    log(f"precompute: {min(pre):.2f} s for {len(data)} events")

    from unbinned.ml.sources import HTauTauSource

    integ_events = HTauTauSource(raw, seed=2).nominal()
    integration = event_tensors(model, integ_events)
    if args.integration == "moments":
        from unbinned.likelihood.moments import MomentAccumulator

        acc = MomentAccumulator()
        acc.add(integration, keep=0.02)
        integ: Any = acc.result()
    else:
        integ = integration
    analysis = AnalysisModel(challenge_spec(), model, integ, None)

    from unbinned.likelihood import Likelihood

    counts: collections.Counter[int] = collections.Counter()
    seconds: collections.defaultdict[int, float] = collections.defaultdict(float)
    inner = Likelihood._evaluate

    def counted(self: Any, x: Any, order: int) -> Any:
        t = time.perf_counter()
        out = inner(self, x, order)
        seconds[order] += time.perf_counter() - t
        counts[order] += 1
        return out

    Likelihood._evaluate = counted  # type: ignore[method-assign]
    times, results = [], []
    for i in range(args.repeats):
        counts.clear()
        seconds.clear()
        t1 = time.perf_counter()
        m = analysis.measure(tensors, binned=False)
        times.append(time.perf_counter() - t1)
        results.append(m)
        log(f"  repeat {i}: {times[-1]:.2f} s, valid {m.valid}, evaluations {dict(counts)}, "
            f"{m.value:.4f} [{m.lower:.4f}, {m.upper:.4f}] ({m.interval.method})")  # fmt: skip
    m = results[-1]
    last_counts, last_s = dict(counts), dict(seconds)
    passes = _pass_counts(analysis, tensors, counts)
    lik = analysis.likelihood(tensors)
    x_best = m.fit.x
    per_order = {}
    for order in (2, 1, 0):
        runs = []
        for _ in range(5):
            t1 = time.perf_counter()
            lik._evaluate(x_best, order)
            runs.append(time.perf_counter() - t1)
        per_order[order] = statistics.median(runs) * 1e6 / len(data)
    log(f"passes: {passes}; per pass (s per 1M events): {per_order}")

    from binned_vs_pyhf import _measure as pyhf_measure

    pyhf = pyhf_measure(False, args.pyhf_repeats)
    zfit_cmp = _zfit_comparison(args)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    out = {
        "precompute_s_1M": round(precompute_s, 3),
        "fit_s_1M": round(statistics.median(times) * 1e6 / len(data), 3),
        "fit_s_raw": [round(t, 3) for t in times],
        "n_events": len(data),
        "integration_events": integration.n_events,
        "integration": args.integration,
        "evaluations_last_fit": {str(k): v for k, v in sorted(last_counts.items())},
        "evaluation_seconds_last_fit": {str(k): round(v, 3) for k, v in sorted(last_s.items())},
        "hessian_pass_s_1M": round(per_order[2], 4),
        "gradient_pass_s_1M": round(per_order[1], 4),
        "value_pass_s_1M": round(per_order[0], 4),
        **passes,
        "fit_valid": bool(m.valid),
        "interval_method": m.interval.method,
        "mu_hat": round(m.value, 5),
        "interval": [round(m.lower, 5), round(m.upper, 5)],
        "pyhf_time_ratio": round(pyhf["ratio"], 4),
        "pyhf_s": round(pyhf["pyhf_s"], 4),
        "ours_binned_s": round(pyhf["ours_s"], 4),
        **zfit_cmp,
        "peak_rss_gb": round(peak, 3),
        "threads": args.threads,
        "loadavg": round(os.getloadavg()[0], 2),
        "numpy": np.__version__,
    }
    print(json.dumps(out))


def _pass_counts(analysis: Any, tensors: Any, counts: Any) -> dict[str, Any]:
    """Passes by order of one global fit, its interval and each interval edge."""
    from unbinned.infer import intervals
    from unbinned.infer.mle import fit

    lik = analysis.likelihood(tensors)
    edges: list[dict[str, int]] = []
    inner_edge = intervals._edge

    def edge(*args: Any, **kwargs: Any) -> Any:
        before = dict(counts)
        out = inner_edge(*args, **kwargs)
        edges.append({str(k): counts[k] - before.get(k, 0) for k in (0, 1, 2)})
        return out

    counts.clear()
    best = fit(lik)
    passes_fit = {str(k): counts[k] for k in (0, 1, 2)}
    counts.clear()
    intervals._edge = edge
    try:
        intervals.profile_interval(lik, analysis.poi, cl=0.6827, best=best)
    finally:
        intervals._edge = inner_edge
    passes_interval = {str(k): counts[k] for k in (0, 1, 2)}
    return {"passes_fit": passes_fit, "passes_interval": passes_interval,
            "passes_per_edge": edges}  # fmt: skip


def _zfit_comparison(args: argparse.Namespace) -> dict[str, Any]:
    """Our fit + profiled interval over zfit's, on the resonance oracle's exact likelihood.

    The events go to a temporary ``.npy`` file and the problem (start, bounds,
    constraints, yields) to a JSON file, read by ``_zfit_fit.py`` under
    ``args.zfit_python``; both sides fit from the same start within the same bounds.
    """
    if args.zfit_python is None:
        reason = "not measured: pass --zfit-python PATH (an interpreter with zfit)"
        return {"zfit_time_ratio": None, "zfit_reason": reason}
    import torch

    from oracle_efficiency import SPEC, ExactLikelihood
    from unbinned.infer import fit, profile_interval
    from unbinned.model import ModelSpec
    from unbinned.sim.oracle import ResonanceModel

    cl = 0.6827
    oracle = ResonanceModel()
    spec = ModelSpec.from_dict(SPEC)
    x = oracle.sample(1.0, seed=20).x
    start = spec.init_values()
    problem = {
        "parameters": list(spec.parameter_names),
        "start": start,
        "bounds": {n: list(b) for n, b in spec.bounds().items() if b is not None},
        "nominal": oracle.nominal,
        "constraints": {k: [c.centre, c.width] for k, c in oracle.constraints.items()},
        "yields": oracle.expected_yields(),
        "cl": cl,
        "repeats": args.zfit_repeats,
        "threads": args.zfit_threads,
        "zfit_gradient": True if args.zfit_gradient == "minuit" else "zfit",
        "zfit_tol": args.zfit_tol,
        "zfit_threads": args.zfit_threads,
        "zfit_mode": None,
    }

    def ours() -> tuple[float, Any, Any]:
        lik = ExactLikelihood(oracle, spec, x)  # a fresh cache: nothing carried between fits
        t = time.perf_counter()
        best = fit(lik)
        iv = profile_interval(lik, "mu", cl=cl, best=best)
        return time.perf_counter() - t, best, iv

    # ours before and after zfit's run, so that a change of the machine's load hits both
    threads = torch.get_num_threads()
    torch.set_num_threads(args.zfit_threads)
    cold, best, iv = ours()
    warm = [ours()[0] for _ in range((args.zfit_repeats + 1) // 2)]
    z = _run_zfit(args.zfit_python, x, problem)
    for _ in range(args.zfit_repeats // 2):
        seconds, best, iv = ours()
        warm.append(seconds)
    torch.set_num_threads(threads)
    agreement = _agreement(ExactLikelihood(oracle, spec, x), best, iv, z)
    ours_s, zfit_s = statistics.median(warm), statistics.median(z["warm_s"])
    log(f"zfit: ours {ours_s:.3f} s (cold {cold:.3f}), zfit {zfit_s:.3f} s (cold "
        f"{z['cold_s']:.3f}, compile {z['compile_s']:.3f}); {agreement}")  # fmt: skip
    return {
        "zfit_time_ratio": round(ours_s / zfit_s, 4),
        "zfit_cold_ratio": round(cold / z["cold_s"], 4),
        "zfit_fit_s": round(zfit_s, 4),
        "zfit_fit_s_raw": [round(t, 4) for t in z["warm_s"]],
        "zfit_cold_s": round(z["cold_s"], 4),
        "zfit_compile_s": round(z["compile_s"], 4),
        "zfit_build_s": round(z["build_s"], 4),
        "ours_oracle_fit_s": round(ours_s, 4),
        "ours_oracle_fit_s_raw": [round(t, 4) for t in warm],
        "ours_oracle_cold_s": round(cold, 4),
        "zfit_events": len(x),
        "zfit_fit": "MLE + profiled 68.27 % interval of mu (ours: newton edges; zfit: MINOS)",
        "zfit_gradient": args.zfit_gradient,
        "zfit_tol": args.zfit_tol,
        "zfit_threads": args.zfit_threads,
        "zfit_valid": z["valid"],
        "ours_oracle_valid": bool(best.valid and iv.valid),
        **agreement,
        "zfit_mu_hat": round(z["values"]["mu"], 6),
        "ours_oracle_mu_hat": round(best.values["mu"], 6),
        "zfit_interval": [round(v, 6) for v in z["interval"]],
        "ours_oracle_interval": [round(iv.lower, 6), round(iv.upper, 6)],
        "zfit_version": z["zfit"],
    }


def _run_zfit(python: str, x: Any, problem: dict[str, Any]) -> dict[str, Any]:
    """Run ``_zfit_fit.py`` under ``python`` on the events ``x``; return its JSON answer."""
    import subprocess
    import tempfile

    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "events.npy", x)
        (Path(tmp) / "problem.json").write_text(json.dumps(problem))
        log(f"zfit: fitting {len(x)} oracle events with {python} ...")
        proc = subprocess.run(
            [python, str(Path(__file__).parent / "_zfit_fit.py"),
             str(Path(tmp) / "events.npy"), str(Path(tmp) / "problem.json")],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"{python} _zfit_fit.py failed:\n{proc.stderr[-3000:]}")
    answer: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return answer


def _agreement(lik: Any, best: Any, iv: Any, z: dict[str, Any]) -> dict[str, float]:
    """How far zfit's answer is from ours: values and interval edges in σ, and Δq.

    Δq: |[q(start) - q(θ̂)]_ours - [q(start) - q(θ̂)]_zfit| (zfit's q = 2 NLL carries
    other constants), which compares both the likelihoods and the depths of the minima.
    """
    import numpy as np

    names = lik.parameter_names
    errors = dict(zip(names, np.sqrt(np.diag(best.covariance)), strict=True))
    dev = [abs(best.values[n] - z["values"][n]) / errors[n] for n in names]
    ends = zip((iv.lower, iv.upper), z["interval"], strict=True)
    edges = [abs(a - b) / errors["mu"] for a, b in ends]
    dq = abs((lik(lik.vector()) - lik(best.x)) - (z["q_start"] - z["q_best"]))
    return {
        "zfit_max_value_diff_sigma": float(f"{max(dev):.3g}"),
        "zfit_max_edge_diff_sigma": float(f"{max(edges):.3g}"),
        "zfit_delta_q_diff": float(f"{dq:.3g}"),
    }


if __name__ == "__main__":
    main()
