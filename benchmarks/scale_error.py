r"""The scale error of μ̂: fits of weighted independent simulation at true μ = 0.5, 1, 2.

Issue 18 (μ̂ − μ ≈ 0.03 − 0.044 μ at full luminosity).  An independent nominal
H→ττ simulation (``--events`` raw events per process, a seed the analysis was not
trained on, ``--luminosity`` fb⁻¹) is reweighted to each true signal strength,
:math:`w_i(\mu) = w_i\,(\mu\ \text{if } i \in \text{signal else } 1)`: its weights
are the exact expectation at that μ (no Poisson noise), so a correct analysis
returns :math:`\hat\mu = \mu` up to the sample's Monte-Carlo fluctuations.  The
analysis (``--model``, scaled by ``--scale`` to the test sample's luminosity) fits
each with :meth:`AnalysisModel.measure <unbinned.analysis.AnalysisModel.measure>`
(unbinned, every nuisance profiled; ``--fix-nuisances``: all nuisances fixed at
nominal), and a straight line :math:`\hat\mu = a + b\mu` is fitted through the
results.  JSON keys:

* ``slope`` b, ``intercept`` a, ``fits``: per μ the value, interval, validity and
  ``mc_error``, the Monte-Carlo error of μ̂ from the finite test sample;
* ``slope_error``: the Monte-Carlo error of b, from ``--replicas`` Poisson-bootstrap
  replicas of the test sample (weights :math:`k_i w_i`, :math:`k_i \sim` Poisson(1),
  the same :math:`k_i` at every μ), each linearised about the fit,
  :math:`\delta\hat\theta = -H^{-1}\nabla q_k(\hat\theta)` over the floating
  parameters (the fit's Hessian H of the full sample); ``slope_tolerance`` is
  2 ``slope_error`` and ``slope_ok`` whether :math:`|b - 1|` is within it;
* ``stat_only_slope``: the slope the classifier's fractions predict with every
  nuisance at nominal.  With the normalised likelihood the fitted μ̂ at μ = 1 is
  1 whatever the classifier, and linearising the score equation about it,

  .. math:: \frac{d\hat\mu}{d\mu}\Big|_{\mu=1}
            = \frac{\sum_{i \in \mathrm{sig}} w_i\, c_\mathrm{sig}(x_i)}
                   {\sum_i w_i\, c_\mathrm{sig}(x_i)^2},

  the true over the claimed stat-only information of the score: 1 for a calibrated
  c_sig (:math:`E[\mathrm{sig}\mid c] = c`), below 1 for an overconfident one (close
  to the inverse of ``fisher_closure`` of ``benchmarks/tail_closure.py``);
* ``yield_ratio``: per process the scaled analysis's expected nominal yield
  (its integration sample's :math:`\sum_j w_j c_p(x_j)`) over the test sample's
  (1 when ``--scale`` matches the luminosities).

The background events weigh up to 10³ signal events (Z→ττ: 0.6 per raw event of
200 k at 1 fb⁻¹, the signal 5.5·10⁻⁴), so a handful of Z→ττ events carry the
background in the signal-like tail and dominate the Monte-Carlo errors:
``--process-events ztautau=3000000`` simulates more of that process alone.

Progress goes to stderr.  Example (≈ 1.5 min on one core; 3 min with
``--process-events ztautau=3000000``, which gives the slope to ±0.013)::

    PYTHONPATH=src .venv/bin/python benchmarks/scale_error.py --model runs/demo/train/model
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np
import pandas as pd
import torch

from unbinned.analysis import AnalysisModel
from unbinned.data.events import EventSet
from unbinned.data.schema import PROCESSES
from unbinned.likelihood.moments import IntegrationMoments
from unbinned.likelihood.tensors import EventTensors
from unbinned.ml import HTauTauSource
from unbinned.model.spec import ModelSpec
from unbinned.sim.htautau import simulate

MUS = (0.5, 1.0, 2.0)
"""The true signal strengths fitted."""


def log(*parts: Any) -> None:
    """Progress on stderr."""
    print(*parts, file=sys.stderr, flush=True)


def fixed_nuisances(model: AnalysisModel) -> AnalysisModel:
    """The same analysis with every nuisance declared fixed at its nominal value."""
    data = model.spec.model_dump()
    for n in data["nuisances"]:
        n["prior"] = "fixed"
    spec = ModelSpec.from_dict(data)
    return AnalysisModel(spec, model.surrogate, model.integration, model.templates, model.metadata)


def model_yields(model: AnalysisModel) -> np.ndarray:
    """Σ_j w_j c_p(x_j) of the analysis's integration sample, per process."""
    integ = model.integration
    if isinstance(integ, IntegrationMoments):
        return np.asarray(integ.m0, dtype=np.float64)
    return np.asarray(integ.weights @ integ.fractions, dtype=np.float64)


def linear_shifts(
    model: AnalysisModel, tensors: EventTensors, best: Any, replicas: int, seed: int
) -> np.ndarray:
    """δμ̂ of Poisson replicas of ``tensors`` (weights k w), linearised about ``best``.

    Replica r draws its k from ``default_rng([seed, r])``: the same k at every μ.
    """
    lik = model.likelihood(tensors)
    names = list(lik.parameter_names)
    theta = lik.vector(dict(best.values))
    skip = set(best.fixed) | set(getattr(best, "at_limit", ()))
    free = [i for i, n in enumerate(names) if n not in skip]
    h = lik.hessian(theta)[np.ix_(free, free)]
    k = free.index(names.index(model.poi))
    out = []
    for r in range(replicas):
        counts = np.random.default_rng([seed, r]).poisson(1.0, tensors.n_events)
        g = model.likelihood(tensors.with_weights(tensors.weights * counts)).grad(theta)[free]
        out.append(-np.linalg.solve(h, g)[k])
    return np.asarray(out)


