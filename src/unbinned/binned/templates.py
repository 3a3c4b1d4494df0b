r"""Per-bin templates of every process at nominal and at the ±1σ variation points.

HistFactory-style templates (Cranmer et al., CERN-OPEN-2012-016; the pyhf
implementation, Heinrich et al., JOSS 6 (2021) 2823): for every region, process
p and shape nuisance k, the nominal histogram h⁰_p and the histograms h⁺_{pk},
h⁻_{pk} of the simulation at θ_k = θ⁰_k ± σ_k (all other nuisances nominal),
from the same variation points the unbinned surrogates are trained on.  With the
standardised parameter α_k = (θ_k - θ⁰_k)/σ_k the template at any α is

.. math::

    h_p(α) = h⁰_p + \sum_k I(α_k;\, Δ⁺_{pk}, Δ⁻_{pk}),\qquad
    Δ⁺ = h⁺ - h⁰,\quad Δ⁻ = h⁰ - h⁻,

with the interpolation I of pyhf's ``histosys`` modifier:

* ``"code0"`` (piecewise linear; HistFactory's InterpCode 0):
  I = α Δ⁺ for α > 0, α Δ⁻ otherwise.  Kinked at α = 0 when Δ⁺ ≠ Δ⁻.
* ``"code4p"`` (polynomial inside, linear outside; smooth, C², the better
  choice for fits with exact Hessians): for |α| ≤ 1,
  I = α S + α² A (15 - 10 α² + 3 α⁴), S = (Δ⁺ + Δ⁻)/2, A = (Δ⁺ - Δ⁻)/16;
  α Δ⁺ for α > 1 and α Δ⁻ for α < -1.

Both are written as I = a(α) Δ⁺ + b(α) Δ⁻ with scalar coefficients a, b per
nuisance, so that the interpolation of every bin of every process and region is
two matrix-vector products (:func:`interpolation_coefficients`).

**Powered parametrisations.**  Outside ±1σ both codes extrapolate linearly in α.  A
nuisance whose effect is not linear in θ is then mis-modelled far from nominal: the
soft-MET smearing of the H→ττ challenge adds soft_met² to the variance of the missing
momentum, so the bin contents move with soft_met², not soft_met, and templates at
1 ∓ 1 GeV extrapolated linearly in soft_met predict half the change at 5 GeV, where
its prior still reaches.  For such a nuisance (``parametrisation={name: (origin,
power)}`` of :func:`build_templates`, e.g. the surrogate's
:class:`~unbinned.ml.ShapeNuisance` nominal and power) the templates are taken at
θ⁰ - σ and at the point symmetric to it in g(θ) = (θ - origin)^power
(:func:`template_points`), and α is linear in g:

.. math::

    α = \frac{g(θ) - g_0}{D},\qquad g_0 = \frac{g(θ^+) + g(θ^-)}{2} = g(θ^0),\quad
    D = \frac{g(θ^+) - g(θ^-)}{2},

which for power 1 is the usual (θ - θ⁰)/σ.  The templates then extrapolate linearly
in soft_met² (to first order in the added variance, the exact dependence of a
smeared density).

**Secant up templates.**  Far beyond +1σ the linear extrapolation multiplies the
Monte-Carlo noise of Δ⁺ by α.  For a nuisance whose prior reaches far on one side
(soft_met up to 5 GeV from a nominal 1 GeV) the up template can instead be the secant
to a simulation at a far point θ_far (:func:`with_secant_up`):
h⁺ ← h⁰ + (D/D_far)(h_far - h⁰) with D = g(θ⁺) - g(θ⁰) and D_far = g(θ_far) - g(θ⁰),
the same interpolation code and the same α, so the model is still a HistFactory
``histosys`` and exports to pyhf unchanged; at θ_far the template equals the
simulation there.  On the H→ττ simulator at full luminosity this, not the powered
parametrisation, is what removed the binned fit's dependence on the true soft_met:
soft_met² templates 1 GeV² apart extrapolated their Monte-Carlo noise to α ≈ 15 and
did worse than linear ones, while a secant to 5 GeV works with either (BENCHMARKS.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt
import torch

from unbinned.binned.histograms import ScoredEvents, fill_histogram, make_edges
from unbinned.exceptions import ConfigError, DataError
from unbinned.model.spec import ModelSpec

__all__ = [
    "INTERPOLATIONS",
    "RegionTemplates",
    "Templates",
    "build_templates",
    "interpolate",
    "interpolation_coefficients",
    "template_points",
    "with_secant_up",
]

INTERPOLATIONS: tuple[str, ...] = ("code0", "code4p")

VariationPoint = Mapping[str, float]


@dataclass(frozen=True, eq=False)
class RegionTemplates:
    """The templates of one region: (P, B) arrays in the process order of ``processes``.

    Attributes
    ----------
    name
        Region name.
    edges
        Bin edges (B + 1,).
    processes
        Process names (rows of every array).
    nominal, sumw2
        Nominal yields and sums of squared weights per process and bin.
    down, up
        Shape nuisance name → (P, B) yields at θ⁰ - σ and θ⁰ + σ.
    """

    name: str
    edges: npt.NDArray[np.float64]
    processes: tuple[str, ...]
    nominal: npt.NDArray[np.float64]
    sumw2: npt.NDArray[np.float64]
    down: Mapping[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    up: Mapping[str, npt.NDArray[np.float64]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        shape = (len(self.processes), len(self.edges) - 1)
        arrays = {"nominal": self.nominal, "sumw2": self.sumw2}
        arrays.update({f"down[{k}]": v for k, v in self.down.items()})
        arrays.update({f"up[{k}]": v for k, v in self.up.items()})
        for what, arr in arrays.items():
            if np.shape(arr) != shape:
                raise DataError(
                    f"region {self.name!r}: {what} has shape {np.shape(arr)}; expected {shape} "
                    "(processes × bins)"
                )
            if not np.all(np.isfinite(arr)):
                raise DataError(f"region {self.name!r}: {what} has NaN or infinite entries")
        if set(self.down) != set(self.up):
            raise DataError(
                f"region {self.name!r}: down templates for {sorted(self.down)} but up templates "
                f"for {sorted(self.up)}; every shape nuisance needs both"
            )
        total = np.sum(self.nominal, axis=0)
        if np.any(total <= 0):
            empty = np.flatnonzero(total <= 0).tolist()
            raise DataError(
                f"region {self.name!r}: bins {empty} have no positive nominal yield; merge "
                "them (make_edges merges unpopulated bins)"
            )

    @property
    def n_bins(self) -> int:
        """Number of bins."""
        return len(self.edges) - 1

    def __repr__(self) -> str:
        return (
            f"RegionTemplates({self.name!r}: {self.n_bins} bins, processes {list(self.processes)}, "
            f"shape nuisances {list(self.up)}, nominal yield {self.nominal.sum():.6g})"
        )


@dataclass(frozen=True, eq=False)
class Templates:
    """Templates of every region, plus the natural-unit values of the variation points.

    ``variation_points[k] = (θ⁻_k, θ⁺_k)``: where the down and up templates of shape
    nuisance k were taken (θ⁰_k ∓ σ_k, or :func:`template_points` for a nuisance in
    ``parametrisation``).  ``parametrisation[k] = (origin, power)``: α_k is linear in
    (θ_k - origin)^power (module docstring); nuisances not listed have
    α_k = (θ_k - θ⁰_k)/σ_k.  ``secants[k] = θ_far``: the up template of k is the
    secant to the simulation at θ_far (:func:`with_secant_up`).
    """

    regions: tuple[RegionTemplates, ...]
    shape_nuisances: tuple[str, ...] = ()
    variation_points: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    parametrisation: Mapping[str, tuple[float, int]] = field(default_factory=dict)
    secants: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.regions:
            raise ConfigError("templates need at least one region")
        names = [r.name for r in self.regions]
        if len(set(names)) != len(names):
            raise ConfigError(f"region names {names} are not unique")
        procs = self.regions[0].processes
        for r in self.regions:
            if r.processes != procs:
                raise ConfigError(
                    f"region {r.name!r} has processes {list(r.processes)}; every region must list "
                    f"the same processes in the same order ({list(procs)})"
                )
            missing = [k for k in self.shape_nuisances if k not in r.up]
            if missing:
                raise ConfigError(f"region {r.name!r} lacks templates of {missing}")
        for k, (_, power) in self.parametrisation.items():
            if k not in self.variation_points:
                raise ConfigError(
                    f"parametrisation of {k!r} given without its variation points; the "
                    "templates' α is defined by where they were taken"
                )
            if int(power) != power or power < 1:
                raise ConfigError(f"power {power!r} of {k!r}: expected an integer >= 1")
        for k in self.secants:
            if k not in self.variation_points:
                raise ConfigError(f"secant up template of {k!r} given without its variation points")

    @property
    def processes(self) -> tuple[str, ...]:
        """Process names (rows of every template)."""
        return self.regions[0].processes

    @property
    def region_names(self) -> tuple[str, ...]:
        """Region names in order."""
        return tuple(r.name for r in self.regions)

    def region(self, name: str) -> RegionTemplates:
        """The templates of region ``name``."""
        for r in self.regions:
            if r.name == name:
                return r
        raise ConfigError(f"no region {name!r}; regions are {list(self.region_names)}")

    def histogram_observed(self, events: ScoredEvents) -> dict[str, npt.NDArray[np.float64]]:
        """Observed counts per region: ``events`` histogrammed with the template binning."""
        return {
            r.name: fill_histogram(
                events.in_region(r.name).score, events.in_region(r.name).weights, r.edges
            ).values
            for r in self.regions
        }

    def __repr__(self) -> str:
        bins = ", ".join(f"{r.name}: {r.n_bins}" for r in self.regions)
        return (
            f"Templates(bins per region {{{bins}}}, processes {list(self.processes)}, "
            f"shape nuisances {list(self.shape_nuisances)})"
        )


# ---------------------------------------------------------------------------- building
def build_templates(
    spec: ModelSpec,
    nominal: ScoredEvents,
    variations: Iterable[tuple[VariationPoint, ScoredEvents]] = (),
    *,
    binning: str = "quantile-signal",
    n_bins: int = 10,
    range: tuple[float, float] | None = None,
    edges: npt.ArrayLike | Mapping[str, npt.ArrayLike] | None = None,
    min_events: int = 1,
    regions: Sequence[str] | None = None,
    parametrisation: Mapping[str, tuple[float, int]] | None = None,
) -> Templates:
    """Histogram the nominal and varied simulation into per-bin HistFactory templates.

    Parameters
    ----------
    spec
        The model declaration: processes (which are signal), regions and shape
        nuisances with their nominal values and widths.
    nominal
        The nominal simulation: score, weight, process label and (for several
        regions) region label per event.
    variations
        ``(point, events)`` pairs: ``point`` maps shape-nuisance names to natural-unit
        values (names left out are at nominal), ``events`` is the simulation at
        that point.  For every floating shape nuisance k the points
        θ_k = θ⁰_k ± σ_k (the others nominal) must be present; other points (e.g.
        mixed or ±2σ points used to train the unbinned surrogates) are ignored,
        since HistFactory interpolation needs only the one-at-a-time ±1σ templates.
    binning
        ``"quantile-signal"``, ``"quantile-total"`` or ``"equal-width"``
        (:func:`~unbinned.binned.histograms.make_edges`); ignored where ``edges`` is given.
    n_bins, range, min_events
        Passed to :func:`~unbinned.binned.histograms.make_edges`.
    edges
        Explicit bin edges, for all regions or per region name.
    regions
        Regions to build (default: every region of ``spec``).
    parametrisation
        ``{name: (origin, power)}``: take that nuisance's templates at the points of
        :func:`template_points` and interpolate linearly in (θ - origin)^power
        (module docstring); the variations must include those points.

    Returns
    -------
    Templates

    Examples
    --------
    >>> import numpy as np
    >>> from unbinned.model import ModelSpec
    >>> spec = ModelSpec.from_dict({"pois": [{"name": "mu"}],
    ...     "processes": [{"name": "s", "signal": True, "modifiers": [{"parameter": "mu"}]},
    ...                   {"name": "b"}]})
    >>> rng = np.random.default_rng(0)
    >>> ev = ScoredEvents(rng.uniform(size=200), np.ones(200), rng.choice(["s", "b"], 200))
    >>> build_templates(spec, ev, n_bins=4).region("inclusive").n_bins
    4
    """
    processes = spec.process_names
    region_names = _region_names(spec, regions)
    _check_nominal(nominal, processes)
    powered = {k: (float(o), int(p)) for k, (o, p) in (parametrisation or {}).items() if p != 1}
    chosen = _chosen_points(spec, variations, powered)
    out = []
    for name in region_names:
        ev = _nominal_in(nominal, name)
        if edges is None:
            e = make_edges(ev.score, ev.weights, method=binning, n_bins=n_bins,
                           signal=_signal_mask(spec, ev), range=range,
                           min_events=min_events)  # fmt: skip
        else:
            e = _given_edges(edges, name)
        out.append(_region_templates(name, ev, chosen, processes, e))
    vp = {k: (v[0], v[2]) for k, v in chosen.items()}
    return Templates(
        tuple(out), tuple(chosen), vp, {k: v for k, v in powered.items() if k in chosen}
    )


def _region_names(spec: ModelSpec, regions: Sequence[str] | None) -> tuple[str, ...]:
    """The regions to build (default every declared one), checked against ``spec``."""
    region_names = tuple(regions) if regions is not None else tuple(r.name for r in spec.regions)
    declared = {r.name for r in spec.regions}
    unknown = [r for r in region_names if r not in declared]
    if unknown:
        raise ConfigError(f"region(s) {unknown} are not declared in the model ({sorted(declared)})")
    return region_names


def _check_nominal(nominal: ScoredEvents, processes: Sequence[str]) -> None:
    """The nominal events carry process labels, all of declared processes."""
    if nominal.process is None:
        raise DataError("the nominal events need process labels (ScoredEvents(..., process=...))")
    _check_labels(nominal, processes, "nominal")


def _nominal_in(nominal: ScoredEvents, name: str) -> ScoredEvents:
    """The nominal events of region ``name``, which must hold some."""
    ev = nominal.in_region(name)
    if ev.n_events == 0:
        raise DataError(f"region {name!r}: the nominal sample has no events in it")
    return ev


def _chosen_points(
    spec: ModelSpec,
    variations: Iterable[tuple[VariationPoint, ScoredEvents]],
    powered: Mapping[str, tuple[float, int]],
) -> dict[str, tuple[float, ScoredEvents, float, ScoredEvents]]:
    """The down and up variation point and events of every shape nuisance, labels checked."""
    points = [(dict(pt), ev) for pt, ev in variations]
    chosen = _choose_points(spec, points, powered)
    for k, (_, ev_dn, _, ev_up) in chosen.items():
        _check_labels(ev_dn, spec.process_names, f"variation {k} down")
        _check_labels(ev_up, spec.process_names, f"variation {k} up")
    return chosen


def _signal_mask(spec: ModelSpec, ev: ScoredEvents) -> npt.NDArray[np.bool_]:
    """Which events of ``ev`` belong to a signal process of ``spec``."""
    is_sig = np.zeros(ev.n_events, dtype=bool)
    for p in spec.processes:
        if p.signal:
            is_sig |= ev.process_mask(p.name, spec.process_names)
    return is_sig


def _given_edges(
    edges: npt.ArrayLike | Mapping[str, npt.ArrayLike], name: str
) -> npt.NDArray[np.float64]:
    """The explicit edges of region ``name``: the same for all regions, or per region."""
    if isinstance(edges, Mapping):
        if name not in edges:
            raise ConfigError(f"edges given for {sorted(edges)} but not for region {name!r}")
        return np.asarray(edges[name], dtype=np.float64)
    return np.asarray(edges, dtype=np.float64)


def _region_templates(
    name: str,
    ev: ScoredEvents,
    chosen: Mapping[str, tuple[float, ScoredEvents, float, ScoredEvents]],
    processes: tuple[str, ...],
    e: npt.NDArray[np.float64],
) -> RegionTemplates:
    """The nominal (with Σw²) and ±1σ templates of region ``name`` with edges ``e``."""
    nom, w2 = _per_process(ev, processes, e)
    down, up = {}, {}
    for k, (_, ev_dn, _, ev_up) in chosen.items():
        down[k] = _per_process(ev_dn.in_region(name), processes, e)[0]
        up[k] = _per_process(ev_up.in_region(name), processes, e)[0]
    return RegionTemplates(name, e, processes, nom, w2, down, up)


def template_points(
    nominal: float, width: float, origin: float = 0.0, power: int = 1
) -> tuple[float, float]:
    """Where a shape nuisance's down and up templates are taken: (θ⁻, θ⁺).

    θ⁻ = θ⁰ - σ, and θ⁺ the point symmetric to it in g(θ) = (θ - origin)^power,
    g(θ⁺) = 2 g(θ⁰) - g(θ⁻); for power 1, θ⁰ ± σ.  E.g. soft_met around 1 GeV with
    width 1 GeV and g = soft_met²: 0 and √2 GeV.

    Examples
    --------
    >>> template_points(1.0, 1.0, 0.0, 2)
    (0.0, 1.4142135623730951)
    """
    if not (math.isfinite(nominal) and math.isfinite(width) and width > 0):
        raise ConfigError(
            f"template points need a finite nominal and width > 0, got {nominal}, {width}"
        )
    if int(power) != power or power < 1:
        raise ConfigError(f"power {power!r}: expected an integer >= 1")
    down = nominal - width
    if power == 1:
        return down, nominal + width
    if down < origin:
        raise ConfigError(
            f"nominal - width = {down:g} is below the origin {origin:g} of the powered "
            "parametrisation, where (θ - origin)^power is not monotonic; give a smaller width"
        )
    g_up = 2.0 * (nominal - origin) ** power - (down - origin) ** power
    return down, origin + g_up ** (1.0 / power)


def with_secant_up(
    templates: Templates, name: str, value: float, events: ScoredEvents
) -> Templates:
    r"""The templates with the up template of ``name`` replaced by the secant to ``value``.

    h⁺ ← h⁰ + (D/D_far)(h_far - h⁰) per region, process and bin, with
    g(θ) = (θ - origin)^power of the nuisance's parametrisation (θ itself without one),
    g0 = (g(θ⁻) + g(θ⁺))/2 the nominal, D = g(θ⁺) - g0 and D_far = g(value) - g0
    (module docstring).  α and the interpolation are unchanged; beyond θ⁺ the template
    follows the secant, and equals the simulation ``events`` at ``value``.

    Parameters
    ----------
    templates
        Templates with ``name`` among their shape nuisances.
    name
        The nuisance.
    value
        θ_far, beyond the up point θ⁺ (natural units).
    events
        The simulation at θ_far (every other nuisance nominal), as for
        :func:`build_templates`.

    Returns
    -------
    Templates
        A copy; ``secants[name] = value`` records the construction.
    """
    if name not in templates.shape_nuisances:
        raise ConfigError(
            f"{name!r} is not a shape nuisance of the templates ({list(templates.shape_nuisances)})"
        )
    _check_labels(events, templates.processes, f"secant point {name}={value:g}")
    lo, hi = templates.variation_points[name]
    origin, power = templates.parametrisation.get(name, (0.0, 1))

    def g(t: float) -> float:
        return float((t - origin) ** power)

    g0 = 0.5 * (g(lo) + g(hi))
    span, far = g(hi) - g0, g(value) - g0
    if not (math.isfinite(value) and value > hi and far > span > 0):
        raise ConfigError(
            f"secant point {name} = {value:g} must lie beyond the up template at {hi:g}"
        )
    regions = []
    for r in templates.regions:
        h_far = _per_process(events.in_region(r.name), templates.processes, r.edges)[0]
        up = dict(r.up)
        up[name] = r.nominal + (span / far) * (h_far - r.nominal)
        regions.append(replace(r, up=up))
    return replace(
        templates, regions=tuple(regions), secants={**templates.secants, name: float(value)}
    )


def _check_labels(ev: ScoredEvents, processes: Sequence[str], what: str) -> None:
    if ev.process is None:
        raise DataError(f"the {what} events need process labels (ScoredEvents(..., process=...))")
    if np.issubdtype(ev.process.dtype, np.integer):
        lab = np.asarray(ev.process, dtype=np.int64)
        bad = np.unique(lab[(lab < 0) | (lab >= len(processes))])
    else:
        bad = np.setdiff1d(np.unique(ev.process), np.asarray(processes))
    if bad.size:
        raise DataError(
            f"the {what} events have process label(s) {bad.tolist()[:5]} that are not model "
            f"processes {list(processes)} (integer labels index that list)"
        )


def _per_process(
    ev: ScoredEvents, processes: Sequence[str], edges: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    vals = np.zeros((len(processes), len(edges) - 1))
    w2 = np.zeros_like(vals)
    for j, p in enumerate(processes):
        m = ev.process_mask(p, processes)
        h = fill_histogram(ev.score[m], ev.weights[m], edges)
        vals[j], w2[j] = h.values, h.sumw2
    return vals, w2


def _choose_points(
    spec: ModelSpec,
    points: list[tuple[dict[str, float], ScoredEvents]],
    powered: Mapping[str, tuple[float, int]],
) -> dict[str, tuple[float, ScoredEvents, float, ScoredEvents]]:
    """For every shape nuisance, the one-at-a-time points of :func:`template_points`."""
    shape = {n.name: n for n in spec.shape_nuisances}
    for pt, _ in points:
        unknown = [k for k in pt if k not in shape]
        if unknown:
            raise ConfigError(
                f"variation point {pt} names {unknown}, which are not shape nuisances of the "
                f"model (shape nuisances: {sorted(shape)}); declare them with acts_on: shape"
            )
    chosen: dict[str, tuple[float, ScoredEvents, float, ScoredEvents]] = {}
    for name, nuis in shape.items():
        moved = [
            (pt[name], ev)
            for pt, ev in points
            if name in pt
            and not _close(pt[name], nuis.nominal)
            and all(_close(v, shape[k].nominal) for k, v in pt.items() if k != name)
        ]
        if nuis.width is None:
            if nuis.prior == "fixed":
                continue
            raise ConfigError(
                f"shape nuisance {name!r} has prior {nuis.prior!r} without a width; HistFactory "
                "templates are taken at nominal ± width: give it a 'width'"
            )
        origin, power = powered.get(name, (0.0, 1))
        want = template_points(nuis.nominal, nuis.width, origin, power)
        found = [next((ev for v, ev in moved if _close(v, t)), None) for t in want]
        if found[0] is None or found[1] is None:
            if nuis.prior == "fixed" and not moved:
                continue
            how = "nominal ∓ width" if power == 1 else f"template_points(power={power})"
            raise ConfigError(
                f"shape nuisance {name!r}: templates need the simulation at {name} = "
                f"{want[0]:g} and {want[1]:g} ({how}) with the other nuisances nominal; "
                f"the one-at-a-time points given are at {sorted(v for v, _ in moved)}"
            )
        chosen[name] = (want[0], found[0], want[1], found[1])
    return chosen


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


# ---------------------------------------------------------------------------- interpolation
def interpolation_coefficients(
    alpha: torch.Tensor, code: str = "code4p"
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Coefficients a(α), b(α) with I(α; Δ⁺, Δ⁻) = a Δ⁺ + b Δ⁻, for pyhf ``histosys`` codes.

    Parameters
    ----------
    alpha
        (K,) standardised nuisance values.
    code
        ``"code0"`` or ``"code4p"``.

    Returns
    -------
    tuple of torch.Tensor
        a, b of shape (K,), differentiable in α.

    Notes
    -----
    code0: a = α [α > 0], b = α [α ≤ 0].  code4p: for |α| ≤ 1, with
    P(α) = α² (15 - 10 α² + 3 α⁴)/16, a = α/2 + P, b = α/2 - P (from
    I = α S + 16 P A); a = α [α > 1] and b = α [α < -1] outside.
    """
    zero = torch.zeros_like(alpha)
    if code == "code0":
        pos = alpha > 0
        return torch.where(pos, alpha, zero), torch.where(pos, zero, alpha)
    if code == "code4p":
        a2 = alpha * alpha
        poly = a2 * (15.0 + a2 * (-10.0 + 3.0 * a2)) / 16.0
        half = 0.5 * alpha
        up, dn = alpha > 1.0, alpha < -1.0
        a = torch.where(up, alpha, torch.where(dn, zero, half + poly))
        b = torch.where(dn, alpha, torch.where(up, zero, half - poly))
        return a, b
    raise ConfigError(f"unknown interpolation {code!r}; expected one of {list(INTERPOLATIONS)}")


def interpolate(
    alpha: torch.Tensor,
    nominal: torch.Tensor,
    down: torch.Tensor,
    up: torch.Tensor,
    code: str = "code4p",
) -> torch.Tensor:
    """Interpolated templates h(α) = h⁰ + Σ_k I(α_k; h⁺_k - h⁰, h⁰ - h⁻_k).

    Parameters
    ----------
    alpha
        (K,) standardised nuisance values.
    nominal
        (...,) nominal template(s).
    down, up
        (K, ...) templates at α_k = -1 and +1.
    code
        ``"code0"`` or ``"code4p"``.

    Returns
    -------
    torch.Tensor
        Shape of ``nominal``.
    """
    a, b = interpolation_coefficients(alpha, code)
    shape = (-1,) + (1,) * nominal.dim()
    return nominal + (a.reshape(shape) * (up - nominal) + b.reshape(shape) * (nominal - down)).sum(
        0
    )
