"""``data: kind: files`` in the config and the workflow's data functions."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from unbinned.analysis import AnalysisModel
from unbinned.configs import example_text
from unbinned.exceptions import ConfigError, DataError
from unbinned.workflow import Analysis, AnalysisConfig, examples
from unbinned.workflow.data import (
    observed_events,
    pseudo_data,
    sample_file_paths,
    training_source,
)
from unbinned.workflow.examples import write_example_samples


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> AnalysisConfig:
    d = tmp_path_factory.mktemp("wf_files")
    write_example_samples(d / "samples", events_per_process=500)
    return AnalysisConfig.from_yaml_string(example_text("files"), base_dir=d)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("kind: files", "kind: files\n  bogus: 1", r"data.bogus: unknown key; expected one of \["),
        ("region: SR", "region: CR", "region 'CR' is not declared"),
        ("at: {energy_scale: 1.02}", "at: {energy_scale: 1.2}", "1.2 lies outside the nuisance's"),
        ("at: {energy_scale: 0.98}", "at: {energy_scale: 0.98}\n      weight: w\n      factor: w",
         "give weight or factor, not both"),
        ("      files:\n        signal: [samples/signal_escale_down.parquet]\n"
         "        background: [samples/background_escale_down.parquet]\n", "",
         "give files, a weight or factor column, or files with a weight or factor column"),
        ("  processes:\n    - {name: signal",
         "    - {name: res, nominal: 1.0, prior: gaussian, width: 0.05, acts_on: shape}\n"
         "  processes:\n    - {name: signal",
         r"the shape nuisance\(s\) \['res'\] have no variation point"),
        ("name: background, modifiers", "name: other, modifiers",
         r"process\(es\) \['other'\] have no samples"),
        ('SR: "mass > 60"', 'SR: "mass >> 60"', "regions.SR: selection 'mass >> 60'"),
    ],
)  # fmt: skip
def test_config_errors(old: str, new: str, message: str) -> None:
    text = example_text("files")
    assert old in text
    with pytest.raises(ConfigError, match=message):
        AnalysisConfig.from_yaml_string(text.replace(old, new, 1))
    with pytest.raises(ConfigError, match="the 'challenge' preset"):
        AnalysisConfig.from_yaml_string("data: {kind: files, processes: {a: [x]}, features: [x]}")


def test_source_paths_and_pseudo_data(cfg: AnalysisConfig, tmp_path: Path) -> None:
    src = training_source(cfg, tmp_path)
    assert src.region.name == "SR"
    np.testing.assert_allclose(src.design.points, [[0.0], [-1.0], [1.0]])
    assert len(sample_file_paths(cfg)) == 6
    assert sample_file_paths(cfg, samples=False) == []
    events, truth = pseudo_data(cfg, tmp_path, mu=1.0, seed=3, draw=True, source=src)
    assert truth["energy_scale"] == 1.0  # shape nuisances stay nominal
    assert truth["bkg_norm"] != 1.0  # rate nuisances drawn
    assert events.n_events > 0
    events, truth = pseudo_data(cfg, tmp_path, mu=1.0, seed=3,
                                nuisances={"energy_scale": 1.02}, source=src)  # fmt: skip
    assert truth["energy_scale"] == 1.02  # a provided point works
    with pytest.raises(DataError, match="exist only at their points"):
        pseudo_data(cfg, tmp_path, mu=1.0, seed=3, nuisances={"energy_scale": 1.03}, source=src)
    assert observed_events(cfg) is None
    with_data = cfg.replace(data={"observed": ["samples/signal.parquet"]})
    data = observed_events(with_data)
    assert data is not None
    assert data.process_names == ("data",)


_QCD = "    - {name: qcd_scale, nominal: 1.0, width: 1.0, bounds: [0.5, 2.0], acts_on: shape}\n"
_WEIGHTS = """    - {at: {qcd_scale: 2.0}, weight: weight_muR_up}
    - {at: {qcd_scale: 0.5}, factor: muR_down}
"""
_MIXED = """    - at: {energy_scale: 1.02, qcd_scale: 2.0}
      files: {signal: [samples/signal_escale_up.parquet]}
      weight: weight_muR_up
