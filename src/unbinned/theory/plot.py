"""Plots of theory-uncertainty pulls (matplotlib is imported lazily: the ``plot`` extra)."""

from __future__ import annotations

from typing import Any

import numpy as np

from unbinned.theory.reference import PullTable

__all__ = ["plot_pull_distributions"]


def plot_pull_distributions(
    table: PullTable,
    *,
    ax: Any = None,
    schemes: tuple[str, ...] = ("scale", "reference"),
    bins: Any = None,
    threshold: float = 2.0,
) -> list[Any]:
    """Histogram |t| of the LO→NLO pulls per scheme on a logarithmic axis.

    Parameters
    ----------
    table
        The pulls (:func:`~unbinned.theory.lo_nlo_pulls`).
    ax
        Matplotlib axes; default: the current axes.
    schemes
        Which schemes to draw.
    bins
        Histogram bins; default: logarithmic from 0.1 to the largest |t|.
    threshold
        Draw a line at |t| = threshold; the legend gives each scheme's outlier fraction.

    Returns
    -------
    list
        The artists: one histogram patch list per scheme, then the threshold line.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        ax = plt.gca()
    values = {s: np.abs(table.pulls(s)) for s in schemes}
    if bins is None:
        top = max(float(np.max(v)) for v in values.values())
        bins = np.logspace(-1.0, np.log10(max(top, 10.0)) + 0.1, 25)
    artists: list[Any] = []
    for scheme, v in values.items():
        frac = table.outlier_fraction(scheme, threshold)
        _, _, patches = ax.hist(
            v,
            bins=bins,
            histtype="step",
            linewidth=1.5,
            label=f"{scheme} scheme ({100 * frac:.0f}% with |t| > {threshold:g})",
        )
        artists.append(patches)
    artists.append(ax.axvline(threshold, color="grey", linestyle="--"))
    ax.set_xscale("log")
    ax.set_xlabel("|t| = |σ_NLO - σ_LO| / Δσ")
    ax.set_ylabel("processes")
    ax.legend(fontsize="small")
    return artists
