"""The plotting style (mplhep) and axes creation, imported lazily (the ``plot`` extra)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["STYLE", "new_axes", "style"]

STYLE = "ROOT"
"""The mplhep style every plot of unbinned uses (``mplhep.style.ROOT``)."""


def _has_font(family: str) -> bool:
    from matplotlib import font_manager

    try:
        font_manager.findfont(family, fallback_to_default=False)
    except ValueError:
        return False
    return True


def _style_dict() -> dict[str, Any]:
    import mplhep

    base = dict(getattr(mplhep.style, STYLE))
    base.update({"figure.figsize": (7.0, 5.0), "font.size": 13, "legend.fontsize": 11})
    fonts = [f for f in base.get("font.sans-serif", []) if _has_font(f)]
    base["font.sans-serif"] = [*fonts, "DejaVu Sans"]
    # mathtext in a built-in font set: a "custom" set reads rcParams when a figure is
    # drawn, which may be outside this style (falling back noisily to 'cursive')
    base = {k: v for k, v in base.items() if not k.startswith("mathtext.")}
    base["mathtext.fontset"] = "dejavusans"
    return base


@contextmanager
def style() -> Iterator[None]:
    """Context in which figures get the unbinned (mplhep) style.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> with style():  # doctest: +SKIP
    ...     fig, ax = plt.subplots()
    """
    import matplotlib.pyplot as plt

    with plt.style.context(_style_dict()):
        yield


def new_axes(ax: Any = None, **subplots: Any) -> Any:
    """Return ``ax``, or the axes of a new figure in the unbinned style when it is None."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    with style():
        _, ax = plt.subplots(**subplots)
    return ax
