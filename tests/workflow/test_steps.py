"""The workflow's steps, called directly (not through the CLI) on a tiny toy analysis."""

from __future__ import annotations

import io
import json

import pytest

from unbinned.analysis import CalibrationOptions, IntegrationOptions, TemplateOptions
from unbinned.exceptions import ConfigError
from unbinned.workflow import Analysis, AnalysisConfig
from unbinned.workflow.steps import analysis_options, measurement_dict

TOY = """
name: toy
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
  design: {steps: [1], mixed: [1]}
  classifier_recalibration: true
binned: {bins: 3}
inference:
  scan: {points: 3}
  impacts: false
  toys: {n: 2, mu_range: [0.5, 2.0], binned: true}
report: {closure_features: [x0]}
"""


def _config(tmp_path, **changes) -> AnalysisConfig:
    cfg = AnalysisConfig.from_yaml_string(TOY, base_dir=tmp_path)
    return cfg.replace(**changes) if changes else cfg


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Analysis:
    root = tmp_path_factory.mktemp("steps")
    analysis = Analysis(_config(root), progress=False, log=io.StringIO())
    analysis.simulate()
    analysis.train()
    return analysis


def test_options_come_from_the_config(tmp_path):
    opts = analysis_options(_config(tmp_path))
    assert opts.templates == TemplateOptions(bins=3)
    assert opts.integration == IntegrationOptions(mode="moments")
    assert opts.calibration == CalibrationOptions(recalibrate_classifier=True)
    other = analysis_options(
        _config(tmp_path, training={"integration": "events", "score_calibration": True,
                                    "classifier_recalibration": False})
    )  # fmt: skip
    assert other.integration == IntegrationOptions(mode="events")
    assert other.calibration == CalibrationOptions(calibrate=True, recalibrate_classifier=False)
    unset = analysis_options(_config(tmp_path, training={"classifier_recalibration": "auto"}))
    assert unset.calibration == CalibrationOptions()  # auto: on an independent reference


def test_train_arguments_are_explicit(tmp_path):
    analysis = Analysis(_config(tmp_path), progress=False, log=io.StringIO())
    from unbinned.ml import GaussianToySource

    kwargs = analysis._train_arguments(GaussianToySource(100, seed=0))
    assert kwargs["run"].device == "cpu"  # training.device unset: train_analysis's default
    assert kwargs["run"].num_threads == 1
    assert kwargs["yield_model"] is None  # the polynomial default
    assert kwargs["design"] is not None
    assert kwargs["surrogate_config"].classifier.hidden == (8,)
    assert kwargs["templates"] == TemplateOptions(bins=3)


def test_training_plan_options_reach_the_train_config(tmp_path):
    from unbinned.ml import GaussianToySource, SurrogateConfig

    plan = {"min_steps": 3000, "min_epochs": 5, "max_epochs": 40, "max_batch_size": 64,
            "patience": 3, "epochs": None, "batch_size": None}  # fmt: skip
    cfg = _config(tmp_path, training={"classifier": plan, "response": {"max_batch_size": 128}})
    kwargs = Analysis(cfg, progress=False, log=io.StringIO())._train_arguments(
        GaussianToySource(100, seed=0)
    )
    clf, resp = kwargs["surrogate_config"].classifier, kwargs["surrogate_config"].response
    assert (clf.min_steps, clf.min_epochs, clf.max_epochs, clf.max_batch_size, clf.patience) == (
        3000, 5, 40, 64, 3)  # fmt: skip
    assert clf.epochs is None  # planned from the sample
    assert clf.batch_size is None
    assert clf.plan(6400).batch_size == 64
    assert clf.plan(6400).epochs == 30  # 3000 steps of 100 batches
    assert resp.max_batch_size == 128
    assert resp.min_epochs == SurrogateConfig().response.min_epochs  # unset: the default
    # a value that conflicts with a library default names the section
    bad = _config(tmp_path, training={"classifier": {"max_epochs": 3}})
    with pytest.raises(ConfigError, match=r"training.classifier: TrainConfig.max_epochs=3"):
        Analysis(bad, progress=False, log=io.StringIO())._train_arguments(
            GaussianToySource(100, seed=0)
        )