"""


def _with_qcd(text: str, points: str) -> str:
    text = text.replace("    # a weight variation", points + "    # a weight variation", 1)
    return text.replace(
        "  processes:\n    - {name: signal", _QCD + "  processes:\n    - {name: signal"
    )


def test_files_and_weight_nuisances_with_their_mixed_point(tmp_path: Path) -> None:
    """energy_scale from files, qcd_scale from weight columns: the mixed point reweights the
    1.02 files by their weight_muR_up; without it, or without the column, one line."""
    import pandas as pd

    write_example_samples(tmp_path / "samples", events_per_process=200)
    for path in (tmp_path / "samples").glob("*.parquet"):
        f = pd.read_parquet(path)
        f.assign(weight_muR_up=1.2 * f["weight"], muR_down=0.8).to_parquet(path)
    text = example_text("files")
    cfg = AnalysisConfig.from_yaml_string(_with_qcd(text, _WEIGHTS + _MIXED), base_dir=tmp_path)
    src = training_source(cfg, tmp_path).source
    mixed = src.points[-1]
    np.testing.assert_allclose(mixed, [1.0, 1.0])
    up = src.varied("signal", [1.0, 0.0])
    np.testing.assert_allclose(src.varied("signal", mixed).weights, 1.2 * up.weights)
    # the files leave the background out: its nominal events, reweighted
    nominal = src.nominal("background")
    np.testing.assert_allclose(src.varied("background", mixed).weights, 1.2 * nominal.weights)
    np.testing.assert_allclose(src.varied("background", [0.0, -0.5]).weights,
                               0.8 * nominal.weights)  # fmt: skip
    no_mixed = AnalysisConfig.from_yaml_string(_with_qcd(text, _WEIGHTS), base_dir=tmp_path)
    with pytest.raises(
        ConfigError,
        match=r"data: no variation point varies energy_scale and qcd_scale together, .* add the "
        r"point \{at: \{energy_scale: 1.02, qcd_scale: 2\}, files: <the files of the "
        r"energy_scale=1.02 point>, weight: weight_muR_up\}",
    ):
        training_source(no_mixed, tmp_path)
    up_file = tmp_path / "samples" / "signal_escale_up.parquet"
    pd.read_parquet(up_file).drop(columns="weight_muR_up").to_parquet(up_file)
    with pytest.raises(DataError, match=r"signal_escale_up.parquet' lacks the weight column "):
        training_source(cfg, tmp_path)


_VARY = """
def vary(frame, energy_scale):
    out = frame.copy()
    out["mass"] = energy_scale * out["mass"]
    out["pt"] = energy_scale * out["pt"]
    return out


def wrong(frame, escale):
    return frame
"""


def _with_callable(text: str, spec: str) -> str:
    start = text.index("  variations:")
    end = text.index("  # observed:")
    return text[:start] + f'  callable: "{spec}"\n' + text[end:]


def test_callable_variations(cfg: AnalysisConfig, tmp_path: Path) -> None:
    """``data.callable``: a function in the config's folder varies the events at any value."""
    base = cfg.base_dir
    (base / "escale_vary.py").write_text(_VARY)
    text = _with_callable(example_text("files"), "escale_vary:vary")
    fcfg = AnalysisConfig.from_yaml_string(text, base_dir=base)
    src = training_source(fcfg, tmp_path)
    assert type(src).__name__ == "HeldOutSource"  # a fifth held out for the health check
    assert type(src.source).__name__ == "CallableVariationSource"
    assert base / "escale_vary.py" in sample_file_paths(fcfg)  # editing it reruns the training
    assert src.varied("signal", [1.5]).n_events > 0  # energy_scale = 1.03: any value
    events, truth = pseudo_data(fcfg, tmp_path, mu=1.0, seed=3, draw=True, source=src)
    assert truth["energy_scale"] != 1.0  # every nuisance drawn from its prior
    assert events.n_events > 0
    events, truth = pseudo_data(fcfg, tmp_path, mu=1.0, seed=3,
                                nuisances={"energy_scale": 1.03}, source=src)  # fmt: skip
    assert truth["energy_scale"] == 1.03
    for spec, message in [
        ("escale_vary:wrong", r"data.callable: 'escale_vary:wrong\(frame, escale\)' cannot be "
                              r"called as f\(frame, energy_scale=...\)"),
        ("escale_vary:nope", "data.callable: module 'escale_vary' has no 'nope'"),
        ("no_such_module:vary", "data.callable: cannot import module 'no_such_module'"),
        ("not a path", "data.callable: 'not a path' is not a function's dotted path"),
    ]:  # fmt: skip
        with pytest.raises(ConfigError, match=message):
            AnalysisConfig.from_yaml_string(_with_callable(example_text("files"), spec),
                                            base_dir=base)  # fmt: skip
    both = example_text("files").replace("  # observed:", '  callable: "escale_vary:vary"\n  #')
    with pytest.raises(ConfigError, match="either as variations: .* or as callable:"):
        AnalysisConfig.from_yaml_string(both, base_dir=base)


