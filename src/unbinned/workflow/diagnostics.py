"""The ``validate`` step: classifier calibration and reweighting closure on held-out simulation.

For the calibration, :func:`unbinned.ml.reliability` of the classifier on the
held-out nominal simulation.  For the closure, per process with a learned response
and per shape nuisance a, the held-out nominal events reweighted by
R_p(x|ν) = Y_p(ν) exp(Δ_p(x)·φ(ν)) at ν = +2σ on axis a are histogrammed next to
the same events simulated at that ν (and the nominal ones), in a few features;
the χ²/ndf of reweighted against varied is recorded (statistical errors of the
varied histogram only).

:func:`health`: the surrogates' self-checks (:func:`unbinned.analysis.surrogate_health`:
fraction closure, Fisher closure, paired response closure in the signal-like tail,
learned against exact where the data kind has an exact density) on the same
held-out sample, which the training never saw (the simulator's and the oracle's
test sample is another seed; ``parquet``/``root`` read their test file; the
``files`` kind, and ``parquet``/``root`` without a test file, hold a fifth of their
events out of the training, :func:`unbinned.workflow.data.heldout_source`).  The
``train`` step runs it (:func:`unbinned.analysis.train_analysis` records it with the
model, so that every measurement carries its warnings); ``validate`` reports it.

:func:`leave_one_out`: for the ``files`` kind's variation points, the responses
trained once per spare point without it and compared there
(:func:`unbinned.ml.leave_one_out_closure`), or the line saying that the points
leave none to spare (±1σ alone).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from unbinned.workflow.config import AnalysisConfig

__all__ = [
    "CLOSURE_SHIFT",
    "DEFAULT_CLOSURE_FEATURES",
    "HEALTH_MAX_EVENTS",
    "diagnostics",
    "health",
    "health_options",
    "leave_one_out",
    "surrogate_of",
]

DEFAULT_CLOSURE_FEATURES = ("DER_mass_vis", "PRI_had_pt", "PRI_met")
"""Features of the H→ττ closure plots (never missing, shifted by tes, jes and soft MET)."""

CLOSURE_SHIFT = 2.0
"""The closure point: +2σ (standardised) on one nuisance axis at a time."""

_MAX_EVENTS = 40_000
HEALTH_MAX_EVENTS = 100_000
"""Generated events per process in the health check's tail response closure (keeps
``make demo``'s validate step within seconds)."""
_BINS = 20


def surrogate_of(model: Any) -> Any:
    """The :class:`~unbinned.ml.SurrogateModel` inside an analysis model (its first region)."""
    for name in ("surrogate", "surrogate_model"):
        s = getattr(model, name, None)
        if s is not None:
            return s
    many = getattr(model, "surrogates", None)
    if isinstance(many, dict) and many:
        return next(iter(many.values()))
    if isinstance(many, list | tuple) and many:
        return many[0]
    raise TypeError(f"cannot find the surrogate of {type(model).__name__}")


def _subset(source: Any, process: str, rng: np.random.Generator) -> Any:
    ids = np.asarray(source.generated_ids(process))
    if len(ids) <= _MAX_EVENTS:
        return None
    return np.sort(rng.choice(ids, size=_MAX_EVENTS, replace=False))


def _hist(values: Any, weights: Any, edges: Any) -> tuple[list[float], list[float]]:
    h, _ = np.histogram(values, bins=edges, weights=weights)
    v, _ = np.histogram(values, bins=edges, weights=np.asarray(weights) ** 2)
    return h.tolist(), np.sqrt(v).tolist()


def _closure_nu(source: Any, nuisances: Sequence[Any], a: int, cfg: AnalysisConfig) -> Any:
    """The closure point on axis ``a`` (None: none there), standardised.

    +2σ (:data:`CLOSURE_SHIFT`, within the nuisance's range); for file variations
    their own farthest point on the axis; for a ``callable`` (the same events as the
    training, at any ν) a point between the design's steps (2.5σ for steps 1, 2, 3),
    so that the closure tests the interpolation, not a training point.
    """
    if hasattr(source, "closure_point"):  # file variations: only their own points
        return source.closure_point(a)
    shift = CLOSURE_SHIFT
    if cfg.data.kind == "files":
        steps = sorted(cfg.training.design.steps)
        shift = 0.5 * (steps[-2] + steps[-1]) if len(steps) > 1 else 0.5 * steps[0]
    nu = np.zeros(len(nuisances))
    lo, hi = nuisances[a].standardized_range
    nu[a] = min(shift, hi) if hi > 0 else max(-shift, lo)
    return nu


def leave_one_out(
    model: Any,
    cfg: AnalysisConfig,
    source: Any,
    *,
    say: Callable[[str], None] = lambda s: None,
) -> dict[str, Any] | None:
    """Leave-one-out closure among the provided variation points (``files`` kind).

    :func:`unbinned.ml.leave_one_out_closure`: per spare point, the responses trained
    without it and tested there in classifier-score bins.  Without points to spare
    (±1σ alone) the result holds just the line saying so.  A held-out point whose
    closure fails is a ``WARNING:`` line (``warnings`` of the result,
    :meth:`unbinned.ml.LeaveOneOutClosure.warnings`).  None for the other kinds (and
    a ``callable``, whose closure is at a point between the design's steps).
    """
    # deferred: unbinned.ml pulls in torch (~2 s); the CLI imports the workflow at start-up
    from unbinned.ml import FileVariationSource, RunOptions, leave_one_out_closure

    source = getattr(source, "source", source)  # a held-out part: the whole files (training's)
    if not isinstance(source, FileVariationSource):
        return None
    sur = surrogate_of(model)
    threads = cfg.training.threads
    run = RunOptions(device="cpu", progress=False, num_threads=threads)
    loo = leave_one_out_closure(sur, source, source.design, seed=cfg.seed, run=run)
    out = loo.to_dict()
    if loo.result is None:
        say(f"  {loo.note}")
        return out
    say(f"  leave-one-out closure: {len(loo.held_out)} point(s) held out in turn ...")
    for row in out["chi2_ndf"]:
        row["point"] = ", ".join(
            f"{n.name}={float(n.physical(v)):.4g}"
            for n, v in zip(sur.nuisances, row["nu"], strict=True)
        )
        say(f"    {row['point']} held out: chi2/ndf {row['chi2_ndf']:.2f} (classifier-score bins)")
    if loo.note:
        say(f"  {loo.note}")
    for w in out["warnings"]:
        say(f"  WARNING: {w}")
    return out


