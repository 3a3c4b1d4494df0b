r"""Pseudo-experiment (toy) studies at scale: resumable, reproducible, on any executor.

A study runs one *task* per seed.  ``task(seed)`` does a whole pseudo-experiment
(generate the data from the simulator or from a fitted model, fit, find the
interval) and returns one flat row: a mapping of names to JSON scalars that holds at
least ``seed``, ``mu_true``, ``mu_hat``, ``p16``, ``p84`` (the 68 % interval) and
``valid``.  Every random number must derive from the seed (e.g.
``numpy.random.default_rng(seed)``), so that a pseudo-experiment is the same
wherever and whenever it runs.

:func:`run_toys` spreads the seeds over an executor
(:mod:`unbinned.infer.executors`) and appends each row to a JSON-lines *store* as
soon as it arrives (written, flushed and fsync'd one line at a time).  Run again
with the same store, it skips the seeds already there: an interrupted study
resumes without losing or repeating a pseudo-experiment, and ends with exactly the
rows an uninterrupted run gives.  A task that raises is recorded as a failure row
(``valid`` false, the message in ``error``) and counted, never dropped.

:class:`ToyStudy` holds the rows (a :class:`pandas.DataFrame` in the order of the
seeds) and :meth:`ToyStudy.summary` gives coverage, bias, pulls and the challenge
score (:func:`unbinned.infer.score.challenge_score`).

The pieces live in their own modules: the row contract in
:mod:`unbinned.infer.toyrows`, the store in :mod:`unbinned.infer.toystore`, the
results in :mod:`unbinned.infer.toysummary`; this module runs the study and holds
two example tasks.

Store format
------------
UTF-8 text (:mod:`unbinned.infer.toystore`), one JSON object per line, as written by
Python's :mod:`json` (NaN and ±Infinity as the bare tokens ``NaN``, ``Infinity``, so
floats round-trip exactly).
The first line is a header ``{"unbinned_toys": 1, "task": "<description>"}``; a store
is only resumed by the task it was started with (the description is the task's
qualified name with the arguments of a :func:`functools.partial`).  A last line cut
short by a crash is dropped (the file is truncated after the last complete row) and
that seed runs again.  While a study runs the store is locked (``flock``, POSIX), so
two runs cannot interleave in one file.

Picklability
------------
With worker processes or Dask the task is pickled: it must be a module-level
function of an importable module, or a :func:`functools.partial` of one (lambdas,
closures and functions defined in ``__main__`` of a notebook or in a test file
work with the serial executor only).  :func:`gaussian_toy_task` and
:func:`counting_toy_task` are examples.

Examples
--------
>>> from functools import partial
>>> from unbinned.infer.toys import gaussian_toy_task, run_toys
>>> study = run_toys(partial(gaussian_toy_task, mu_true=1.0, sigma=0.2), range(200),
...                  store=None, progress=False)
>>> s = study.summary()
>>> s.n_valid, abs(s.coverage - 0.6827) < 3 * s.coverage_error
(200, True)
"""

from __future__ import annotations

import functools
import math
import numbers
import re
import sys
from collections.abc import Iterable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tqdm import tqdm

from unbinned.exceptions import ConfigError
from unbinned.infer.executors import Executor, ExecutorKind, make_executor
from unbinned.infer.intervals import profile_interval
from unbinned.infer.mle import fit
from unbinned.infer.toyrows import REQUIRED_COLUMNS, ToyTask, check_row, failure_row, rows_frame
from unbinned.infer.toystore import ToyStore, as_stored
from unbinned.infer.toysummary import ToyStudy, ToySummary
from unbinned.model.spec import ModelSpec

__all__ = [
    "REQUIRED_COLUMNS",
    "ToyStudy",
    "ToySummary",
    "ToyTask",
    "counting_toy_task",
    "gaussian_toy_task",
    "run_toys",
]


# ---------------------------------------------------------------------------- runner
def _run_one(task: ToyTask, seed: int) -> dict[str, Any]:
    """Run one pseudo-experiment where the executor puts it; a raising task gives a failure row.

    A row that breaks the contract (missing keys, nested values) raises instead: that
    is a bug of the task, which must stop the study rather than fill the store.
    """
    try:
        out = task(seed)
    except Exception as exc:  # the task failed: recorded, not dropped
        return failure_row(seed, exc)
    return check_row(out, seed)


def _describe(task: Any) -> str:
    """A stable description of a task (qualified name and partial arguments)."""
    if isinstance(task, functools.partial):
        args = [repr(a) for a in task.args]
        args += [f"{k}={v!r}" for k, v in sorted(task.keywords.items())]
        text = f"{_describe(task.func)}({', '.join(args)})"
    elif hasattr(task, "__qualname__") and hasattr(task, "__module__"):
        text = f"{task.__module__}.{task.__qualname__}"
    else:
        text = repr(task)
    return re.sub(r" at 0x[0-9a-fA-F]+", "", text)