_SMALL = {
    "classifier: {hidden: [32, 32], epochs: 12, batch_size: 1024}":
        "classifier: {hidden: [8], epochs: 2, batch_size: 512}",
    "response: {hidden: [32, 32], epochs: 12, batch_size: 1024}":
        "response: {hidden: [8], epochs: 2, batch_size: 512}",
}  # fmt: skip
_UP2 = """    - at: {energy_scale: 1.04}  #   +2sigma
      files:
        signal: [samples/signal_escale_up2.parquet]
        background: [samples/background_escale_up2.parquet]
"""


def _validate(text: str, base: Path) -> tuple[dict, str]:
    diag, log, _ = _validated(text, base)
    return diag, log


def _validated(text: str, base: Path) -> tuple[dict, str, Analysis]:
    """The config ``text`` made small, simulated, trained and validated: diagnostics, log."""
    for old, new in _SMALL.items():
        text = text.replace(old, new)
    log = io.StringIO()
    analysis = Analysis(AnalysisConfig.from_yaml_string(text, base_dir=base), progress=False,
                        log=log)  # fmt: skip
    for step in (analysis.simulate, analysis.train, analysis.validate):
        step()
    diag = json.loads((analysis.workspace.step_dir("validate") / "diagnostics.json").read_text())
    return diag, log.getvalue(), analysis


@pytest.mark.filterwarnings("ignore::unbinned.exceptions.TrainingWarning")
def test_validate_leave_one_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """±1σ and +2σ: each point held out of a training and tested; ±1σ alone: one line why not."""
    monkeypatch.setitem(examples.EXAMPLE_POINTS, "up2", 1.04)
    write_example_samples(tmp_path / "samples", events_per_process=300)
    text = example_text("files")
    diag, log = _validate(text, tmp_path)
    loo = diag["leave_one_out"]
    assert loo["held_out"] == []
    assert "±1σ alone leaves no point to hold out" in loo["note"]
    assert "±1σ alone leaves no point to hold out" in log
    three = text.replace("    # a weight variation", _UP2 + "    # a weight variation", 1)
    diag, log = _validate(three.replace("output: my-analysis-output", "output: three"), tmp_path)
    loo = diag["leave_one_out"]
    np.testing.assert_allclose(loo["held_out"], [[-1.0], [1.0], [2.0]])
    assert len(loo["chi2_ndf"]) == 3
    assert loo["note"] == ""
    assert "energy_scale=1.04 held out: chi2/ndf" in log
    points = [r["point"] for r in loo["chi2_ndf"]]
    assert points == [f"energy_scale={v}" for v in (0.98, 1.02, 1.04)]


@pytest.mark.filterwarnings("ignore::unbinned.exceptions.TrainingWarning")
def test_the_health_check_runs_on_held_out_events(tmp_path: Path) -> None:
    """The files have no test sample: a fifth of their events never trains and checks it."""
    write_example_samples(tmp_path / "samples", events_per_process=300)
    _, log = _validate(example_text("files"), tmp_path)
    held = "the held-out 20 % of a FileVariationSource's events (seed 0)"
    assert f"surrogate health: checked after training on {held}" in log
    out = tmp_path / "my-analysis-output"
    health = json.loads((out / "validate" / "health.json").read_text())
    assert health["sample"] == held
    assert 0 < health["n_events"] < 0.35 * 600  # about a fifth of the 2 × 300 events
    # the tail response closure at the provided points (the files exist only there)
    nus = sorted({round(e["nu"][0], 9) for e in health["response_tail"]})
    assert nus == [-1.0, 1.0]
    model = AnalysisModel.load(out / "train" / "model")
    assert model.health == health
    assert model.warnings == tuple(health["warnings"])


@pytest.mark.filterwarnings("ignore::unbinned.exceptions.TrainingWarning")
def test_a_failed_leave_one_out_closure_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A held-out point that fails its closure is a WARNING line and one of the warnings."""
    from unbinned.ml.holdout import LeaveOneOutClosure

    line = "leave-one-out closure: 1 of 4 (process, held-out point) entries fail; ..."
    monkeypatch.setattr(LeaveOneOutClosure, "warnings", lambda self, *a: (line,))
    monkeypatch.setitem(examples.EXAMPLE_POINTS, "up2", 1.04)
    write_example_samples(tmp_path / "samples", events_per_process=300)
    text = example_text("files").replace("    # a weight variation",
                                         _UP2 + "    # a weight variation", 1)  # fmt: skip
    diag, log, analysis = _validated(text, tmp_path)
    assert f"WARNING: {line}" in log
    assert line in analysis.warnings()
    assert diag["leave_one_out"]["warnings"] == [line]