def test_simulate_and_train_write_their_outputs(trained):
    assert (trained.data_dir / "data.json").is_file()
    model = trained.model()
    assert model.templates is not None
    assert model.templates.regions[0].n_bins == 3
    assert model.options == analysis_options(trained.config)
    assert model.metadata["classifier_recalibrated_events"] > 0
    info = json.loads((trained.workspace.step_dir("train") / "training.json").read_text())
    assert "AnalysisModel" in info["model"]


def test_an_unchanged_step_is_skipped(trained):
    assert trained.simulate().status == "skipped"
    assert trained.train().status == "skipped"


def test_validate_fit_scan_and_toys(trained):
    assert trained.validate().status == "ran"
    diag = json.loads((trained.workspace.step_dir("validate") / "diagnostics.json").read_text())
    assert "reliability" in diag
    health = trained.health()
    assert health is not None
    assert {"fraction_closure_worst", "fisher_closure", "response_tail_chi2ndf_max"} <= set(health)
    assert health["response_tail"]  # the toy can be varied: the tail closure ran
    assert health["exact_information_ratio"] is not None  # the toy's density is exact
    log = trained._log.getvalue()
    assert "surrogate health" in log
    for w in health["warnings"]:
        assert f"WARNING: {w}" in log
    assert trained.warnings()[: len(health["warnings"])] == health["warnings"]
    assert trained.workspace.record("validate").info["warnings"] == health["warnings"]
    assert trained.fit().status == "ran"
    result = trained.fit_result()
    assert result["poi"] == "mu"
    assert set(result["observed"]) == {"unbinned", "binned"}
    assert result["observed"]["unbinned"]["lo"] <= result["observed"]["unbinned"]["value"]
    assert result["impacts"] == []
    assert trained.scan().status == "ran"
    scan = json.loads((trained.workspace.step_dir("scan") / "scan.json").read_text())
    assert len(scan["unbinned"]["values"]) == 3
    assert trained.toys().status == "ran"
    summary = json.loads((trained.workspace.step_dir("toys") / "summary.json").read_text())
    assert summary["n"] == 2
    assert "binned" in summary
    flags = [f"pseudo-experiments: {w}" for w in summary["warnings"]]
    flags += [f"pseudo-experiments, binned baseline: {w}" for w in summary["binned"]["warnings"]]
    assert trained.warnings() == health["warnings"] + flags


def test_measurement_dict_and_unknown_steps(trained):
    m = trained.model().measure_asimov({"mu": 1.0}, binned=False)
    d = measurement_dict(m)
    assert d["width"] == pytest.approx(d["hi"] - d["lo"])
    assert d["err_lo"] == pytest.approx(d["value"] - d["lo"])
    with pytest.raises(ConfigError, match="unknown step"):
        trained.run(["bake"])


def test_a_step_needs_its_inputs(tmp_path):
    analysis = Analysis(_config(tmp_path), progress=False, log=io.StringIO())
    with pytest.raises(ConfigError, match="has not run"):
        analysis.train()


def test_simulated_samples_take_the_per_process_counts(tmp_path):
    import pandas as pd

    text = (
        "data: {kind: simulator, events_per_process: 300, test_events_per_process: 200,"
        " reference_events_per_process: 200, luminosity: 1.0, process_events: {ztautau: 900}}\n"
        "output: out\n"
    )
    cfg = AnalysisConfig.from_yaml_string(text, base_dir=tmp_path)
    analysis = Analysis(cfg, progress=False, log=io.StringIO())
    assert analysis.simulate().status == "ran"
    train = pd.read_parquet(analysis.data_dir / "train.parquet")
    test = pd.read_parquet(analysis.data_dir / "test.parquet")
    from unbinned.sim.htautau import simulate

    z = train["detailed_labels"] == "ztautau"
    assert int(z.sum()) == 900
    assert int((train["detailed_labels"] == "htautau").sum()) == 300
    assert len(test) == 800  # process_events is of the training sample alone
    # the same expected yield (σ L) whatever the number of raw events, within its MC error
    alone = simulate(300, seed=0, luminosity=1.0, processes=["ztautau"])
    assert train.loc[z, "weights"].sum() == pytest.approx(alone["weights"].sum(), rel=0.03)
    assert train.loc[z, "weights"].iloc[0] < alone["weights"].iloc[0] / 2.5
