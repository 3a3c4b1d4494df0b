"""The pseudo-experiment task of the workflow's ``toys`` step (picklable for worker processes).

One toy: draw the true μ (fixed, or uniform in ``mu_range``) and the nuisances
(from their priors), simulate a pseudo-dataset afresh where the data kind can, or
else draw it from the held-out sample (``inference.toys.sampling``,
:func:`unbinned.workflow.data.toy_sampling`, :func:`unbinned.workflow.data.pseudo_data`),
measure it with the trained model and return the row :func:`unbinned.infer.run_toys`
stores.  The model, the test sample and the simulator's rates are loaded once per
process (cached by path).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from unbinned.workflow.config import AnalysisConfig
from unbinned.workflow.data import (
    CHALLENGE_KINDS,
    pseudo_data,
    simulator_rates,
    test_frame,
    test_source,
    toy_sampling,
)

__all__ = ["POI_PREFIX", "poi_columns", "poi_study_rows", "workflow_toy_task"]


@functools.lru_cache(maxsize=2)
def _config(config_json: str) -> AnalysisConfig:
    data = json.loads(config_json)
    base = data.pop("base_dir", ".")
    return AnalysisConfig.from_dict(data, base_dir=base)


@functools.lru_cache(maxsize=2)
def _test_data(config_json: str, data_dir: str) -> tuple[Any, Any]:
    cfg = _config(config_json)
    if cfg.data.kind in CHALLENGE_KINDS:
        return test_frame(cfg, Path(data_dir)), None
    return None, test_source(cfg, Path(data_dir))


@functools.lru_cache(maxsize=2)
def _rates(data_dir: str) -> dict[str, float]:
    return simulator_rates(Path(data_dir))[0]


def config_json(cfg: AnalysisConfig) -> str:
    """The config as the JSON string the task receives (with its base folder)."""
    data = cfg.model_dump(mode="json")
    data["base_dir"] = str(cfg.base_dir)
    return json.dumps(data, sort_keys=True)


def workflow_toy_task(
    seed: int, *, config: str, model_dir: str, data_dir: str, key: str = ""
) -> dict[str, Any]:
    """One pseudo-experiment of the ``toys`` step (see the module docstring).

    Parameters
    ----------
    seed
        The toy's seed (μ, nuisances and events derive from it).
    config
        The analysis config as JSON (:func:`config_json`).
    model_dir
        The trained model (the ``train`` step's ``model`` folder).
    data_dir
        The ``simulate`` step's folder.
    key
        The step's cache key (names the task, so a store is resumed only by the same study).

    Returns
    -------
    dict
        ``seed``, ``mu_true``, ``mu_hat``, ``p16``, ``p84``, ``valid``, the true
        nuisances (``true_<name>``), ``n_events`` and, with ``toys.binned``, the binned
        ``binned_mu_hat``, ``binned_p16``, ``binned_p84``, ``binned_valid``.
    """
    # deferred: unbinned.analysis pulls in torch (~2 s); the CLI imports the workflow at start-up
    from unbinned.analysis.toys import cached_analysis, measurement_row

    cfg = _config(config)
    toys = cfg.inference.toys
    rng = np.random.default_rng([seed, 2])
    mu = float(toys.mu) if toys.mu is not None else float(rng.uniform(*toys.mu_range))
    names = cfg.poi_names
    # several POIs: each drawn on its own (the first from the same stream as with one)
    pois = {names[0]: mu} | {
        p: float(toys.mu) if toys.mu is not None else float(rng.uniform(*toys.mu_range))
        for p in names[1:]
    }
    fresh = toy_sampling(cfg) == "simulated"
    frame, source = (None, None) if fresh else _test_data(config, data_dir)
    events, truth = pseudo_data(
        cfg,
        Path(data_dir),
        mu=mu,
        seed=seed,
        draw=toys.draw_nuisances,
        frame=frame,
        source=source,
        pois=pois,
        fresh=fresh,
        rates=_rates(data_dir) if fresh and cfg.data.kind == "simulator" else None,
    )
    m = cached_analysis(model_dir).measure(events, binned=toys.binned, poi=cfg.inference.poi)
    row = measurement_row(seed, truth[m.poi], m)
    row.update({f"true_{k}": float(v) for k, v in truth.items() if k != m.poi})
    if m.pois is not None:
        row.update(poi_columns(m, truth))
    return row


def poi_columns(m: Any, truth: Mapping[str, float]) -> dict[str, Any]:
    """Every POI's columns of a toy row, for :func:`poi_study_rows`.

    ``poi:NAME:mu_true``, ``poi:NAME:mu_hat``, ``…:p16``, ``…:p84``, ``…:valid`` (and
    ``…:binned_mu_hat`` etc. of the binned fit).
    """
    out: dict[str, Any] = {}
    for name, one in (m.pois or {}).items():
        b = m.binned.pois.get(name) if m.binned is not None and m.binned.pois else None
        out[f"{POI_PREFIX}{name}:mu_true"] = float(truth[name])
        for prefix, x in (("", one), ("binned_", b)):
            if x is None:
                continue
            out.update({f"{POI_PREFIX}{name}:{prefix}mu_hat": float(x.value),
                        f"{POI_PREFIX}{name}:{prefix}p16": float(x.lower),
                        f"{POI_PREFIX}{name}:{prefix}p84": float(x.upper),
                        f"{POI_PREFIX}{name}:{prefix}valid": bool(x.valid)})  # fmt: skip
    return out


POI_PREFIX = "poi:"
"""Prefix of the per-POI columns of a toy row (:func:`poi_columns`)."""


def poi_study_rows(rows: pd.DataFrame, name: str, *, binned: bool = False) -> pd.DataFrame | None:
    """The rows of a toy study as those of POI ``name`` alone (None: no such columns).

    Columns ``mu_true``, ``mu_hat``, ``p16``, ``p84``, ``valid`` of that POI (the binned
    fit's with ``binned``), the others (seed, error, ...) as they are: a
    :class:`~unbinned.infer.ToyStudy` of them gives the POI's coverage.
    """
    pre = f"{POI_PREFIX}{name}:"
    part = "binned_" if binned else ""
    wanted = {f"{pre}{part}{k}": k for k in ("mu_hat", "p16", "p84", "valid")}
    wanted[f"{pre}mu_true"] = "mu_true"
    if not set(wanted) <= set(rows.columns):
        return None
    base = rows.drop(columns=[c for c in rows.columns if c.startswith(POI_PREFIX)
                              or c in wanted.values()])  # fmt: skip
    out = pd.concat([base, rows[list(wanted)].rename(columns=wanted)], axis=1)
    out["valid"] = out["valid"].fillna(False).astype(bool)
    return out
