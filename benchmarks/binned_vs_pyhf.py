"""Binned fit time, ours vs pyhf's, on the same workspace, measured in the same run.

``pyhf_time_ratio`` = median wall time of our binned MLE (``unbinned.infer.fit``:
MIGRAD with the exact gradient, Newton polish and covariance from the exact
Hessian) / median wall time of pyhf's MLE with uncertainties
(``pyhf.infer.mle.fit(..., return_uncertainties=True)``, numpy backend, minuit
optimizer: MIGRAD + HESSE) on the exported workspace.  Target: ≤ 0.33.

Problem: 2 regions × 20 bins (quantile binning in signal yield), 4 processes,
POI μ and 6 nuisances: 3 shape (tes, jes, soft_met; histosys code4p), 3 rate
(ttbar_scale and ztautau_scale lognormal → normsys, diboson_scale Gaussian on an
unshaped process → linear histosys); observed counts: one Poisson draw.  Model
construction is outside the timing for both.  Prints one JSON line; progress
to stderr.

Run: ``.venv/bin/python benchmarks/binned_vs_pyhf.py [--repeats 15]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

import numpy as np
import torch

from unbinned.binned import BinnedLikelihood, build_templates, to_pyhf
from unbinned.binned._toy import toy_problem
from unbinned.infer import fit


def _problem(staterror: bool) -> tuple[BinnedLikelihood, Any]:
    rate = (
        {"name": "ttbar_scale", "prior": "lognormal", "width": 0.05, "processes": ("ttbar",)},
        {"name": "ztautau_scale", "prior": "lognormal", "width": 0.02, "processes": ("ztautau",)},
        {"name": "diboson_scale", "prior": "gaussian", "width": 0.1, "processes": ("diboson",)},
    )
    shape = {
        "tes": ("htautau", "ztautau"),
        "jes": ("htautau", "ztautau", "ttbar"),
        "soft_met": ("ztautau", "ttbar"),
    }
    yields = {"htautau": 120.0, "ztautau": 2000.0, "ttbar": 400.0, "diboson": 80.0}
    spec, nominal, variations = toy_problem(
        yields=yields, shape=shape, rate=rate, n_mc=5000, seed=3
    )
    templates = build_templates(spec, nominal, variations, n_bins=20)
    lik = BinnedLikelihood(spec, templates, "asimov", interpolation="code4p", staterror=staterror)
    rng = np.random.default_rng(7)
    observed = {k: rng.poisson(v).astype(float) for k, v in lik.asimov_counts(lik.vector()).items()}
    lik = lik.with_observed(observed)
    return lik, to_pyhf(lik)


def _measure(staterror: bool, repeats: int) -> dict[str, Any]:
    import pyhf

    lik, export = _problem(staterror)
    model = export.model()
    data = export.data(model)
    previous = pyhf.get_backend()
    pyhf.set_backend("numpy", "minuit")
    try:
        ours, theirs = [], []
        res = fit(lik)  # warm-up (imports, caches) for both, outside the timing
        pres = pyhf.infer.mle.fit(data, model, return_uncertainties=True)
        for i in range(repeats):
            t0 = time.perf_counter()
            res = fit(lik)
            t1 = time.perf_counter()
            pres = pyhf.infer.mle.fit(data, model, return_uncertainties=True)
            t2 = time.perf_counter()
            ours.append(t1 - t0)
            theirs.append(t2 - t1)
            print(f"  repeat {i}: ours {1e3 * (t1 - t0):.1f} ms, pyhf {1e3 * (t2 - t1):.1f} ms",
                  file=sys.stderr)  # fmt: skip
    finally:
        pyhf.set_backend(*previous)
    poi = list(model.config.par_names).index("mu")
    mu_p, sig_p = float(pres[poi, 0]), float(pres[poi, 1])
    o, t = statistics.median(ours), statistics.median(theirs)
    return {
        "ratio": o / t,
        "ours_s": o,
        "pyhf_s": t,
        "valid": bool(res.valid),
        "mu_rel_diff": res.values["mu"] / mu_p - 1.0,
        "sigma_rel_diff": res.errors["mu"] / sig_p - 1.0,
        "n_parameters": len(lik.parameter_names),
        "n_bins": lik.n_bins_total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--no-staterror-variant", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)  # both sides single-threaded (the machine is shared)
    print("binned fit, no staterror (2 x 20 bins, 7 parameters)", file=sys.stderr)
    main_fig = _measure(False, args.repeats)
    out: dict[str, Any] = {
        "pyhf_time_ratio": round(main_fig["ratio"], 4),
        "ours_s": round(main_fig["ours_s"], 5),
        "pyhf_s": round(main_fig["pyhf_s"], 5),
        "repeats": args.repeats,
        "n_bins": main_fig["n_bins"],
        "n_parameters": main_fig["n_parameters"],
        "ours_valid": main_fig["valid"],
        "mu_rel_diff": float(f"{main_fig['mu_rel_diff']:.3g}"),
        "sigma_mu_rel_diff": float(f"{main_fig['sigma_rel_diff']:.3g}"),
    }
    if not args.no_staterror_variant:
        print("binned fit with staterror (47 parameters)", file=sys.stderr)
        st = _measure(True, max(3, args.repeats // 3))
        out.update(
            {
                "pyhf_time_ratio_staterror": round(st["ratio"], 4),
                "ours_staterror_s": round(st["ours_s"], 5),
                "pyhf_staterror_s": round(st["pyhf_s"], 5),
                "staterror_mu_rel_diff": float(f"{st['mu_rel_diff']:.3g}"),
                "staterror_sigma_mu_rel_diff": float(f"{st['sigma_rel_diff']:.3g}"),
            }
        )
    out.update(
        {
            "device": "cpu",
            "torch_threads": torch.get_num_threads(),
            "pyhf_backend": "numpy+minuit (defaults: strategy 1, tolerance 0.1)",
        }
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
