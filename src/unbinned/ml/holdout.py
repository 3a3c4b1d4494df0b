r"""Leave-one-out closure among the provided variation points.

When the shape variations exist only at given points (files or weight columns,
:class:`~unbinned.ml.FileVariationSource`), a closure test at the points the
responses were trained on tests the fit *at* those points, not the interpolation
between them.  With points to spare -- more varied points K than the
:math:`M = d + d(d+1)/2` monomials of the quadratic response in d nuisances --
each point k can be held out in turn: the responses are trained again on the
other points (same networks, settings, preprocessing and seed), and the nominal
events reweighted by that response,
:math:`R^{(-k)}_p(x|\nu_k) = Y^{(-k)}_p(\nu_k)\exp(\Delta^{(-k)}_p(x)\cdot\varphi(\nu_k))`,
are compared with the varied sample at :math:`\nu_k` (:func:`~unbinned.ml.closure_test`:
χ²/ndf in quantile bins of the classifier score by default, and the yield).

A point whose removal leaves the quadratic undetermined (fewer than M points, or
points that do not fix every monomial -- e.g. the only point on one side of a
nuisance, which leaves its curvature free) cannot be held out; the result says
which and why.  ±1σ alone (K = 2 = M for one nuisance) leaves no point to hold
out: the quadratic through −1σ, 0 and +1σ is fixed exactly by the points, and
nothing in the samples can test it (that needs a third point, e.g. ±2σ).

A held-out entry (process, point, feature) fails when its χ²/ndf exceeds
:data:`LOO_MAX_CHI2_NDF` and its χ² p-value is below 0.01 / (number of entries), the
rule of the surrogates' health check; :meth:`LeaveOneOutClosure.warnings` says which
(the workflow's ``validate`` step prints them as ``WARNING:`` lines).

Each held-out point costs one response training per process.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from unbinned.ml.design import Design
from unbinned.ml.diagnostics import CLASSIFIER_SCORE, ClosureResult, closure_test
from unbinned.ml.response import train_response
from unbinned.ml.runtime import RunOptions
from unbinned.ml.sources import VariationSource
from unbinned.ml.surrogate import SurrogateConfig, response_events
from unbinned.ml.training import TrainConfig
from unbinned.ml.yields import monomials, n_monomials

__all__ = ["LOO_MAX_CHI2_NDF", "LeaveOneOutClosure", "leave_one_out_closure", "spare_points"]

FloatArray = npt.NDArray[np.float64]

LOO_MAX_CHI2_NDF = 2.0
"""χ²/ndf above which a held-out entry fails (with a p-value below 0.01 / entries)."""


def _determined(points: FloatArray, d: int) -> bool:
    """Whether the varied ``points`` (K, d) fix every monomial of the quadratic response."""
    m = n_monomials(d)
    return len(points) >= m and int(np.linalg.matrix_rank(monomials(points))) == m


def spare_points(design: Design) -> tuple[list[int], str]:
    """The varied points of ``design`` that can be held out, and a line saying why not others.

    Returns
    -------
    indices, note
        Indices (into ``design.points``) of the points whose removal leaves the
        quadratic response determined, and an explanation when some or all cannot
        be held out (empty when every point can).
    """
    d = design.n_nuisances
    m = n_monomials(d)
    varied = [i for i, p in enumerate(design.points) if np.any(p != 0.0)]
    k = len(varied)
    if k <= m:
        side = "±1σ alone leaves" if (d == 1 and k == 2) else f"{k} varied point(s) leave"
        return [], (
            f"no leave-one-out closure: {side} no point to hold out -- the quadratic response "
            f"in {d} nuisance(s) has {m} coefficients, fixed exactly by the {k} point(s), so "
            "the samples cannot test the interpolation; add a point (e.g. ±2σ) to test it"
        )
    ok = [i for i in varied if _determined(design.points[[j for j in varied if j != i]], d)]
    skipped = [i for i in varied if i not in ok]
    note = ""
    if skipped:
        shown = ", ".join(str(design.points[i].tolist()) for i in skipped)
        note = (
            f"the point(s) {shown} cannot be held out: without them the other points do not "
            "fix every coefficient of the quadratic response"
        )
    return ok, note


@dataclass(frozen=True, repr=False)
class LeaveOneOutClosure:
    """Closure at each provided point with that point held out of the training.

    Attributes
    ----------
    nuisance_names
        The shape nuisances.
    held_out
        The held-out points (standardised), shape (K', d); empty without points to spare.
    result
        The closure entries at the held-out points (None when there were none).
    note
        Why some or all points could not be held out ("" when all were).
    """

    nuisance_names: tuple[str, ...]
    held_out: FloatArray
    result: ClosureResult | None
    note: str = ""

    @property
    def chi2_ndf(self) -> dict[tuple[float, ...], float]:
        """Σχ²/Σndf per held-out point (over processes and features)."""
        out: dict[tuple[float, ...], list[float]] = {}
        for e in self.result.entries if self.result is not None else ():
            s = out.setdefault(e.nu, [0.0, 0.0])
            s[0] += e.chi2
            s[1] += e.ndf
        return {k: v[0] / v[1] if v[1] else float("nan") for k, v in out.items()}

    def warnings(self, max_chi2_ndf: float = LOO_MAX_CHI2_NDF) -> tuple[str, ...]:
        """One line when held-out entries fail (module docstring); empty when none does.

        Parameters
        ----------
        max_chi2_ndf
            The χ²/ndf above which an entry (process, held-out point, feature) fails,
            given also a χ² p-value below 0.01 / (number of entries).
        """
        entries = [e for e in (self.result.entries if self.result is not None else ()) if e.ndf]
        limit_p = 0.01 / max(len(entries), 1)
        failed = [
            e for e in entries
            if e.chi2_ndf > max_chi2_ndf and float(stats.chi2.sf(e.chi2, e.ndf)) < limit_p
        ]  # fmt: skip
        if not failed:
            return ()
        e = max(failed, key=lambda f: f.chi2_ndf)
        at = ", ".join(f"{n}={v:g}" for n, v in zip(self.nuisance_names, e.nu, strict=True))
        return (
            f"leave-one-out closure: {len(failed)} of {len(entries)} (process, held-out point) "
            f"entries fail; worst {e.process} with ν = ({at}) held out: χ²/ndf "
            f"{e.chi2:.1f}/{e.ndf} = {e.chi2_ndf:.2f} > {max_chi2_ndf:g}: the responses do not "
            "interpolate between the provided points; add points or train more",
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the points, the χ²/ndf per point and entry, the note, the warnings."""
        entries = [] if self.result is None else self.result.entries
        return {
            "nuisances": list(self.nuisance_names),
            "held_out": self.held_out.tolist(),
            "chi2_ndf": [{"nu": list(k), "chi2_ndf": v} for k, v in self.chi2_ndf.items()],
            "entries": [
                {
                    "nu": list(e.nu),
                    "process": e.process,
                    "feature": e.feature,
                    "chi2": e.chi2,
                    "ndf": e.ndf,
                }
                for e in entries
            ],
            "yields": [
                {
                    "nu": list(y.nu),
                    "process": y.process,
                    "predicted": y.predicted,
                    "true": y.true,
                    "pull": y.pull,
                }
                for y in ([] if self.result is None else self.result.yields)
            ],
            "note": self.note,
            "warnings": list(self.warnings()),
        }

    def __repr__(self) -> str:
        if self.result is None:
            return f"LeaveOneOutClosure({self.note})"
        pts = "; ".join(
            f"nu={[round(v, 6) for v in k]}: chi2/ndf {c:.2f}" for k, c in self.chi2_ndf.items()
        )
        note = f"; {self.note}" if self.note else ""
        return (
            f"LeaveOneOutClosure({len(self.held_out)} points of {list(self.nuisance_names)} "
            f"held out in turn: {pts}{note})"
        )


def _events_per_point(
    model: Any, saved: dict[str, Any], procs: Sequence[str], max_events: int | None
) -> dict[str, int | None]:
    """Generated events per point of each retrained response: ``max_events``, else the model's.

    The model's own rule (:func:`unbinned.ml.surrogate.response_events`: the largest
    process up to ``max_events_per_point_largest``, the others by yield share), so
    that a held-out point tests the responses as the training made them; a model
    saved before that rule has a flat ``max_events_per_point``.
    """
    if max_events is not None:
        return dict.fromkeys(procs, max_events)
    cfg = SurrogateConfig(
        max_events_per_point=saved.get("max_events_per_point"),
        max_events_per_point_largest=saved.get("max_events_per_point_largest"),
    )
    yields = getattr(model, "simulated_yields", None) or model.nominal_yields
    per = response_events(cfg, {p: yields[p] for p in model.processes})
    return {p: per[p] for p in procs}


def leave_one_out_closure(
    model: Any,
    source: VariationSource,
    design: Design,
    *,
    features: Sequence[str] = (CLASSIFIER_SCORE,),
    n_bins: int = 10,
    config: TrainConfig | None = None,
    max_events: int | None = None,
    seed: int | None = None,
    run: RunOptions | None = None,
) -> LeaveOneOutClosure:
    """Train the responses without each spare point and test them there (module docstring).

    Parameters
    ----------
    model
        The trained :class:`~unbinned.ml.SurrogateModel` (its classifier, feature
        preprocessing and training settings are reused).
    source
        The variation source the model was trained on.
    design
        The design it was trained on (e.g. :attr:`FileVariationSource.design`).
    features
        What to histogram (default: the classifier score).
    n_bins
        Quantile bins per feature.
    config, max_events, seed
        The response training (default: the model's own, from its metadata).
    run
        Device, threads and progress bars of the trainings.
    """
    names = tuple(model.nuisance_names)
    indices, note = spare_points(design)
    if not indices:
        return LeaveOneOutClosure(names, np.zeros((0, len(names))), None, note)
    meta = getattr(model, "metadata", {}) or {}
    saved = meta.get("config", {})
    cfg = config or (
        TrainConfig.from_dict(saved["response"]) if "response" in saved else TrainConfig()
    )
    base_seed = int(meta.get("seed", 0)) if seed is None else int(seed)
    procs = [p for p in model.processes if model.responses.get(p) is not None]
    events = _events_per_point(model, saved, procs, max_events)
    run = run or RunOptions(progress=False)
    results = []
    for i in indices:
        keep = [j for j in range(len(design)) if j != i]
        reduced = Design(design.points[keep], design.nuisance_names)
        responses = dict(model.responses)
        for p in procs:
            responses[p] = train_response(
                source, p, design=reduced, transform=model.responses[p].transform, config=cfg,
                max_events=events[p], seed=base_seed + 1 + list(model.processes).index(p), run=run,
                name=f"response_{p}_without_{i}",
            )  # fmt: skip
        held = dataclasses.replace(model, responses=responses, calibration=None)
        results.append(
            closure_test(
                held,
                source,
                design.points[[i]],
                features=features,
                processes=procs,
                n_bins=n_bins,
                seed=base_seed,
            )
        )
    merged = ClosureResult(
        names,
        tuple(e for r in results for e in r.entries),
        tuple(y for r in results for y in r.yields),
        results[0].pairing,
        results[0].features,
    )
    return LeaveOneOutClosure(names, design.points[indices], merged, note)
