"""Aware-training inputs from the analytic oracle models (:mod:`unbinned.sim.oracle`).

:func:`oracle_spec` declares the oracle's free nuisances as a
:class:`~unbinned.model.ModelSpec` (shape nuisances ``acts_on: shape``; a
normalisation g_p = ν/ν₀ as a ``normfactor`` modifier, g_p = κ^ν as a
``lognormal`` one), and :func:`oracle_samples` draws the weighted events with
their exact shape derivatives, either by reweighting (∂ ln R_p(x|ν)/∂α from
:meth:`OracleModel.log_ratio`, yield changes included) or by moving the same
events to ν₀ ± step σ (:meth:`OracleModel.vary`, INFERNO's augmentation).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import torch

from unbinned.aware.samples import AwareSamples, ShapeVariation, WeightedEvents
from unbinned.exceptions import ConfigError
from unbinned.model.spec import ModelSpec
from unbinned.sim.oracle import OracleModel, OracleSample

__all__ = ["oracle_samples", "oracle_spec"]


def _rate_kind(model: OracleModel, name: str) -> tuple[str, int, float]:
    """('normfactor' | 'lognormal', process index, κ) of a normalisation nuisance."""
    nuis = model.nuisance(name)
    base = model.rate_factors()
    up = model.rate_factors(nu={name: nuis.nominal + nuis.width})
    moved = [i for i, p in enumerate(model.processes) if not math.isclose(up[p], base[p])]
    if len(moved) != 1:
        raise ConfigError(
            f"normalisation nuisance {name!r} changes {len(moved)} processes; oracle_spec "
            "supports one process per normalisation"
        )
    i = moved[0]
    p = model.processes[i]
    ratio = up[p] / base[p]
    if nuis.nominal != 0 and math.isclose(ratio, (nuis.nominal + nuis.width) / nuis.nominal):
        return "normfactor", i, 1.0
    kappa = ratio ** (1.0 / nuis.width)
    down = model.rate_factors(nu={name: nuis.nominal - nuis.width})[p] / base[p]
    if math.isclose(down, kappa ** (-nuis.width), rel_tol=1e-9):
        return "lognormal", i, kappa
    raise ConfigError(f"normalisation nuisance {name!r} is neither ν/ν₀ nor κ^ν")


def oracle_spec(model: OracleModel) -> ModelSpec:
    """A :class:`~unbinned.model.ModelSpec` of the oracle's POI and free nuisances.

    Constrained nuisances get a Gaussian prior of the constraint's width,
    unconstrained ones prior ``free`` (their ``width`` is then only the unit of
    the template derivative).  A ``normfactor`` parameter has its natural nominal
    value (e.g. INFERNO's b = 1000), so the templates of its process are
    divided by it (:func:`oracle_samples` does so).
    """
    nuisances: list[dict[str, Any]] = []
    modifiers: dict[int, list[dict[str, Any]]] = {i: [] for i in range(len(model.processes))}
    modifiers[0].append({"parameter": model.poi_name})
    for name in model.free_nuisances:
        n = model.nuisance(name)
        con = model.constraints.get(name)
        prior = "gaussian" if con is not None else "free"
        width = con.width if con is not None else n.width
        nominal = con.centre if con is not None else n.nominal
        if not math.isclose(nominal, n.nominal):
            raise ConfigError(f"constraint of {name!r} is not centred on its nominal value")
        entry = {"name": name, "nominal": n.nominal, "prior": prior, "width": width}
        if n.kind == "shape":
            entry["acts_on"] = "shape"
        else:
            kind, i, kappa = _rate_kind(model, name)
            if kind == "normfactor":
                modifiers[i].append({"parameter": name})
            else:
                modifiers[i].append({"parameter": name, "kind": "lognormal", "kappa": kappa})
        nuisances.append(entry)
    return ModelSpec.from_dict(
        {
            "pois": [{"name": model.poi_name, "init": 1.0}],
            "nuisances": nuisances,
            "processes": [
                {"name": p, "signal": i == 0, "modifiers": modifiers[i]}
                for i, p in enumerate(model.processes)
            ],
        }
    )


def _template_scale(model: OracleModel, spec: ModelSpec) -> np.ndarray:
    """1 / (product of the nominal normfactor values) per process."""
    start = spec.init_values()
    scale = np.ones(len(model.processes))
    for i, proc in enumerate(spec.processes):
        for mod in proc.modifiers:
            if mod.kind == "normfactor":
                scale[i] /= start[mod.parameter]
    return scale


def oracle_samples(
    model: OracleModel,
    n_per_process: int,
    *,
    seed: int = 0,
    derivative: Literal["reweight", "vary"] = "reweight",
    step: float = 1.0,
    asimov: bool = False,
    dtype: torch.dtype = torch.float32,
) -> AwareSamples:
    """Weighted events of every process with the derivatives of the free shape nuisances.

    Parameters
    ----------
    model
        The oracle (its free nuisances define the shape variations).
    n_per_process
        Events per process (rounded up to a power of two with ``asimov``).
    seed
        Seed of the sample.
    derivative
        ``"reweight"``: exact ∂ ln R_p/∂α per event (central difference of
        :meth:`OracleModel.log_ratio` at ±10⁻⁴ σ).  ``"vary"``: the same events
        moved to ν₀ ± step σ (two-sided).
    step
        The ± step in σ for ``"vary"``.
    asimov
        Quasi-Monte-Carlo sample (:meth:`OracleModel.asimov`), best for evaluation.
    dtype
        dtype of the network inputs.

    Returns
    -------
    AwareSamples
        Weights per process sum to n_p / (nominal normfactor values), matching
        :func:`oracle_spec`.
    """
    spec = oracle_spec(model)
    scale = _template_scale(model, spec)
    sample = _draw_sample(model, n_per_process, seed=seed, asimov=asimov)
    weights = sample.weights * scale[sample.process]
    nominal = WeightedEvents.from_numpy(sample.x, weights, sample.process, dtype=dtype)
    variations: dict[str, ShapeVariation] = {}
    for name in (n.name for n in spec.shape_nuisances):
        width = float(spec.nuisance(name).width or 1.0)
        if derivative == "reweight":
            variations[name] = _reweight_variation(model, sample, name, width)
        elif derivative == "vary":
            variations[name] = _vary_variation(
                model, sample, weights, name, width, step=step, dtype=dtype
            )
        else:
            raise ConfigError(f"derivative {derivative!r}: expected 'reweight' or 'vary'")
    return AwareSamples(nominal, variations)


def _draw_sample(
    model: OracleModel, n_per_process: int, *, seed: int, asimov: bool
) -> OracleSample:
    """The nominal events: quasi-Monte-Carlo, or ``n_per_process`` drawn per process.

    The drawn events of process p carry weight ν_p / n_p (ν_p its expected yield).
    """
    if asimov:
        return model.asimov(n_per_process=n_per_process, seed=seed)
    parts = [
        model.sample_process(p, n_per_process, seed=seed * 7919 + i)
        for i, p in enumerate(model.processes)
    ]
    yields = model.expected_yields()
    return OracleSample(
        x=np.concatenate([s.x for s in parts]),
        process=np.concatenate([s.process for s in parts]),
        weights=np.concatenate(
            [
                np.full(len(s), yields[p] / max(len(s), 1))
                for s, p in zip(parts, model.processes, strict=True)
            ]
        ),
        feature_names=model.feature_names,
        process_names=model.processes,
        latent=np.concatenate([s.latent for s in parts if s.latent is not None]),
    )


def _reweight_variation(
    model: OracleModel, sample: OracleSample, name: str, width: float
) -> ShapeVariation:
    """∂ ln R_p/∂α per event: central difference of the log ratio at ±10⁻⁴ σ."""
    nom = model.nuisance(name).nominal
    eps = 1e-4 * width
    d = np.zeros(len(sample))
    for i, p in enumerate(model.processes):
        sel = sample.process == i
        if np.any(sel):
            up = model.log_ratio(sample.x[sel], p, {name: nom + eps})
            dn = model.log_ratio(sample.x[sel], p, {name: nom - eps})
            d[sel] = (up - dn) / (2.0 * eps) * width
    return ShapeVariation(log_weight_derivative=torch.as_tensor(d))


def _vary_variation(
    model: OracleModel,
    sample: OracleSample,
    weights: np.ndarray,
    name: str,
    width: float,
    *,
    step: float,
    dtype: torch.dtype,
) -> ShapeVariation:
    """The same events moved to ν₀ ± step σ (σ = ``width``), weights times the yield ratio."""
    nom = model.nuisance(name).nominal
    moved = []
    for sign in (1.0, -1.0):
        nu = {name: nom + sign * step * width}
        vs = model.vary(sample, nu)
        ratio = np.array([model.yield_ratio(p, nu) for p in model.processes])
        moved.append(
            WeightedEvents.from_numpy(vs.x, weights * ratio[vs.process], vs.process, dtype=dtype)
        )
    return ShapeVariation(up=moved[0], down=moved[1], step=step)