def _check_seeds(seeds: Iterable[int]) -> list[int]:
    if isinstance(seeds, str | bytes) or not isinstance(seeds, Iterable):
        raise TypeError(f"seeds must be a sequence of integers, got {type(seeds).__name__}")
    out: list[int] = []
    seen: set[int] = set()
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise TypeError(f"seeds must be integers, got {s!r} ({type(s).__name__})")
        s = int(s)
        if s < 0:
            raise ConfigError(f"seeds must be non-negative (numpy seeds are), got {s}")
        if s in seen:
            raise ConfigError(
                f"seed {s} is given twice; a repeated seed repeats the same pseudo-experiment"
            )
        seen.add(s)
        out.append(s)
    return out


def run_toys(
    task: ToyTask,
    seeds: Iterable[int],
    *,
    store: str | PathLike[str] | None,
    executor: Executor | ExecutorKind | None = None,
    progress: bool = True,
) -> ToyStudy:
    """Run one pseudo-experiment per seed, resumably, and collect the rows.

    Parameters
    ----------
    task
        ``task(seed) -> row``: one pseudo-experiment end to end; the row is a flat
        mapping with at least :data:`REQUIRED_COLUMNS`.  Picklable for worker
        processes or Dask (a module-level function or a ``functools.partial``).
    seeds
        Distinct non-negative integers, one per pseudo-experiment.
    store
        JSON-lines file the rows are appended to as they arrive; the seeds already in
        it are skipped (resume).  ``None`` keeps the rows in memory only.
    executor
        Where the tasks run: an :class:`~unbinned.infer.executors.Executor` (left
        open), a kind ``"serial"``, ``"processes"`` or ``"dask"`` (made and closed
        here), or ``None`` for serial.
    progress
        Show a progress bar on stderr.

    Returns
    -------
    ToyStudy
        The rows of the requested seeds, in the order of ``seeds`` (rows of other
        seeds stay in the store but are not returned).

    Raises
    ------
    ConfigError
        The store belongs to another task or is in use; bad seeds.
    DataError
        The store is corrupt, or a task row lacks a required key.

    Notes
    -----
    Interrupting (Ctrl-C, a killed process, a crashed node) loses at most the rows
    not yet written; the next run with the same store computes exactly the missing
    seeds.  A worker that dies makes the executor raise: the study stops, and
    resumes on the next call.
    """
    if not callable(task):
        raise TypeError(f"task must be callable as task(seed), got {type(task).__name__}")
    seed_list = _check_seeds(seeds)
    description = _describe(task)
    ex, own_executor = _resolve_executor(executor)
    st = ToyStore(store, description) if store is not None else None
    try:
        done = st.open() if st is not None else {}
        _run_missing(task, seed_list, done, st, ex, progress)
    finally:
        if st is not None:
            st.close()
        if own_executor:
            ex.close()
    rows = [done[s] for s in seed_list]
    return ToyStudy(rows_frame(rows), Path(store) if store is not None else None, description)


def _resolve_executor(executor: Executor | ExecutorKind | None) -> tuple[Executor, bool]:
    """The executor to run on, and whether it is made here (and so closed here)."""
    if executor is None:
        return make_executor("serial"), True
    if isinstance(executor, str):
        return make_executor(executor), True
    return executor, False


def _run_missing(
    task: ToyTask,
    seed_list: Sequence[int],
    done: dict[int, dict[str, Any]],
    st: ToyStore | None,
    ex: Executor,
    progress: bool,
) -> None:
    """Run the seeds not in ``done``; store each row and put it in ``done`` as it arrives."""
    todo = [s for s in seed_list if s not in done]
    with tqdm(
        total=len(seed_list),
        initial=len(seed_list) - len(todo),
        desc="toys",
        unit="toy",
        file=sys.stderr,
        disable=not progress,
        dynamic_ncols=True,
    ) as bar:
        n_failed = sum(1 for s in seed_list if s in done and done[s].get("error") is not None)
        if n_failed:
            bar.set_postfix(failed=n_failed)
        results = ex.map_unordered(functools.partial(_run_one, task), todo)
        try:
            for row in results:
                done[row["seed"]] = st.append(row) if st is not None else as_stored(row)
                if row["error"] is not None:
                    n_failed += 1
                    bar.set_postfix(failed=n_failed)
                bar.update(1)
        finally:
            close = getattr(results, "close", None)
            if close is not None:
                close()  # stops a generator now: the executor cancels what is queued


# ---------------------------------------------------------------------------- example tasks
# Kept in this module: a store's header names its task by module and name (e.g.
# ``unbinned.infer.toys.gaussian_toy_task(mu_true=1.5)``) and a pickled task refers
# to its module, so moving them would stop existing stores from resuming.
def gaussian_toy_task(seed: int, mu_true: float = 1.0, sigma: float = 0.2) -> dict[str, Any]:
    """An exactly solvable pseudo-experiment: one Gaussian measurement x ~ N(μ_true, σ).

    μ̂ = x and the interval [x - σ, x + σ] covers μ_true with probability
    erf(1/√2) = 0.6827 exactly; the pulls are standard normal.  For tests, docs and
    timing the machinery.

    Parameters
    ----------
    seed
        Seed of ``numpy.random.default_rng``.
    mu_true
        True value.
    sigma
        Known resolution (> 0).

    Returns
    -------
    dict
        seed, mu_true, mu_hat, p16, p84, valid (always True).
    """
    if not sigma > 0:
        raise ConfigError(f"sigma must be positive, got {sigma}")
    x = float(np.random.default_rng(seed).normal(mu_true, sigma))
    return {"seed": seed, "mu_true": float(mu_true), "mu_hat": x, "p16": x - sigma,
            "p84": x + sigma, "valid": True}  # fmt: skip


