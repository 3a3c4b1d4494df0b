"""Plots of response-surface studies (matplotlib is imported lazily: the ``plot`` extra)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["plot_mse_curves", "plot_response_slice"]


def plot_mse_curves(
    n_points: Sequence[int] | Mapping[str, Sequence[int]],
    curves: Mapping[str, Sequence[float | None]],
    *,
    ax: Any = None,
    title: str | None = None,
    logy: bool = True,
) -> list[Any]:
    """Plot the MSE of each method against the number of simulation points.

    Parameters
    ----------
    n_points
        The numbers of points, shared by every curve, or a mapping method → its own list.
    curves
        Method name → MSE per number of points (None where a method has no value).
    ax
        Matplotlib axes; default: the current axes.
    title
        Axes title.
    logy
        Logarithmic MSE axis.

    Returns
    -------
    list
        The Line2D artists, one per method.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        ax = plt.gca()
    artists = []
    for name, values in curves.items():
        xs = n_points[name] if isinstance(n_points, Mapping) else n_points
        pairs = [(x, v) for x, v in zip(xs, values, strict=True) if v is not None]
        if not pairs:
            continue
        x, y = zip(*pairs, strict=True)
        (line,) = ax.plot(x, y, marker="o", markersize=3, label=name)
        artists.append(line)
    ax.set_xlabel("number of simulation points")
    ax.set_ylabel("MSE on the test grid")
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small")
    return artists


def plot_response_slice(
    values: npt.ArrayLike,
    extent: tuple[float, float, float, float],
    *,
    points: npt.ArrayLike | None = None,
    ax: Any = None,
    labels: tuple[str, str] = ("ν₁", "ν₂"),
    **imshow_kwargs: Any,
) -> list[Any]:
    """Show a 2-D slice of a response (values[i, j] at x_i, y_j) and optional design points.

    Returns
    -------
    list
        The image artist and, with ``points``, the scatter artist.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        ax = plt.gca()
    arr = np.asarray(values, dtype=np.float64)
    image = ax.imshow(arr.T, origin="lower", extent=extent, aspect="auto", **imshow_kwargs)
    artists: list[Any] = [image]
    if points is not None:
        pts = np.asarray(points, dtype=np.float64)
        artists.append(ax.scatter(pts[:, 0], pts[:, 1], s=12, c="w", edgecolors="k"))
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    return artists
