"""Baselines for response surfaces: the on-axis factorised approximation, grids, random points.

The on-axis ("factorised") approximation simulates the nominal point and points that
move one nuisance at a time, and predicts

    R(ν) ≈ R(ν₀) · Π_a R(ν₀ + (ν_a - ν₀,a) e_a) / R(ν₀),

each one-dimensional dependence interpolated between its on-axis points (a not-a-knot
cubic spline with four or more nodes, the interpolating polynomial with fewer).  It is
exact when R is a product of one-dimensional functions (and the 1-D interpolation is
exact), and blind to any interplay of the nuisances (DESIGN.md §6; Romero, Cranmer,
Whiteson, arXiv:2509.15500).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.interpolate import CubicSpline

from unbinned.exceptions import ConfigError, DataError, FitError

__all__ = ["OnAxisModel", "grid_design", "on_axis_design", "random_design", "regular_grid"]

FloatArray = npt.NDArray[np.float64]


def _bounds(bounds: npt.ArrayLike) -> FloatArray:
    b = np.asarray(bounds, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 2 or np.any(b[:, 1] <= b[:, 0]):
        raise ConfigError(f"bounds must have shape (d, 2) with low < high, got {b.tolist()}")
    return b


def on_axis_design(
    bounds: npt.ArrayLike, n_points: int, nominal: npt.ArrayLike | None = None
) -> FloatArray:
    """Nominal point plus ⌊(n_points - 1)/d⌋ equally spaced points on each axis.

    The points of an axis split [low, high] evenly (ends included) and skip the nominal
    value; the nominal defaults to the centre of the box.  Returns shape (1 + d·m, d).
    """
    b = _bounds(bounds)
    d = b.shape[0]
    m = (n_points - 1) // d
    if m < 1:
        raise ConfigError(
            f"an on-axis design in {d} dimensions needs n_points >= {d + 1}, got {n_points}"
        )
    nom = b.mean(axis=1) if nominal is None else np.asarray(nominal, dtype=np.float64)
    pts = [nom.copy()]
    for a in range(d):
        # m + 1 equally spaced values: drop the one closest to the nominal
        vals = np.linspace(b[a, 0], b[a, 1], m + 1)
        vals = np.delete(vals, int(np.argmin(np.abs(vals - nom[a]))))
        for v in vals:
            p = nom.copy()
            p[a] = v
            pts.append(p)
    return np.array(pts)


def regular_grid(bounds: npt.ArrayLike, n_per_axis: int) -> FloatArray:
    """All points of a regular grid with ``n_per_axis`` values per axis (ends included)."""
    b = _bounds(bounds)
    if n_per_axis < 1:
        raise ConfigError(f"n_per_axis must be >= 1, got {n_per_axis}")
    axes = [
        np.linspace(lo, hi, n_per_axis) if n_per_axis > 1 else np.array([(lo + hi) / 2])
        for lo, hi in b
    ]
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.reshape(-1) for m in mesh], axis=1)


def grid_design(bounds: npt.ArrayLike, n_points: int) -> FloatArray:
    """The largest regular grid with at most ``n_points`` points (k^d <= n_points)."""
    b = _bounds(bounds)
    d = b.shape[0]
    k = int(np.floor(n_points ** (1.0 / d) + 1e-9))
    if k < 1:
        raise ConfigError(f"n_points must be >= 1, got {n_points}")
    return regular_grid(b, k)


def random_design(bounds: npt.ArrayLike, n_points: int, rng: np.random.Generator) -> FloatArray:
    """``n_points`` points drawn uniformly in the box ``bounds``."""
    b = _bounds(bounds)
    if n_points < 1:
        raise ConfigError(f"n_points must be >= 1, got {n_points}")
    return np.asarray(b[:, 0] + rng.random((n_points, b.shape[0])) * (b[:, 1] - b[:, 0]))


@dataclass(repr=False)
class OnAxisModel:
    """The factorised on-axis approximation R(ν) ≈ R(ν₀) Π_a r_a(ν_a).

    Parameters
    ----------
    nominal
        The nominal point ν₀, shape (d,).
    atol
        Tolerance to decide that a coordinate equals the nominal one.

    Examples
    --------
    >>> import numpy as np
    >>> from unbinned.response import OnAxisModel, on_axis_design
    >>> pts = on_axis_design([(0.0, 2.0), (0.0, 2.0)], 9)
    >>> f = lambda x: (1 + x[:, 0] ** 2) * np.exp(x[:, 1])
    >>> model = OnAxisModel(nominal=[1.0, 1.0]).fit(pts, f(pts))
    >>> bool(np.allclose(model.predict(np.array([[2.0, 0.0]])), f(np.array([[2.0, 0.0]]))))
    True
    """

    nominal: npt.ArrayLike
    atol: float = 1e-9
    _f0: float = field(default=float("nan"), init=False)
    _splines: list[tuple[FloatArray, FloatArray]] = field(default_factory=list, init=False)

    def __repr__(self) -> str:
        nodes = [len(x) for x, _ in self._splines]
        return f"OnAxisModel(nominal={np.asarray(self.nominal).tolist()}, nodes_per_axis={nodes})"

    def fit(self, points: npt.ArrayLike, values: npt.ArrayLike) -> OnAxisModel:
        """Fit from the nominal point and on-axis points; other points are ignored.

        Parameters
        ----------
        points
            Shape (n, d); must contain the nominal point and at least one point per axis.
        values
            R at the points, shape (n,).

        Returns
        -------
        OnAxisModel
            ``self``.
        """
        nom = np.asarray(self.nominal, dtype=np.float64).reshape(-1)
        pts = np.asarray(points, dtype=np.float64)
        vals = np.asarray(values, dtype=np.float64).reshape(-1)
        if pts.ndim != 2 or pts.shape[1] != nom.shape[0] or pts.shape[0] != vals.shape[0]:
            raise DataError(
                f"points must have shape (n, {nom.shape[0]}) and values shape (n,), got "
                f"{pts.shape} and {vals.shape}"
            )
        off = ~np.isclose(pts, nom[None, :], rtol=0.0, atol=self.atol)
        n_off = off.sum(axis=1)
        at_nominal = np.flatnonzero(n_off == 0)
        if at_nominal.size == 0:
            raise DataError(f"the on-axis model needs the nominal point {nom.tolist()}")
        f0 = float(vals[at_nominal].mean())
        if f0 == 0.0:
            raise FitError("the response is 0 at the nominal point; cannot factorise it")
        splines = []
        for a in range(nom.shape[0]):
            sel = np.flatnonzero((n_off == 1) & off[:, a])
            if sel.size == 0:
                raise DataError(f"no on-axis point for nuisance {a}; add one")
            x = np.concatenate([[nom[a]], pts[sel, a]])
            y = np.concatenate([[f0], vals[sel]]) / f0
            order = np.argsort(x)
            x, y = x[order], y[order]
            ux, inv = np.unique(x, return_inverse=True)
            uy = np.bincount(inv, weights=y) / np.bincount(inv)
            splines.append((ux, uy))
        self._f0 = f0
        self._splines = splines
        return self

    @staticmethod
    def _interp(x: FloatArray, y: FloatArray, at: FloatArray) -> FloatArray:
        if x.shape[0] >= 4:
            return np.asarray(CubicSpline(x, y, bc_type="not-a-knot")(at), dtype=np.float64)
        coef = np.polyfit(x, y, x.shape[0] - 1)
        return np.asarray(np.polyval(coef, at), dtype=np.float64)

    def predict(self, x: npt.ArrayLike) -> FloatArray:
        """Predicted response at points of shape (m, d)."""
        if not self._splines:
            raise FitError("the on-axis model is not fitted yet; call fit(points, values)")
        arr = np.asarray(x, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != len(self._splines):
            raise DataError(f"x must have shape (m, {len(self._splines)}), got {arr.shape}")
        out = np.full(arr.shape[0], self._f0)
        for a, (xs, ys) in enumerate(self._splines):
            out *= self._interp(xs, ys, arr[:, a])
        return out