def counting_toy_task(
    seed: int,
    mu_true: float = 1.0,
    signal: float = 20.0,
    background: float = 50.0,
    kappa: float = 1.1,
    method: Literal["scan", "minos"] = "scan",
) -> dict[str, Any]:
    r"""A counting experiment with a constrained background, fitted with the real engine.

    n ~ Poisson(μ s + b) and an auxiliary measurement a ~ N(0, 1) of the background
    nuisance θ (true value 0), the background rate being b κ^θ.  Per toy a model
    with the constraint (θ - a)² is declared (the frequentist treatment: the global
    observable is randomised, not the nuisance), then
    :func:`unbinned.infer.fit` and :func:`unbinned.infer.profile_interval` (Δq = 1)
    give μ̂ and [p16, p84].

    Parameters
    ----------
    seed
        Seed of ``numpy.random.default_rng`` (the auxiliary value, then n).
    mu_true
        True signal strength (≥ 0).
    signal, background
        Expected signal (at μ = 1) and background counts (> 0).
    kappa
        Log-normal background uncertainty: a 1σ shift multiplies b by κ (> 1).
    method
        Interval method of :func:`~unbinned.infer.profile_interval`.

    Returns
    -------
    dict
        seed, mu_true, mu_hat, p16, p84, valid (fit and interval valid),
        sigma_hesse, theta_hat, n_obs, aux.

    Notes
    -----
    θ is bounded to [-5, 5] (the auxiliary value is clipped to [-4, 4], a 6e-5
    effect) and μ to [-b κ⁻⁵/(2s), μ_true + 5 + 10 √(μ_true s + b)/s], so the
    expected count stays positive.
    """
    # deferred: unbinned.likelihood imports torch (about 1 s); `import unbinned.infer` stays
    # free of it, and only this example task needs it
    from unbinned.likelihood import CountingRegion, Likelihood

    _check_counting(mu_true, signal, background, kappa)
    rng = np.random.default_rng(seed)
    aux = float(np.clip(rng.normal(0.0, 1.0), -4.0, 4.0))
    n_obs = int(rng.poisson(mu_true * signal + background))
    spec = _counting_spec(n_obs, aux, mu_true, signal, background, kappa)
    region = CountingRegion(
        "count", ("signal", "background"), float(n_obs), np.array([signal, background])
    )
    lik = Likelihood(spec, [region])
    best = fit(lik, seed=seed)
    iv = profile_interval(lik, "mu", best=best, method=method, seed=seed)
    return {
        "seed": seed,
        "mu_true": float(mu_true),
        "mu_hat": best.values["mu"],
        "p16": iv.lower,
        "p84": iv.upper,
        "valid": bool(best.valid and iv.valid),
        "sigma_hesse": best.errors["mu"],
        "theta_hat": best.values["theta_b"],
        "n_obs": n_obs,
        "aux": aux,
    }


def _check_counting(mu_true: float, signal: float, background: float, kappa: float) -> None:
    if not (signal > 0 and background > 0 and kappa > 1 and mu_true >= 0):
        raise ConfigError(
            f"need signal > 0, background > 0, kappa > 1, mu_true >= 0; got signal={signal}, "
            f"background={background}, kappa={kappa}, mu_true={mu_true}"
        )


def _counting_spec(
    n_obs: int, aux: float, mu_true: float, signal: float, background: float, kappa: float
) -> ModelSpec:
    """The model of one counting toy: μ bounded and started from (n - b)/s, θ constrained by aux."""
    mu_lo = -0.5 * background * kappa**-5 / signal
    mu_hi = mu_true + 5.0 + 10.0 * math.sqrt(mu_true * signal + background) / signal
    init = float(np.clip((n_obs - background) / signal, mu_lo + 0.1, mu_hi - 0.1))
    return ModelSpec.from_dict(
        {
            "pois": [{"name": "mu", "init": init, "bounds": [mu_lo, mu_hi]}],
            "nuisances": [
                {"name": "theta_b", "nominal": aux, "prior": "gaussian", "width": 1.0,
                 "bounds": [-5.0, 5.0]},
            ],
            "processes": [
                {"name": "signal", "signal": True, "modifiers": [{"parameter": "mu"}]},
                {"name": "background",
                 "modifiers": [{"parameter": "theta_b", "kind": "lognormal", "kappa": kappa}]},
            ],
            "regions": [{"name": "count", "kind": "counting"}],
        }
    )  # fmt: skip
