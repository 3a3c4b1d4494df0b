"""A synthetic binned problem for tests, examples and benchmarks (not physics)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from unbinned.binned.histograms import ScoredEvents
from unbinned.model.spec import ModelSpec

__all__ = ["DEFAULT_RATE", "DEFAULT_SHAPE", "DEFAULT_YIELDS", "toy_problem"]

DEFAULT_YIELDS: dict[str, float] = {
    "htautau": 60.0,
    "ztautau": 900.0,
    "ttbar": 250.0,
    "diboson": 60.0,
}
#: shape nuisance → processes whose score and weight it changes
DEFAULT_SHAPE: dict[str, tuple[str, ...]] = {
    "tes": ("htautau", "ztautau"),
    "jes": ("htautau", "ztautau", "ttbar"),
}
#: rate nuisances: name, prior, width and the processes they scale (linear factor θ)
DEFAULT_RATE: tuple[dict[str, Any], ...] = (
    {"name": "ttbar_scale", "prior": "lognormal", "width": 0.05, "processes": ("ttbar",)},
    {"name": "diboson_scale", "prior": "gaussian", "width": 0.1, "processes": ("diboson",)},
)
_BETA = {"htautau": (5.0, 2.0), "ztautau": (2.0, 5.0), "ttbar": (2.0, 3.0), "diboson": (3.0, 3.0)}


def toy_problem(
    *,
    regions: Sequence[str] = ("low", "high"),
    yields: Mapping[str, float] | None = None,
    shape: Mapping[str, Sequence[str]] | None = None,
    rate: Sequence[Mapping[str, Any]] | None = None,
    n_mc: int = 2000,
    seed: int = 0,
) -> tuple[ModelSpec, ScoredEvents, list[tuple[dict[str, float], ScoredEvents]]]:
    """A model declaration, nominal scored events and the events at variation points.

    Scores are Beta-distributed per process; a shape nuisance k at α = (θ - 1)/0.01
    shifts the logit of the score of its processes by ``0.25 α`` (sign alternating
    with the process) and scales their weights by ``1 + 0.03 α``; every ±1σ point
    and one mixed point (the first two shape nuisances at +1σ) are returned.
    """
    yields = dict(DEFAULT_YIELDS if yields is None else yields)
    shape = dict(DEFAULT_SHAPE if shape is None else shape)
    rate = tuple(DEFAULT_RATE if rate is None else rate)
    rng = np.random.default_rng(seed)
    procs = list(yields)
    spec = _toy_spec(regions, procs, shape, rate)
    nominal = _toy_nominal(rng, regions, procs, yields, n_mc)
    variations: list[tuple[dict[str, float], ScoredEvents]] = []
    for k in shape:
        for a in (-1.0, 1.0):
            variations.append(({k: 1.0 + 0.01 * a}, _varied(nominal, procs, shape, {k: a})))
    if len(shape) >= 2:
        k1, k2 = list(shape)[:2]
        mixed = _varied(nominal, procs, shape, {k1: 1.0, k2: 1.0})
        variations.append(({k1: 1.01, k2: 1.01}, mixed))
    return spec, nominal, variations


def _toy_spec(
    regions: Sequence[str],
    procs: Sequence[str],
    shape: Mapping[str, Sequence[str]],
    rate: Sequence[Mapping[str, Any]],
) -> ModelSpec:
    """The declaration: POI mu on the first process, the shape and rate nuisances."""
    return ModelSpec.from_dict(
        {
            "pois": [{"name": "mu", "init": 1.0, "bounds": [0.0, 10.0]}],
            "nuisances": [
                {"name": k, "nominal": 1.0, "prior": "gaussian", "width": 0.01,
                 "bounds": [0.9, 1.1], "acts_on": "shape"}
                for k in shape
            ] + [
                {"name": r["name"], "nominal": 1.0, "prior": r["prior"], "width": r["width"],
                 "bounds": [0.5, 1.5]}
                for r in rate
            ],
            "processes": [
                {"name": p, "signal": i == 0,
                 "modifiers": ([{"parameter": "mu"}] if i == 0 else [])
                 + [{"parameter": r["name"]} for r in rate if p in r["processes"]]}
                for i, p in enumerate(procs)
            ],
            "regions": [{"name": r} for r in regions],
        }
    )  # fmt: skip


def _toy_nominal(
    rng: np.random.Generator,
    regions: Sequence[str],
    procs: Sequence[str],
    yields: Mapping[str, float],
    n_mc: int,
) -> ScoredEvents:
    """``n_mc`` Beta-distributed scores per process and region, weighted to the yields."""
    score, w, lab, reg = [], [], [], []
    for ir, rname in enumerate(regions):
        for ip, p in enumerate(procs):
            a, b = _BETA.get(p, (2.0, 2.0))
            s = rng.beta(a + 0.5 * ir, b, n_mc)
            raw = 1.0 + 0.3 * rng.uniform(size=n_mc)
            frac = 0.6 if ir == 0 else 0.4
            frac = frac if len(regions) == 2 else 1.0 / len(regions)
            score.append(s)
            w.append(raw / raw.sum() * yields[p] * frac * (1 + 0.2 * ip * ir))
            lab.append(np.full(n_mc, p))
            reg.append(np.full(n_mc, rname))
    s0, w0 = np.concatenate(score), np.concatenate(w)
    lab_a, reg_a = np.concatenate(lab), np.concatenate(reg)
    return ScoredEvents(s0, w0, lab_a, reg_a)


def _varied(
    nominal: ScoredEvents,
    procs: Sequence[str],
    shape: Mapping[str, Sequence[str]],
    alphas: Mapping[str, float],
) -> ScoredEvents:
    """The nominal events with their logit score shifted and weights scaled at ``alphas``."""
    s0, w0 = nominal.score, nominal.weights
    lab_a, reg_a = nominal.process, nominal.region
    assert lab_a is not None
    logit = np.log(s0 / (1.0 - s0))
    weights = w0.copy()
    for ik, (k, affected) in enumerate(shape.items()):
        alpha = alphas.get(k, 0.0)
        for ip, p in enumerate(procs):
            if p not in affected:
                continue
            m = lab_a == p
            sign = 1.0 if (ip + ik) % 2 == 0 else -1.0
            logit[m] += sign * 0.25 * alpha
            weights[m] *= 1.0 + sign * 0.03 * alpha * (1.0 + 0.5 * ik)
    s = 1.0 / (1.0 + np.exp(-logit))
    return ScoredEvents(_f64(s), weights, lab_a, reg_a)


def _f64(a: npt.ArrayLike) -> npt.NDArray[np.float64]:
    return np.asarray(a, dtype=np.float64)
