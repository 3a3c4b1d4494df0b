"""Plots of fit results: likelihood scans (1-D and 2-D), impacts, pulls, Fisher comparison."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from unbinned.analysis.measurement import Scan2D
from unbinned.exceptions import ConfigError
from unbinned.infer import FisherResult, Impact, ProfileScan, Pull, delta_q
from unbinned.plot.style import new_axes

__all__ = ["plot_fisher_comparison", "plot_impacts", "plot_pulls", "plot_scan", "plot_scan_2d"]


def plot_scan(
    scans: ProfileScan | Mapping[str, ProfileScan],
    *,
    ax: Any = None,
    levels: Sequence[float] = (0.6827, 0.95),
) -> list[Any]:
    """Draw profile-likelihood scans Δq(μ) overlaid, with the Δq lines of ``levels``.

    Parameters
    ----------
    scans
        One scan or label → scan (e.g. ``{"unbinned": s1, "binned": s2}``).
    ax
        Matplotlib axes; a new figure's axes when None.
    levels
        Confidence levels drawn as horizontal lines (Δq = 1 and 3.84 by default).

    Returns
    -------
    list
        One Line2D per scan, then one per level line.
    """
    ax = new_axes(ax)
    items = {"": scans} if isinstance(scans, ProfileScan) else dict(scans)
    if not items:
        raise ConfigError("plot_scan needs at least one scan")
    artists: list[Any] = []
    param = ""
    for label, s in items.items():
        order = np.argsort(s.values)
        x, y = s.values[order], s.delta_q[order]
        ok = s.valid[order]
        (line,) = ax.plot(x[ok], y[ok], marker=".", label=label or s.parameter)
        artists.append(line)
        if (~ok).any():
            ax.plot(x[~ok], y[~ok], ls="", marker="x", color=line.get_color())
        param = s.parameter
    for i, cl in enumerate(levels):
        dq = delta_q(cl)
        artists.append(
            ax.axhline(
                dq, color="grey", ls="--" if i == 0 else ":", lw=1, label=f"{100 * cl:.0f} %"
            )
        )
    ax.set_xlabel(rf"$\{param}$" if param in ("mu", "nu", "sigma") else param)
    ax.set_ylabel(r"$\Delta q = -2\,\Delta\ln L$")
    top = max(delta_q(max(levels)) * 1.6, 1.0)
    ax.set_ylim(0.0, top)
    ax.legend()
    return artists


def plot_scan_2d(
    scans: Scan2D | Mapping[str, Scan2D],
    *,
    ax: Any = None,
    levels: Sequence[float] = (0.6827, 0.95),
) -> list[Any]:
    """Draw the joint confidence contours of two POIs from 2-D profile scans, overlaid.

    The contour of a level ``cl`` is Δq = χ²₂ quantile (2.30 for 68.27 %, 5.99 for
    95 %); each scan's best fit is marked.

    Parameters
    ----------
    scans
        One :class:`~unbinned.analysis.Scan2D` or label → scan (e.g.
        ``{"unbinned": s1, "binned": s2}``), all of the same two POIs.
    ax
        Matplotlib axes; a new figure's axes when None.
    levels
        Confidence levels of the contours (solid, then dashed).

    Returns
    -------
    list
        The contour sets, then the best-fit markers.
    """
    ax = new_axes(ax)
    items = {"": scans} if isinstance(scans, Scan2D) else dict(scans)
    if not items:
        raise ConfigError("plot_scan_2d needs at least one scan")
    pois = {s.pois for s in items.values()}
    if len(pois) != 1:
        raise ConfigError(f"plot_scan_2d: the scans are of different POIs {sorted(pois)}")
    contours: list[Any] = []
    markers: list[Any] = []
    thresholds = sorted(delta_q(cl, ndof=2) for cl in levels)
    styles = ["-", "--", ":", "-."]
    for i, (label, s) in enumerate(items.items()):
        if s.x.size < 2 or s.y.size < 2:
            raise ConfigError(f"scan {label!r}: a contour needs at least 2 × 2 grid points")
        colour = f"C{i}"
        cs = ax.contour(s.x, s.y, np.asarray(s.delta_q).T, levels=thresholds, colors=colour,
                        linestyles=styles[: len(thresholds)])  # fmt: skip
        contours.append(cs)
        a, b = s.pois
        (mark,) = ax.plot([s.best.values[a]], [s.best.values[b]], marker="+", ls="",
                          color=colour, label=label or s.method)  # fmt: skip
        markers.append(mark)
    a, b = next(iter(pois))
    ax.set_xlabel(a)
    ax.set_ylabel(b)
    ax.set_title(" / ".join(f"{100 * cl:.0f} %" for cl in sorted(levels)) + " CL contours")
    ax.legend()
    return contours + markers


def plot_impacts(
    impacts: Sequence[Impact],
    *,
    ax: Any = None,
    top: int | None = 15,
    poi: str = "mu",
) -> list[Any]:
    """Ranking of the nuisance impacts on the POI (post-fit bars, pre-fit outlines).

    Parameters
    ----------
    impacts
        From :func:`unbinned.infer.impacts` (already ranked, largest first).
    ax
        Matplotlib axes; a new figure's axes when None.
    top
        Show at most this many (the largest).
    poi
        Name of the POI for the axis label.

    Returns
    -------
    list
        The bar containers: post-fit up, post-fit down, pre-fit up, pre-fit down.
    """
    ax = new_axes(ax)
    rows = list(impacts)[: top if top is not None else None]
    if not rows:
        raise ConfigError("plot_impacts needs at least one impact")
    rows = rows[::-1]  # largest at the top
    y = np.arange(len(rows))
    nan0 = np.vectorize(lambda v: 0.0 if not math.isfinite(v) else v)
    up = nan0(np.array([r.up for r in rows]))
    down = nan0(np.array([r.down for r in rows]))
    pre_up = nan0(np.array([r.prefit_up for r in rows]))
    pre_down = nan0(np.array([r.prefit_down for r in rows]))
    artists = [
        ax.barh(y, up, height=0.6, color="C3", alpha=0.8, label=r"post-fit $+1\sigma$"),
        ax.barh(y, down, height=0.6, color="C0", alpha=0.8, label=r"post-fit $-1\sigma$"),
        ax.barh(y, pre_up, height=0.8, fill=False, edgecolor="C3", label=r"pre-fit $+1\sigma$"),
        ax.barh(y, pre_down, height=0.8, fill=False, edgecolor="C0", label=r"pre-fit $-1\sigma$"),
    ]
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set_yticks(y, [r.nuisance for r in rows])
    ax.set_xlabel(_delta_hat(poi))
    ax.legend(fontsize=9)
    return artists


def _delta_hat(poi: str) -> str:
    r"""The axis label of a POI's shift: ``mu`` → Δμ̂, ``mu_ggh`` → Δμ̂ with subscript ggh."""
    head, _, sub = poi.partition("_")
    if head in ("mu", "sigma"):
        sym = rf"\{head}" + (rf"_{{\mathrm{{{sub}}}}}" if sub else "")
        return rf"$\Delta\hat{{{sym}}}$"
    name = poi.replace("_", r"\_")
    return rf"$\Delta\hat{{\mathrm{{{name}}}}}$"


