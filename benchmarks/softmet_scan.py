"""μ̂ against the true soft MET, on Asimov data of one fixed simulated sample.

The sample (``--events`` raw events per process, ``--seed``) is varied to each true
soft_met (the other nuisances nominal), weighted to the luminosity, and measured at
μ = 1 by a saved analysis (unbinned and binned). A learned soft-MET response that is
right gives a flat μ̂; the sample's own fluctuation shifts every point alike.

Run: ``.venv/bin/python benchmarks/softmet_scan.py --analysis DIR [--luminosity-scale 0.25]``;
one JSON line.
"""

from __future__ import annotations

import argparse
import json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--analysis", required=True, help="a saved AnalysisModel directory")
    parser.add_argument("--luminosity-scale", type=float, default=0.25)
    parser.add_argument("--events", type=int, default=300_000, help="raw events per process")
    parser.add_argument("--seed", type=int, default=104)
    parser.add_argument("--smear-seed", type=int, default=1, help="seed of the soft-MET smearing")
    parser.add_argument("--values", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0, 3.0])
    args = parser.parse_args()

    import torch

    from unbinned.analysis import AnalysisModel
    from unbinned.sim.htautau import simulate
    from unbinned.sim.pseudo import _expected_weights
    from unbinned.sim.systematics import Nuisances, apply_systematics

    torch.set_num_threads(1)
    model = AnalysisModel.load(args.analysis).scaled(args.luminosity_scale)
    sample = simulate(args.events, seed=args.seed, progress=False)
    rows = []
    for value in args.values:
        data = apply_systematics(sample, Nuisances(soft_met=value), seed=args.smear_seed).copy()
        data["weights"] = _expected_weights(data, 1.0) * args.luminosity_scale
        m = model.measure(data, binned=model.templates is not None)
        rows.append({
            "soft_met": value,
            "mu_hat": round(m.value, 4),
            "fit_soft_met": round(m.fit.values["soft_met"], 3),
            "binned_mu_hat": None if m.binned is None else round(m.binned.value, 4),
            "valid": m.valid,
        })  # fmt: skip
    print(json.dumps({"analysis": args.analysis, "luminosity_scale": args.luminosity_scale,
                      "seed": args.seed, "smear_seed": args.smear_seed,
                      "calibrated": model.surrogate.calibration is not None,
                      "scan": rows}))  # fmt: skip


if __name__ == "__main__":
    main()
