"""The pseudo-experiment task of the workflow's ``toys`` step (picklable for worker processes).

One toy: draw the true μ (fixed, or uniform in ``mu_range``) and the nuisances
(from their priors), draw a pseudo-dataset from the held-out sample
(:func:`unbinned.workflow.data.pseudo_data`), measure it with the trained model and
return the row :func:`unbinned.infer.run_toys` stores.  The model and the test
sample are loaded once per process (cached by path).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np

from unbinned.workflow.config import AnalysisConfig
from unbinned.workflow.data import CHALLENGE_KINDS, pseudo_data, test_frame, test_source

__all__ = ["workflow_toy_task"]


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
    frame, source = _test_data(config, data_dir)
    events, truth = pseudo_data(
        cfg,
        Path(data_dir),
        mu=mu,
        seed=seed,
        draw=toys.draw_nuisances,
        frame=frame,
        source=source,
    )
    m = cached_analysis(model_dir).measure(events, binned=toys.binned)
    row = measurement_row(seed, mu, m)
    row.update({f"true_{k}": float(v) for k, v in truth.items() if k != m.poi})
    return row
