"""The binned baseline of an analysis: HistFactory templates of the classifier's signal score.

The classifier's signal fraction c_sig(x) is histogrammed in bins of equal expected
signal (:func:`~unbinned.binned.templates.build_templates`), from the reference
simulation at the nominal point and at ±1σ of every floating shape nuisance
(optionally at the points of a powered parametrisation, and a secant up template
reaching to a far point: :class:`~unbinned.analysis.options.TemplateOptions`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from unbinned.analysis.options import TemplateOptions
from unbinned.analysis.regions import RegionLayout
from unbinned.binned.histograms import ScoredEvents, make_edges
from unbinned.binned.templates import Templates, build_templates, template_points, with_secant_up
from unbinned.data.events import EventSet
from unbinned.exceptions import ConfigError, DataError
from unbinned.ml.sources import VariationSource
from unbinned.model.spec import ModelSpec, Nuisance

__all__ = ["baseline_templates", "check_parametrisation", "region_edges"]


def check_parametrisation(surrogate: Any, reference: VariationSource) -> None:
    """The reference must map ν to physical values as the surrogate does (varied samples).

    Raises
    ------
    ConfigError
        A shape nuisance is declared differently by the two.
    """
    theirs = {n.name: n for n in getattr(reference, "nuisances", ())}
    for n in surrogate.nuisances:
        other = theirs.get(n.name)
        if other is not None and other.to_dict() != n.to_dict():
            raise ConfigError(
                f"shape nuisance {n.name!r} is declared differently by the surrogate "
                f"({n.to_dict()}) and the reference sample ({other.to_dict()}); build the "
                "reference with nuisances=surrogate.nuisances"
            )


def _auto_reach(templates: Templates, floating: Sequence[Nuisance]) -> dict[str, float]:
    """Secant points of ``reach="auto"``: upper bounds of log-normal nuisances."""
    out = {}
    for n in floating:
        if n.name not in templates.shape_nuisances or n.prior != "lognormal" or not n.bounds:
            continue
        hi = float(n.bounds[1])
        if math.isfinite(hi) and hi > templates.variation_points[n.name][1] * (1 + 1e-9):
            out[n.name] = hi
    return out


def region_edges(
    spec: ModelSpec, nominal: ScoredEvents, bins: int
) -> dict[str, npt.NDArray[np.float64]] | None:
    """Bin edges of several regions or signals (None: one region, one signal, the default).

    The unbinned region: with one signal process ``bins`` bins of equal expected
    signal in c_sig; with K of them (score 2k + c_sig of category k,
    :meth:`AnalysisModel.scored <unbinned.analysis.AnalysisModel.scored>`) ``bins``
    such bins in each category, K·bins in all.  A counting region: one bin.
    """
    layout = RegionLayout.from_spec(spec)
    n_signals = sum(p.signal for p in spec.processes)
    if not layout.several and n_signals == 1:
        return None
    out: dict[str, npt.NDArray[np.float64]] = {
        name: np.array([0.0, 2.0 * n_signals - 1.0]) for name in layout.counting
    }
    ev = nominal.in_region(layout.unbinned)
    signal = np.zeros(ev.n_events, dtype=bool)
    for p in spec.processes:
        if p.signal:
            signal |= ev.process_mask(p.name, spec.process_names)
    parts = []
    for k in range(n_signals):
        m = (ev.score >= 2 * k) & (ev.score <= 2 * k + 1)
        if not (m & signal).any():
            raise DataError(
                f"region {layout.unbinned!r}: no nominal signal event falls in the category "
                f"of signal process {k} of the binned baseline; the classifier never prefers it"
            )
        e = make_edges(ev.score[m], ev.weights[m], method="quantile-signal", n_bins=bins,
                       signal=signal[m], range=(2.0 * k, 2.0 * k + 1.0))  # fmt: skip
        parts.append(e if k == n_signals - 1 else e[:-1])
    out[layout.unbinned] = np.concatenate(parts)
    return out


def baseline_templates(
    spec: ModelSpec,
    surrogate: Any,
    scored: Callable[[EventSet], ScoredEvents],
    source: VariationSource,
    options: TemplateOptions,
) -> Templates:
    """HistFactory templates of c_sig(x) at the nominal point and ±1σ of each shape nuisance.

    Parameters
    ----------
    spec, surrogate
        The analysis's declaration and trained surrogate.
    scored
        The events reduced to the score c_sig(x) and weights
        (:meth:`AnalysisModel.scored <unbinned.analysis.AnalysisModel.scored>`).
    source
        Nominal and varied simulation.
    options
        ``bins``; with ``powered``, a nuisance that enters the surrogate as a power is
        interpolated linearly in that power (templates at the points of
        :func:`~unbinned.binned.templates.template_points`), otherwise linearly in θ;
        ``reach``: secant up templates (:func:`~unbinned.binned.templates.with_secant_up`).
    """
    by_name = {n.name: n for n in surrogate.nuisances}
    floating = [n for n in spec.shape_nuisances if n.floating and n.name in by_name]
    nominal_point = {n.name: n.nominal for n in spec.shape_nuisances if n.name in by_name}

    def scored_at(point: Mapping[str, float]) -> ScoredEvents:
        nu = np.array([by_name[n.name].standardize(point.get(n.name, n.nominal))
                       for n in surrogate.nuisances])  # fmt: skip
        if np.allclose(nu, 0.0):
            ev = source.nominal()
        else:
            ev = EventSet.concat([source.varied(p, nu) for p in surrogate.processes])
        sc = scored(ev)
        return ScoredEvents(sc.score, sc.weights, ev.process_labels, sc.region)

    # a nuisance that enters the surrogate as a power ((θ - nominal)/scale)^power can be
    # interpolated linearly in that power (templates module: soft_met²); not the default:
    # its ±1σ templates are 1 GeV² apart, so far in the tail (soft_met ≈ 4 GeV, α ≈ 15)
    # the extrapolation amplifies their Monte-Carlo noise (BENCHMARKS.md, session 7)
    parametrisation = {n.name: (by_name[n.name].nominal, by_name[n.name].power)
                       for n in floating
                       if options.powered and by_name[n.name].power != 1}  # fmt: skip
    nominal = scored_at(nominal_point)
    variations = []
    for n in floating:
        if n.width is None:
            continue
        origin, power = parametrisation.get(n.name, (0.0, 1))
        for value in template_points(n.nominal, n.width, origin, power):
            variations.append(({n.name: value}, scored_at({**nominal_point, n.name: value})))
    templates = build_templates(
        spec,
        nominal,
        variations,
        binning="quantile-signal",
        n_bins=options.bins,
        edges=region_edges(spec, nominal, options.bins),
        parametrisation=parametrisation,
    )
    reach = options.reach
    if reach == "auto":
        reach = _auto_reach(templates, floating)
    for name, value in (reach or {}).items():
        if name not in templates.shape_nuisances:
            raise ConfigError(
                f"template_reach names {name!r}, not a floating shape nuisance with templates "
                f"({list(templates.shape_nuisances)})"
            )
        far = scored_at({**nominal_point, name: float(value)})
        templates = with_secant_up(templates, name, float(value), far)
    return templates
