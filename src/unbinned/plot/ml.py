"""Plots of the learned surrogates: reweighting closure and classifier calibration."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from unbinned.exceptions import DataError
from unbinned.ml.diagnostics import ReliabilityDiagram
from unbinned.plot.style import new_axes

__all__ = ["plot_calibration", "plot_reweighting"]


def plot_reweighting(
    edges: npt.ArrayLike,
    nominal: npt.ArrayLike,
    varied: npt.ArrayLike,
    reweighted: npt.ArrayLike,
    *,
    varied_error: npt.ArrayLike | None = None,
    feature: str = "x",
    label: str = "varied",
    ax: Any = None,
    density: bool = False,
) -> list[Any]:
    r"""Nominal and varied distributions of a feature with the surrogate's reweighting overlaid.

    The closure check of a learned response: the nominal histogram times
    R_p(x|ν) (solid) should match the varied simulation (points) wherever the
    varied one differs from the nominal (dashed).

    Parameters
    ----------
    edges
        Bin edges (B + 1).
    nominal, varied, reweighted
        Weighted counts per bin (B) of the nominal simulation, of the varied
        simulation and of the nominal simulation weighted by R_p(x|ν).
    varied_error
        Statistical error of ``varied`` (default: none drawn).
    feature, label
        The x-axis label and the name of the variation in the legend.
    ax
        Matplotlib axes; a new figure's axes when None.
    density
        Normalise each histogram to unit area (shape comparison).

    Returns
    -------
    list
        The nominal StepPatch, the reweighted StepPatch and the varied error bars.
    """
    ax = new_axes(ax)
    e = np.asarray(edges, dtype=np.float64)
    arrays = [np.asarray(a, dtype=np.float64) for a in (nominal, varied, reweighted)]
    if any(a.shape != (len(e) - 1,) for a in arrays):
        raise DataError(
            f"nominal, varied and reweighted need {len(e) - 1} bins each (one less than the "
            f"edges); got {[a.shape for a in arrays]}"
        )
    nom, var, rew = arrays
    err = None if varied_error is None else np.asarray(varied_error, dtype=np.float64)
    if density:
        widths = np.diff(e)
        scale = [1.0 / (a.sum() * widths) if a.sum() > 0 else 1.0 for a in (nom, var, rew)]
        nom, var, rew = nom * scale[0], var * scale[1], rew * scale[2]
        err = None if err is None else err * scale[1]
    centres = 0.5 * (e[1:] + e[:-1])
    artists = [
        ax.stairs(nom, e, color="grey", ls="--", label="nominal"),
        ax.stairs(rew, e, color="C0", lw=2, label=r"nominal $\times\,R(x|\nu)$"),
        ax.errorbar(centres, var, yerr=err, ls="", marker="o", ms=4, color="black", label=label),
    ]
    ax.set_xlabel(feature)
    ax.set_ylabel("density" if density else "weighted events")
    ax.legend()
    return artists


def plot_calibration(
    diagram: ReliabilityDiagram, *, process: str | None = None, ax: Any = None, log: bool = True
) -> list[Any]:
    """Classifier calibration: observed against predicted process fractions, per process.

    A styled front end to :meth:`unbinned.ml.ReliabilityDiagram.plot`.

    Parameters
    ----------
    diagram
        From :func:`unbinned.ml.reliability` on held-out nominal simulation.
    process
        Draw only this process (default: all).
    ax
        Matplotlib axes; a new figure's axes when None.
    log
        Logarithmic axes (the signal fractions are small).

    Returns
    -------
    list
        The artists of :meth:`~unbinned.ml.ReliabilityDiagram.plot`.
    """
    ax = new_axes(ax)
    return diagram.plot(process, ax=ax, log=log)
