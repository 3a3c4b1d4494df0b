"""Plots of pseudo-experiment studies: μ̂ against the true μ, and interval coverage."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from unbinned.exceptions import DataError
from unbinned.infer import ToyStudy
from unbinned.plot.style import new_axes

__all__ = ["NOMINAL_COVERAGE", "plot_coverage", "plot_mu_hat_vs_mu"]

NOMINAL_COVERAGE = 0.6827
"""Coverage of a correct 68 % interval."""


def _valid_rows(study: ToyStudy | pd.DataFrame) -> pd.DataFrame:
    df = study.rows if isinstance(study, ToyStudy) else study
    need = ["mu_true", "mu_hat", "p16", "p84", "valid"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise DataError(f"toy rows lack column(s) {missing}; expected {need}")
    ok = np.array(df["valid"].to_numpy(dtype=bool))
    if "error" in df.columns:
        ok &= df["error"].isna().to_numpy()
    for c in ("mu_true", "mu_hat", "p16", "p84"):
        ok &= np.isfinite(df[c].to_numpy(dtype=np.float64))
    out = df[ok]
    if out.empty:
        raise DataError("no valid pseudo-experiment to plot")
    return out


def plot_mu_hat_vs_mu(study: ToyStudy | pd.DataFrame, *, ax: Any = None) -> list[Any]:
    """μ̂ with its 68 % interval against the true μ of each valid pseudo-experiment.

    Parameters
    ----------
    study
        A :class:`~unbinned.infer.ToyStudy` or its rows (``mu_true``, ``mu_hat``,
        ``p16``, ``p84``, ``valid``).
    ax
        Matplotlib axes; a new figure's axes when None.

    Returns
    -------
    list
        The error-bar container of the covering intervals, that of the others, and
        the diagonal μ̂ = μ.
    """
    ax = new_axes(ax)
    df = _valid_rows(study)
    mu = df["mu_true"].to_numpy(dtype=np.float64)
    hat = df["mu_hat"].to_numpy(dtype=np.float64)
    lo = df["p16"].to_numpy(dtype=np.float64)
    hi = df["p84"].to_numpy(dtype=np.float64)
    cover = (lo <= mu) & (mu <= hi)
    artists = []
    for sel, colour, label in ((cover, "C0", "covers"), (~cover, "C3", "misses")):
        artists.append(
            ax.errorbar(
                mu[sel],
                hat[sel],
                yerr=[hat[sel] - lo[sel], hi[sel] - hat[sel]],
                ls="",
                marker="o",
                ms=4,
                color=colour,
                label=f"68 % interval {label} ({int(sel.sum())})",
            )
        )
    span = [min(mu.min(), lo.min()), max(mu.max(), hi.max())]
    artists.append(ax.plot(span, span, color="grey", ls="--", lw=1, label=r"$\hat\mu = \mu$")[0])
    ax.set_xlabel(r"true $\mu$")
    ax.set_ylabel(r"$\hat\mu$")
    ax.legend()
    return artists


def plot_coverage(study: ToyStudy | pd.DataFrame, *, ax: Any = None, bins: int = 5) -> list[Any]:
    """Coverage of the 68 % intervals in bins of the true μ, with binomial errors.

    Parameters
    ----------
    study
        A :class:`~unbinned.infer.ToyStudy` or its rows.
    ax
        Matplotlib axes; a new figure's axes when None.
    bins
        Bins of the true μ (one when all toys share a μ).

    Returns
    -------
    list
        The error-bar container and the nominal-coverage line.
    """
    ax = new_axes(ax)
    df = _valid_rows(study)
    mu = df["mu_true"].to_numpy(dtype=np.float64)
    cover = (df["p16"].to_numpy(dtype=np.float64) <= mu) & (
        mu <= df["p84"].to_numpy(dtype=np.float64)
    )
    if np.ptp(mu) == 0 or bins < 2:
        edges = np.array([mu.min() - 0.5, mu.max() + 0.5])
    else:
        edges = np.linspace(mu.min(), mu.max(), bins + 1)
    idx = np.clip(np.searchsorted(edges, mu, side="right") - 1, 0, len(edges) - 2)
    centres, cov, err, width = [], [], [], []
    for b in range(len(edges) - 1):
        sel = idx == b
        n = int(sel.sum())
        if n == 0:
            continue
        c = float(cover[sel].mean())
        centres.append(0.5 * (edges[b] + edges[b + 1]))
        width.append(0.5 * (edges[b + 1] - edges[b]))
        cov.append(c)
        err.append(max(np.sqrt(c * (1 - c) / n), 0.5 / n))
    total = float(cover.mean())
    artists = [
        ax.errorbar(
            centres,
            cov,
            xerr=width,
            yerr=err,
            ls="",
            marker="o",
            label=f"coverage {total:.3f} ({len(mu)} toys)",
        ),
        ax.axhline(NOMINAL_COVERAGE, color="grey", ls="--", lw=1, label="nominal 0.683"),
    ]
    ax.set_ylim(0.0, 1.05)
    ax.set_xlabel(r"true $\mu$")
    ax.set_ylabel("coverage of the 68 % interval")
    ax.legend()
    return artists