def plot_pulls(pulls: Sequence[Pull], *, ax: Any = None) -> list[Any]:
    """Nuisance pulls (θ̂ − θ₀)/σ_prior with the constraints σ_post/σ_prior as error bars.

    Parameters
    ----------
    pulls
        From :func:`unbinned.infer.pulls`.
    ax
        Matplotlib axes; a new figure's axes when None.

    Returns
    -------
    list
        The ±2σ band, the ±1σ band and the error-bar container.
    """
    ax = new_axes(ax)
    rows = list(pulls)
    if not rows:
        raise ConfigError("plot_pulls needs at least one pull")
    y = np.arange(len(rows))[::-1]
    artists = [
        ax.axvspan(-2, 2, color="#ffe680", zorder=0),
        ax.axvspan(-1, 1, color="#a8e6a1", zorder=0),
        ax.errorbar(
            [r.pull for r in rows],
            y,
            xerr=[r.constraint for r in rows],
            ls="",
            marker="o",
            color="black",
        ),
    ]
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set_yticks(y, [r.nuisance for r in rows])
    ax.set_xlim(-3, 3)
    ax.set_xlabel(r"$(\hat\theta - \theta_0)/\sigma_{\mathrm{prior}}$")
    return artists


def plot_fisher_comparison(
    results: Mapping[str, FisherResult], poi: str, *, ax: Any = None
) -> list[Any]:
    """Expected uncertainty of ``poi`` from the Fisher information, method by method.

    For each method (e.g. ``unbinned`` and ``binned``) two bars: σ with every
    nuisance fixed, I_μμ^{-1/2}, and with every nuisance profiled,
    (I_μμ − I_μν I_νν⁻¹ I_νμ)^{-1/2}; the values are written on the bars.

    Parameters
    ----------
    results
        Label → :func:`unbinned.infer.fisher_information` on the Asimov dataset.
    poi
        The parameter of interest.
    ax
        Matplotlib axes; a new figure's axes when None.

    Returns
    -------
    list
        The two bar containers (stat. only, profiled).
    """
    ax = new_axes(ax)
    if not results:
        raise ConfigError("plot_fisher_comparison needs at least one Fisher result")
    labels = list(results)
    stat = np.array([results[k].sigma_fixed(poi) for k in labels])
    total = np.array([results[k].sigma(poi) for k in labels])
    x = np.arange(len(labels))
    bars = [
        ax.bar(x - 0.2, stat, width=0.4, color="C0", label="nuisances fixed"),
        ax.bar(x + 0.2, total, width=0.4, color="C1", label="nuisances profiled"),
    ]
    for b in bars:
        ax.bar_label(b, fmt="%.4g", fontsize=10)
    ax.set_xticks(x, labels)
    sym = rf"\{poi}" if poi in ("mu", "sigma") else poi
    ax.set_ylabel(rf"expected $\sigma({sym})$ (Fisher)")
    finite = np.concatenate([stat, total])
    finite = finite[np.isfinite(finite)]  # NaN: a Fisher matrix that is not positive definite
    ax.set_ylim(0, float(finite.max()) * 1.25 if finite.size else 1.0)
    ax.legend()
    return bars
