"""Plots of the binned templates: nominal and ±1σ variations per process (matplotlib, lazy)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from unbinned.binned.templates import Templates
from unbinned.exceptions import ConfigError

__all__ = ["plot_templates"]


def plot_templates(
    templates: Templates,
    region: str,
    process: str,
    nuisances: Sequence[str] | None = None,
    *,
    relative: bool = False,
    ax: Any = None,
) -> list[Any]:
    """Draw a process's nominal template and its ±1σ variations in one region.

    Parameters
    ----------
    templates
        The templates (:func:`~unbinned.binned.build_templates`).
    region, process
        Which histogram to draw.
    nuisances
        Shape nuisances whose variations are drawn (default: all).
    relative
        Draw the variations as ratios to the nominal (nominal = 1).
    ax
        A matplotlib axes; a new figure's axes when ``None``.

    Returns
    -------
    list
        The artists drawn (``StepPatch`` objects), nominal first.
    """
    import matplotlib.pyplot as plt

    r = templates.region(region)
    if process not in r.processes:
        raise ConfigError(f"no process {process!r}; processes are {list(r.processes)}")
    names = list(templates.shape_nuisances if nuisances is None else nuisances)
    unknown = [k for k in names if k not in r.up]
    if unknown:
        raise ConfigError(
            f"no templates of {unknown}; shape nuisances are {list(templates.shape_nuisances)}"
        )
    if ax is None:
        _, ax = plt.subplots()
    j = r.processes.index(process)
    nom = r.nominal[j]
    with np.errstate(divide="ignore", invalid="ignore"):
        norm = np.where(nom != 0, nom, np.nan) if relative else np.ones_like(nom)
    artists = [ax.stairs(nom / norm, r.edges, color="black", label=f"{process} nominal")]
    colors = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    for i, k in enumerate(names):
        c = colors[i % len(colors)]
        artists.append(ax.stairs(r.up[k][j] / norm, r.edges, color=c, label=f"{k} +1σ"))
        artists.append(
            ax.stairs(r.down[k][j] / norm, r.edges, color=c, linestyle="--", label=f"{k} -1σ")
        )
    ax.set_xlabel("score")
    ax.set_ylabel("ratio to nominal" if relative else "expected events")
    ax.set_title(f"{region}: {process}")
    ax.legend()
    return artists
