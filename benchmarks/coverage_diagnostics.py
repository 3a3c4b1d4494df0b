"""Why a coverage study misses: pulls against the true nuisances, learned vs simulated yields.

From a toy store of ``benchmarks/coverage.py`` and its trained analysis:

* ``dmu_per_sigma``: slope of μ̂ − μ_true against each true nuisance, per prior σ
  (per GeV for soft_met); ``pull_corr``: correlation of the pull with it;
  ``fit_minus_true``: mean and spread of the fitted minus the true tes and jes;
* ``spread_over_halfwidth``: the spread of μ̂ − μ_true over the mean interval
  half-width, and the same after removing its linear dependence on the true tes,
  jes and soft_met (what those slopes add to the spread);
* ``ln_yield_pct``: the learned ln Y_p (per cent) at shifts of tes and jes, next to the
  simulated ratio on an independent sample (``--events`` raw events per process,
  ``--seed``), and their difference.

Run: ``.venv/bin/python benchmarks/coverage_diagnostics.py --store STORE --analysis DIR``;
one JSON line.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

WIDTHS = {"tes": 0.01, "jes": 0.01}
SLOPES = {"tes": 0.01, "jes": 0.01, "soft_met": 1.0, "ttbar_scale": 0.02, "diboson_scale": 0.25,
          "bkg_scale": 0.001}  # fmt: skip
"""Prior widths (soft_met: per GeV) for the slopes of μ̂ − μ against the true nuisances."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="toys_*.jsonl of coverage.py")
    parser.add_argument("--analysis", required=True, help="its analysis_* directory")
    parser.add_argument("--events", type=int, default=300_000, help="per process")
    parser.add_argument("--seed", type=int, default=777)
    args = parser.parse_args()

    from unbinned.analysis import AnalysisModel
    from unbinned.infer import ToyStudy
    from unbinned.sim.htautau import simulate
    from unbinned.sim.systematics import Nuisances, apply_systematics

    rows = ToyStudy.from_store(args.store).rows
    rows = rows[rows["error"].isna()] if "error" in rows.columns else rows
    mu, mu_hat = rows["mu_true"].to_numpy(float), rows["mu_hat"].to_numpy(float)
    lo, hi = rows["p16"].to_numpy(float), rows["p84"].to_numpy(float)
    pull = (mu_hat - mu) / np.where(mu_hat > mu, mu_hat - lo, hi - mu_hat)
    out: dict[str, object] = {"n_toys": len(rows)}
    for name, width in SLOPES.items():
        true = rows[f"true_{name}"].to_numpy(float)
        slope = np.polyfit(true, mu_hat - mu, 1)[0]
        out[f"dmu_per_sigma_{name}"] = round(float(slope * width), 3)
        out[f"pull_corr_{name}"] = round(float(np.corrcoef(true, pull)[0, 1]), 3)
        if f"fit_{name}" in rows.columns and name in WIDTHS:
            fitted = rows[f"fit_{name}"].to_numpy(float)
            out[f"fit_minus_true_{name}"] = [round(float(np.mean(fitted - true)), 5),
                                             round(float(np.std(fitted - true)), 5)]  # fmt: skip
    # the spread of μ̂ − μ in units of the mean half-width, before and after removing
    # its linear dependence on the true shape nuisances
    half = np.where(mu_hat > mu, mu_hat - lo, hi - mu_hat)
    shape = np.column_stack([rows[f"true_{n}"].to_numpy(float) for n in ("tes", "jes", "soft_met")]
                            + [np.ones(len(rows))])  # fmt: skip
    resid = (mu_hat - mu) - shape @ np.linalg.lstsq(shape, mu_hat - mu, rcond=None)[0]
    out["spread_over_halfwidth"] = round(float(np.std(mu_hat - mu) / np.mean(half)), 3)
    out["spread_over_halfwidth_without_shape_slopes"] = round(
        float(np.std(resid) / np.mean(half)), 3
    )

    surrogate = AnalysisModel.load(args.analysis).surrogate
    procs = list(surrogate.processes)
    raw = simulate(args.events, seed=args.seed, progress=False)

    def log_yields(**values: float) -> np.ndarray:
        sel = apply_systematics(raw, Nuisances(**values), seed=1)
        w = sel.groupby("detailed_labels")["weights"].sum()
        return np.array([w[p] for p in procs], dtype=np.float64)

    nominal = log_yields()
    table = {}
    for idx, name in enumerate(surrogate.nuisance_names):
        if name not in WIDTHS:
            continue
        for shift in (-0.5, 0.5, 1.0, 2.0):
            nu = np.zeros(len(surrogate.nuisance_names))
            nu[idx] = shift
            simulated = np.log(log_yields(**{name: 1.0 + shift * WIDTHS[name]}) / nominal)
            learned = surrogate.log_yield(nu)
            table[f"{name}{shift:+g}sigma"] = {
                p: [round(100 * float(learned[i]), 4), round(100 * float(simulated[i]), 4)]
                for i, p in enumerate(procs)
            }
    out["ln_yield_pct_learned_vs_simulated"] = table
    out["processes"] = procs
    print(json.dumps(out))


if __name__ == "__main__":
    main()