def _pair(text: str) -> tuple[str, int]:
    name, _, n = text.partition("=")
    return name, int(n)


def test_sample(n: int, counts: dict[str, int], seed: int, luminosity: float) -> EventSet:
    """Nominal selected events: ``n`` raw events per process, ``counts[p]`` for those given.

    Every process is simulated on its own (its weights σL/N_p from its own count); with
    one seed a process's events do not depend on which others are generated.
    """
    unknown = sorted(set(counts) - set(PROCESSES))
    if unknown:
        raise SystemExit(f"--process-events: unknown process(es) {unknown}; expected {PROCESSES}")
    frames = [simulate(counts.get(p, n), seed=seed, luminosity=luminosity, processes=[p])
              for p in PROCESSES]  # fmt: skip
    return HTauTauSource(pd.concat(frames, ignore_index=True), seed=seed).nominal()


def stat_only_slope(tensors: EventTensors, is_sig: np.ndarray, k: int) -> float:
    """Σ_sig w c_sig / Σ w c_sig² on the nominal test sample (module docstring)."""
    c, w = tensors.fractions[:, k], tensors.weights
    return float((w * is_sig) @ c / (w @ c**2))


def main() -> None:
    """Command line; one JSON line on stdout."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="a saved AnalysisModel directory")
    ap.add_argument("--scale", type=float, default=10.0, help="luminosity scale of the analysis")
    ap.add_argument("--events", type=int, default=300_000, help="raw events per process")
    ap.add_argument("--luminosity", type=float, default=10.0, help="of the test sample, fb^-1")
    ap.add_argument("--seed", type=int, default=987_654, help="of the test simulation")
    ap.add_argument(
        "--process-events",
        nargs="*",
        default=[],
        type=_pair,
        metavar="PROCESS=N",
        help="raw events of a process instead of --events (e.g. ztautau=3000000)",
    )
    ap.add_argument("--replicas", type=int, default=30, help="bootstrap replicas (0: none)")
    ap.add_argument("--fix-nuisances", action="store_true", help="fit μ alone")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model = AnalysisModel.load(args.model)
    model = model.scaled(args.scale) if args.scale != 1.0 else model
    if args.fix_nuisances:
        model = fixed_nuisances(model)
    test = test_sample(args.events, dict(args.process_events), args.seed, args.luminosity)
    codes = [list(test.process_names).index(p) for p in model.surrogate.processes]
    is_sig = test.process_codes == codes[list(model.surrogate.processes).index(model.signal)]
    truth = np.array([test.weights[test.process_codes == c].sum() for c in codes])
    tensors = model.tensors(test)
    log(f"{len(test)} test events, tensors in {time.perf_counter() - t0:.0f} s")
    k = list(model.surrogate.processes).index(model.signal)
    fits: dict[str, dict[str, Any]] = {}
    shifts = []
    for mu in MUS:
        t1 = time.perf_counter()
        data = tensors.with_weights(tensors.weights * np.where(is_sig, mu, 1.0))
        r = model.measure(data, binned=False)
        d = linear_shifts(model, data, r.fit, args.replicas, args.seed)
        shifts.append(d)
        fits[str(mu)] = {"value": r.value, "lower": r.lower, "upper": r.upper, "valid": r.valid,
                         "mc_error": float(d.std(ddof=1)) if len(d) > 1 else None}  # fmt: skip
        log(f"mu={mu}: {r.value:.4f} [{r.lower:.4f}, {r.upper:.4f}] valid={r.valid} "
            f"({time.perf_counter() - t1:.0f} s)")  # fmt: skip
    mus = np.array(MUS)
    hats = np.array([f["value"] for f in fits.values()])
    slope, intercept = np.polyfit(mus, hats, 1)
    coef = (mus - mus.mean()) / ((mus - mus.mean()) ** 2).sum()  # slope = coef · μ̂
    slope_error = float((coef @ np.array(shifts)).std(ddof=1)) if args.replicas > 1 else None
    out = {
        "model": args.model,
        "scale": args.scale,
        "events_per_process": args.events,
        "process_events": dict(args.process_events),
        "test_events": len(test),
        "fix_nuisances": args.fix_nuisances,
        "slope": round(float(slope), 4),
        "intercept": round(float(intercept), 4),
        "slope_error": None if slope_error is None else round(slope_error, 4),
        "slope_tolerance": None if slope_error is None else round(2 * slope_error, 4),
        "slope_ok": None if slope_error is None else bool(abs(slope - 1) <= 2 * slope_error),
        "stat_only_slope": round(stat_only_slope(tensors, is_sig, k), 4),
        "fits": fits,
        "yield_ratio": dict(zip(model.surrogate.processes,
                                np.round(model_yields(model) / truth, 4).tolist(), strict=True)),
        "seconds": round(time.perf_counter() - t0, 1),
    }  # fmt: skip
    print(json.dumps(out))


if __name__ == "__main__":
    main()
