"""Where the toy study's pseudo-data come from: simulated afresh, or from a pool (warned)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from unbinned.exceptions import ConfigError
from unbinned.workflow import Analysis, AnalysisConfig
from unbinned.workflow.data import (
    POOL_RATIO_MIN,
    pseudo_data,
    simulator_rates,
    toy_sampling,
    toy_sampling_record,
)

# 5 % of the challenge's luminosity: ~5,500 events per pseudo-experiment, samples of 3,000
# raw events per process (a pool far too small: the warning's case)
SIM = (
    "data: {kind: simulator, events_per_process: 300, test_events_per_process: 3000,"
    " reference_events_per_process: 3000, luminosity: 0.05}\noutput: out\n"
)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> Analysis:
    cfg = AnalysisConfig.from_yaml_string(SIM, base_dir=tmp_path_factory.mktemp("sampling"))
    analysis = Analysis(cfg, progress=False, log=io.StringIO())
    analysis.simulate()
    return analysis


def test_the_sampling_follows_the_data_kind(tmp_path):
    sim = AnalysisConfig.from_yaml_string(SIM, base_dir=tmp_path)
    assert toy_sampling(sim) == "simulated"
    pool = sim.replace(inference={"toys": {"sampling": "pool"}})
    assert toy_sampling(pool) == "pool"
    files = AnalysisConfig.from_dict(
        {"data": {"kind": "parquet", "train": "train.parquet"},
         "inference": {"toys": {"sampling": "simulate"}}}, base_dir=tmp_path
    )  # fmt: skip
    with pytest.raises(ConfigError, match="sampling: simulate needs a data kind that can"):
        toy_sampling(files)
    auto = files.replace(inference={"toys": {"sampling": "auto"}})
    assert toy_sampling(auto) == "pool"
    with pytest.raises(ConfigError, match="cannot simulate new events"):
        pseudo_data(auto, tmp_path, mu=1.0, seed=1, fresh=True)


def test_the_simulators_rates_are_measured_on_its_samples(simulated):
    rates, measured = simulator_rates(simulated.data_dir)
    assert measured == {p: 6000 for p in ("htautau", "ztautau", "ttbar", "diboson")}
    # Λ = Y L/10 / ε: Z→ττ passes the selection ~84 % of the time (~1.19 M raw at 10 fb⁻¹)
    assert rates["ztautau"] == pytest.approx(1.19e6 * 0.005, rel=0.03)
    assert rates["htautau"] == pytest.approx(1.11e3 * 0.005, rel=0.05)


def test_fresh_pseudo_data_are_independent_reproducible_and_poisson(simulated):
    cfg, d = simulated.config, simulated.data_dir
    a, truth = pseudo_data(cfg, d, mu=2.0, seed=3, draw=True, fresh=True)
    b, truth_b = pseudo_data(cfg, d, mu=2.0, seed=3, draw=True, fresh=True)
    c, _ = pseudo_data(cfg, d, mu=2.0, seed=4, draw=True, fresh=True)
    assert truth == truth_b
    assert truth["mu"] == 2.0
    assert np.array_equal(a.features, b.features)  # one seed, one pseudo-experiment
    assert not np.array_equal(a.features[: len(c)], c.features[: len(a)])
    assert np.all(a.weights == 1.0)  # unit weights: nothing repeats within a toy
    assert len(np.unique(a.features, axis=0)) == len(a)
    # the nuisance truth is the pool toys' of the same seed (the same child stream)
    _, pool_truth = pseudo_data(cfg, d, mu=2.0, seed=3, draw=True)
    assert pool_truth == truth
    # ~5,500 expected events (Poisson σ ~ 75): two toys within a few σ of it
    expected = 5015 + 2 * 5.1 + 221 + 19
    for ev in (a, c):
        assert abs(ev.sum_weights - expected) < 5 * np.sqrt(expected) + 0.03 * expected


def test_fresh_production_modes_thin_each_mode(simulated, tmp_path):
    cfg = AnalysisConfig.from_yaml_string(
        SIM + "preset: {production_modes: true}\n", base_dir=tmp_path
    )
    ev, truth = pseudo_data(cfg, simulated.data_dir, mu=1.0, seed=5, draw=False, fresh=True,
                            pois={"mu_ggh": 0.0, "mu_vbf": 3.0})  # fmt: skip
    assert (truth["mu_ggh"], truth["mu_vbf"]) == (0.0, 3.0)
    assert len(ev) > 0


def test_a_small_pool_is_a_warning_and_a_fresh_simulation_is_recorded(simulated):
    cfg, d = simulated.config, simulated.data_dir
    fresh = toy_sampling_record(cfg, d)
    assert fresh["method"] == "simulated"
    assert fresh["warning"] is None
    assert set(fresh["raw_rates"]) == {"htautau", "ztautau", "ttbar", "diboson"}
    pool = toy_sampling_record(cfg.replace(inference={"toys": {"sampling": "pool"}}), d)
    assert pool["method"] == "pool"
    assert pool["min_ratio"] < 1 < POOL_RATIO_MIN  # Z→ττ: ~2,500 events for ~5,000 expected
    assert pool["ratio"]["htautau"] > POOL_RATIO_MIN
    assert "ztautau" in pool["warning"]
    assert "shared by every toy" in pool["warning"]
    json.dumps(pool)  # it goes into the summary as it is


TOY = """
output: out
data: {kind: toy, events_per_process: 600}
model:
  pois: [{name: mu, init: 1.0, bounds: [-2, 6]}]
  nuisances:
    - {name: scale, nominal: 0.0, prior: gaussian, width: 1.0, bounds: [-3, 3], acts_on: shape}
    - {name: shift, nominal: 0.0, prior: gaussian, width: 1.0, bounds: [-3, 3], acts_on: shape}
  processes:
    - {name: sig, signal: true, modifiers: [{parameter: mu}]}
    - {name: bkg}
training:
  classifier: {hidden: [8], epochs: 2}
  response: {hidden: [8], epochs: 2}
  design: {steps: [1]}
binned: {bins: 3}
inference:
  impacts: false
  toys: {n: 2, mu_range: [0.5, 2.0], binned: false, sampling: pool}
"""


def test_a_toy_study_records_how_its_toys_were_drawn(tmp_path):
    cfg = AnalysisConfig.from_yaml_string(TOY, base_dir=tmp_path)
    analysis = Analysis(cfg, progress=False, log=io.StringIO())
    analysis.run(["simulate", "train", "toys"])
    summary = json.loads((analysis.workspace.step_dir("toys") / "summary.json").read_text())
    assert summary["sampling"]["method"] == "pool"
    assert summary["n_failed"] == 0
    assert "the test sample" in summary["sampling"]["description"]
    # the toy model's 600 events per process for ~600 expected: the pool is too small
    assert summary["sampling"]["warning"] in summary["warnings"]
    assert f"pseudo-experiments: {summary['sampling']['warning']}" in analysis.warnings()
    fresh = analysis.config.replace(inference={"toys": {"sampling": "auto"}})
    again = Analysis(fresh, output=analysis.root, progress=False, log=io.StringIO())
    assert again.toys().status == "ran"  # another sampling: another study
    summary = json.loads((again.workspace.step_dir("toys") / "summary.json").read_text())
    assert summary["sampling"]["method"] == "simulated"
    rows = [json.loads(line) for line in
            (again.workspace.step_dir("toys") / "toys.jsonl").read_text().splitlines()]  # fmt: skip
    assert all(r.get("error") is None for r in rows)
    assert len({r["n_events"] for r in rows}) == 2
