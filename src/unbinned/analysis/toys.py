"""Pseudo-experiments of the H→ττ analysis, as tasks for :func:`unbinned.infer.run_toys`.

One task = one pseudo-experiment of the challenge's protocol (DESIGN.md §2): the
true μ drawn from U(0.1, 3) and the true nuisances from the challenge priors
(seeded by the toy's seed), then measured by the trained analysis (unbinned and
binned, same events).  The events are either

* simulated afresh for every pseudo-experiment
  (:func:`unbinned.sim.htautau.simulate_pseudo_experiment`, given the expected raw
  event counts ``rates``): independent data, the right choice for a coverage study;
* or, as in the challenge, drawn from one large simulated test sample (the
  systematics applied, every event taken k ~ Poisson(w) times): every
  pseudo-experiment then shares that sample's fluctuation, a common bias of about
  √(N_data / N_sample) standard deviations.

The analysis and the test sample are read from files once per worker process, so
the task pickles as a small ``functools.partial`` and runs on local processes or
a Dask cluster alike.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch

from unbinned.analysis.measurement import Measurement
from unbinned.analysis.model import AnalysisModel
from unbinned.exceptions import ConfigError
from unbinned.sim.htautau import simulate_pseudo_experiment
from unbinned.sim.pseudo import pseudo_experiment

__all__ = ["MU_RANGE", "binned_counts", "cached_analysis", "htautau_toy_task", "measurement_row"]

MU_RANGE = (0.1, 3.0)
"""The challenge's range of true signal strengths, drawn uniformly."""


@functools.lru_cache(maxsize=2)
def cached_analysis(path: str, luminosity_scale: float = 1.0) -> AnalysisModel:
    """A saved analysis, loaded once per process (tasks of a study share it)."""
    model = AnalysisModel.load(path)
    return model if luminosity_scale == 1.0 else model.scaled(luminosity_scale)


def measurement_row(seed: int, mu_true: float, m: Measurement) -> dict[str, Any]:
    """The row :func:`unbinned.infer.run_toys` stores for a :class:`Measurement`.

    seed, mu_true, mu_hat, p16, p84, valid, n_events, and the binned baseline's
    ``binned_mu_hat``, ``binned_p16``, ``binned_p84``, ``binned_valid`` if measured,
    with the observed counts in the template bins as columns ``binned_n:REGION:BIN``
    (rows are flat), from which the binned fit can be redone
    (:func:`binned_counts`, :meth:`~unbinned.analysis.AnalysisModel.measure_counts`).
    """
    row: dict[str, Any] = {
        "seed": int(seed),
        "mu_true": float(mu_true),
        "mu_hat": float(m.value),
        "p16": float(m.lower),
        "p84": float(m.upper),
        "valid": bool(m.valid),
        "n_events": float(m.n_events),
    }
    if m.binned is not None:
        b = m.binned
        row.update(binned_mu_hat=float(b.value), binned_p16=float(b.lower),
                   binned_p84=float(b.upper), binned_valid=bool(b.valid))  # fmt: skip
        for region, counts in (b.counts or {}).items():
            row.update({f"{_COUNT_PREFIX}{region}:{i}": float(v) for i, v in enumerate(counts)})
    return row


_COUNT_PREFIX = "binned_n:"


def binned_counts(row: Mapping[str, Any]) -> dict[str, list[float]] | None:
    """The observed counts per region of a row of :func:`measurement_row` (None if absent).

    Columns ``binned_n:REGION:BIN``; a missing value (NaN, None) in any of them gives
    None, as for a row written without counts.
    """
    found: dict[str, dict[int, float]] = {}
    for key, value in row.items():
        if not (isinstance(key, str) and key.startswith(_COUNT_PREFIX)):
            continue
        region, _, index = key[len(_COUNT_PREFIX) :].rpartition(":")
        if value is None or not np.isfinite(value):
            return None
        found.setdefault(region, {})[int(index)] = float(value)
    if not found:
        return None
    return {r: [c[i] for i in range(len(c))] for r, c in found.items()}


@functools.lru_cache(maxsize=2)
def _pool(path: str, luminosity_scale: float) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    if "weights" not in frame.columns or "detailed_labels" not in frame.columns:
        raise ConfigError(f"{path}: the test sample needs 'weights' and 'detailed_labels' columns")
    if luminosity_scale != 1.0:
        frame["weights"] = frame["weights"] * luminosity_scale
    return frame


def htautau_toy_task(
    seed: int,
    *,
    analysis: str | os.PathLike[str],
    test_sample: str | os.PathLike[str] | None = None,
    rates: Mapping[str, float] | None = None,
    luminosity_scale: float = 1.0,
    mu: float | None = None,
    binned: bool = True,
    threads: int | None = 1,
) -> dict[str, Any]:
    """One pseudo-experiment of the challenge protocol, measured by a saved analysis.

    Parameters
    ----------
    seed
        The pseudo-experiment's seed: true μ, true nuisances, soft-MET smearing and
        the Poisson draws all derive from it.
    analysis
        Directory of a saved :class:`~unbinned.analysis.AnalysisModel`.
    test_sample
        Parquet file of raw simulated events (``weights`` = expected events at the
        nominal luminosity, ``detailed_labels``), independent of the training sample,
        to draw the events from; exclusive with ``rates``.
    rates
        Expected raw events per process at the nominal luminosity
        (:func:`unbinned.sim.htautau.raw_rates`): simulate the events afresh.
    luminosity_scale
        Multiplies the expected events (of the test sample or the rates) and those
        of the analysis (e.g. 0.25 for a quarter of the luminosity).
    mu
        A fixed true μ instead of drawing it from U(0.1, 3).
    binned
        Also measure with the binned baseline.
    threads
        Torch threads in this task (1 when several tasks share the cores).

    Returns
    -------
    dict
        seed, mu_true, mu_hat, p16, p84, valid, the binned ``binned_*`` counterparts,
        the true nuisances ``true_*``, fitted ``fit_*``, n_events, seconds.
    """
    if (test_sample is None) == (rates is None):
        raise ConfigError("give exactly one of test_sample= (a file to draw from) and rates=")
    if threads is not None:
        torch.set_num_threads(int(threads))
    t0 = time.perf_counter()
    model = cached_analysis(str(analysis), float(luminosity_scale))
    t1 = time.perf_counter()
    rng = np.random.default_rng([int(seed), 20241])
    mu_true = float(rng.uniform(*MU_RANGE)) if mu is None else float(mu)
    if rates is not None:
        scaled = {p: float(r) * float(luminosity_scale) for p, r in rates.items()}
        pe = simulate_pseudo_experiment(scaled, mu=mu_true, draw_nuisances=True, seed=int(seed))
    else:
        pool = _pool(str(test_sample), float(luminosity_scale))
        pe = pseudo_experiment(pool, mu=mu_true, draw_nuisances=True, seed=int(seed), collapse=True)
    t_data = time.perf_counter() - t1
    m = model.measure(pe.data, binned=binned, seed=int(seed))
    row = measurement_row(seed, mu_true, m)
    row["fit_seconds"] = m.seconds
    row["data_seconds"] = t_data
    for name in ("tes", "jes", "soft_met", "ttbar_scale", "diboson_scale", "bkg_scale"):
        row[f"true_{name}"] = float(getattr(pe.nuisances, name))
        if name in m.fit.values:
            row[f"fit_{name}"] = m.fit.values[name]
    row["seconds"] = time.perf_counter() - t0
    return row