def diagnostics(
    model: Any,
    cfg: AnalysisConfig,
    source: Any,
    *,
    features: Sequence[str] | None = None,
    say: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """Calibration and closure numbers and histograms (JSON-able; see the module docstring).

    ``source`` is the held-out source (:func:`unbinned.workflow.data.test_source`).
    """
    # deferred: unbinned.ml pulls in torch (~2 s); the CLI imports the workflow at start-up
    from unbinned.ml import monomials, reliability

    sur = surrogate_of(model)
    rng = np.random.default_rng([cfg.seed, 77])
    say("  calibration on held-out nominal simulation ...")
    nominal_all = source.nominal()
    rel = reliability(sur.classifier, nominal_all)
    out: dict[str, Any] = {
        "reliability": {
            "processes": list(rel.processes),
            "predicted": rel.predicted.tolist(),
            "observed": rel.observed.tolist(),
            "observed_error": rel.observed_error.tolist(),
            "bin_weight": rel.bin_weight.tolist(),
            "calibration_error": dict(rel.calibration_error),
        },
        "closure": [],
    }
    del nominal_all
    names = tuple(sur.feature_names)
    feats = [f for f in (features or DEFAULT_CLOSURE_FEATURES) if f in names]
    if not feats:
        feats = list(names[:3])
    nuis = list(sur.nuisances)
    for p in sur.processes:
        resp = sur.responses.get(p)
        if resp is None or not nuis:
            continue
        subset = _subset(source, p, rng)
        nominal = source.nominal(p, event_ids=subset)
        delta = resp.delta(nominal)
        for a, n in enumerate(nuis):
            nu = _closure_nu(source, nuis, a, cfg)
            if nu is None:
                continue
            say(f"  closure of {p} at {n.name} = {float(n.physical(nu[a])):.4g} ...")
            varied = source.varied(p, nu, event_ids=subset)
            r = np.exp(delta @ monomials(nu) + resp.log_yield(nu))
            for f in feats:
                xn = nominal.features[f].to_numpy()
                xv = varied.features[f].to_numpy()
                both = np.concatenate([xn, xv])
                lo_q, hi_q = np.quantile(both, [0.005, 0.995])
                edges = np.linspace(float(lo_q), float(hi_q), _BINS + 1)
                nom, _ = _hist(xn, nominal.weights, edges)
                rew, _ = _hist(xn, nominal.weights * r, edges)
                var, err = _hist(xv, varied.weights, edges)
                e = np.asarray(err)
                ok = e > 0
                chi2 = float(
                    (((np.asarray(rew) - np.asarray(var)) / np.where(ok, e, 1)) ** 2)[ok].sum()
                )
                out["closure"].append(
                    {
                        "process": p,
                        "nuisance": n.name,
                        "value": float(n.physical(nu[a])),
                        "nu": nu.tolist(),
                        "feature": f,
                        "edges": edges.tolist(),
                        "nominal": nom,
                        "reweighted": rew,
                        "varied": var,
                        "varied_error": err,
                        "chi2_ndf": chi2 / max(int(ok.sum()), 1),
                    }
                )
    return out


def health_options(source: Any) -> Any:
    """The health check's :class:`~unbinned.analysis.HealthOptions` for ``source``.

    The tail response closure on :data:`HEALTH_MAX_EVENTS` generated events per process;
    for file variations, at their own points (the events exist nowhere else), on
    events the training never saw.
    """
    from unbinned.analysis import HealthOptions  # deferred: pulls in torch (~2 s)

    points = getattr(source, "points", None)
    if points is not None:
        points = tuple(tuple(float(v) for v in row) for row in np.asarray(points))
    return HealthOptions(max_events=HEALTH_MAX_EVENTS, points=points)


def health(
    model: Any, cfg: AnalysisConfig, source: Any, *, say: Callable[[str], None] = lambda s: None
) -> dict[str, Any] | None:
    """The surrogates' health report (module docstring), as a dict.

    The one the ``train`` step recorded with the model (on the same held-out sample,
    :func:`unbinned.workflow.data.heldout_source`); for a model without one, run now
    on ``source``.  None when the check was not run (its reason is said).
    """
    recorded = getattr(model, "health", None)
    if isinstance(recorded, dict) and "skipped" in recorded:
        say(f"  surrogate health: not run ({recorded['skipped']})")
        return None
    if isinstance(recorded, dict):
        on = recorded.get("sample") or "held-out events"
        say(f"  surrogate health: checked after training on {on}")
        return recorded
    # deferred: unbinned.analysis pulls in torch (~2 s); the CLI imports the workflow at start-up
    from unbinned.analysis import surrogate_health

    say("  surrogate health on held-out events ...")
    opts = health_options(source)
    report = surrogate_health(model, source, options=opts, sample="held-out events")
    out: dict[str, Any] = report.to_dict()
    return out
