"""Figure of a coverage study: coverage, widths, pulls and the tes dependence, both methods.

From a toy store of ``benchmarks/coverage.py`` (``toys_*.jsonl``), four panels:

* coverage of the 68 % intervals in bins of the true μ, unbinned and binned
  (:func:`unbinned.plot.plot_coverage`), with the challenge's window [0.653, 0.712];
* the mean interval width in bins of the true μ, both methods;
* the pulls (μ̂ − μ)/σ, σ the half-width on the side of the truth, against a unit
  normal;
* μ̂ − μ in bins of the true tes (per prior σ = 0.01), both methods: a learned
  response that misses how the data move with tes shows up as a slope.

Run: ``.venv/bin/python benchmarks/coverage_plot.py --store STORE --out FIG.png``; prints
one JSON line (the numbers drawn).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np
import pandas as pd

WINDOW = (0.653, 0.712)
"""The issue's coverage window."""


def _binned_means(x: np.ndarray, y: np.ndarray, edges: np.ndarray) -> dict[str, list[float]]:
    idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
    out: dict[str, list[float]] = {"centre": [], "mean": [], "error": []}
    for b in range(len(edges) - 1):
        sel = y[idx == b]
        if len(sel) < 2:
            continue
        out["centre"].append(float(0.5 * (edges[b] + edges[b + 1])))
        out["mean"].append(float(sel.mean()))
        out["error"].append(float(sel.std(ddof=1) / np.sqrt(len(sel))))
    return out


def _methods(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The unbinned rows and the binned ones renamed to the same columns."""
    unbinned_cols = {"mu_hat": "u", "p16": "u16", "p84": "u84", "valid": "uv"}
    binned_cols = {f"binned_{c}": c for c in ("mu_hat", "p16", "p84", "valid")}
    binned = rows.rename(columns=unbinned_cols).rename(columns=binned_cols)
    return {"unbinned": rows, "binned": binned}


def draw(rows: pd.DataFrame, path: str, title: str) -> dict[str, Any]:
    """Write the four panels to ``path``; return the numbers they show."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import stats

    from unbinned.plot import plot_coverage
    from unbinned.plot.style import style

    summary: dict[str, Any] = {"n_toys": len(rows)}
    with style():
        fig, axes = plt.subplots(2, 2, figsize=(13, 9.5))
        (ax_cov, ax_w), (ax_pull, ax_tes) = axes
        mu_edges = np.linspace(0.1, 3.0, 7)
        tes_edges = np.linspace(-2.5, 2.5, 6)
        for k, (name, df) in enumerate(_methods(rows).items()):
            df = df[df["valid"].astype(bool)]
            mu = df["mu_true"].to_numpy(float)
            hat, lo, hi = (df[c].to_numpy(float) for c in ("mu_hat", "p16", "p84"))
            bar, nominal = plot_coverage(df, ax=ax_cov, bins=6)
            bar.set_label(f"{name}: {((lo <= mu) & (mu <= hi)).mean():.3f}")
            if k:
                nominal.remove()
            width = _binned_means(mu, hi - lo, mu_edges)
            ax_w.errorbar(width["centre"], width["mean"], yerr=width["error"], marker="o",
                          ls="-", label=f"{name}: mean {np.mean(hi - lo):.3f}")  # fmt: skip
            shift = _binned_means((df["true_tes"].to_numpy(float) - 1) / 0.01, hat - mu, tes_edges)
            ax_tes.errorbar(shift["centre"], shift["mean"], yerr=shift["error"], marker="o",
                            ls="", label=name)  # fmt: skip
            summary[name] = {"coverage": round(float(((lo <= mu) & (mu <= hi)).mean()), 4),
                             "mean_width": round(float(np.mean(hi - lo)), 4),
                             "dmu_by_tes": shift}  # fmt: skip
            if name == "unbinned":
                pull = (hat - mu) / np.where(hat > mu, hat - lo, hi - hat)
                grid = np.linspace(-4, 4, 41)
                ax_pull.hist(np.clip(pull, -4, 4), bins=grid, density=True, histtype="step",
                             lw=1.5, label=f"unbinned: mean {pull.mean():.2f}, "
                             f"std {pull.std(ddof=1):.2f}")  # fmt: skip
                x = np.linspace(-4, 4, 200)
                ax_pull.plot(x, stats.norm.pdf(x), "k--", lw=1, label="unit normal")
                summary["pull"] = [round(float(pull.mean()), 3), round(float(pull.std(ddof=1)), 3)]
        ax_cov.axhspan(*WINDOW, color="grey", alpha=0.2, label="target window")
        ax_cov.set_ylim(0.4, 0.9)
        ax_cov.legend(loc="lower right")
        ax_w.set_xlabel(r"true $\mu$")
        ax_w.set_ylabel("mean width of the 68 % interval")
        ax_w.legend()
        ax_pull.set_xlabel(r"pull $(\hat\mu - \mu)/\sigma$")
        ax_pull.set_ylabel("density")
        ax_pull.legend(loc="upper left", fontsize="small")
        ax_tes.axhline(0, color="grey", lw=1)
        ax_tes.set_xlabel(r"true tes $-$ 1, in prior $\sigma$ (0.01)")
        ax_tes.set_ylabel(r"mean $\hat\mu - \mu$")
        ax_tes.legend()
        fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="toys_*.jsonl of coverage.py")
    parser.add_argument("--out", required=True, help="the figure (PNG)")
    parser.add_argument("--title", default="", help="figure title")
    args = parser.parse_args()

    from unbinned.infer import ToyStudy

    rows = ToyStudy.from_store(args.store).rows
    rows = rows[rows["error"].isna()] if "error" in rows.columns else rows
    print(json.dumps(draw(rows, args.out, args.title)))


if __name__ == "__main__":
    main()
