from __future__ import annotations

import pytest

from unbinned.configs import EXAMPLES, example_path, example_text
from unbinned.exceptions import ConfigError
from unbinned.sim.htautau import TRAINING_EVENTS
from unbinned.workflow import AnalysisConfig, load_config
from unbinned.workflow.config import section_digest

TOY = """
data: {kind: toy, events_per_process: 500}
model:
  pois: [{name: mu, bounds: [-2, 6]}]
  nuisances: [{name: scale, prior: gaussian, width: 1.0, acts_on: shape}]
  processes: [{name: sig, signal: true, modifiers: [{parameter: mu}]}, {name: bkg}]
"""


@pytest.mark.parametrize("name", EXAMPLES)
def test_shipped_examples_validate(name):
    cfg = load_config(example_path(name))
    assert cfg.name
    assert "#" in example_text(name)  # commented for a first-time reader


def test_challenge_example_trains_on_the_validated_sample():
    # the tail-targeted training sample (BENCHMARKS.md, "Scale error of μ̂"), the same
    # as the Python entry point's simulate(TRAINING_EVENTS)
    cfg = load_config(example_path("challenge"))
    assert cfg.data.raw_events("train") == dict(TRAINING_EVENTS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("data: {kind: simulator, events_per_proces: 3}",
         r"data.events_per_proces: unknown key; expected one of \['kind', 'events_per_process'"),
        ("data: {kind: simulator, events_per_process: -3}",
         r"data.events_per_process: Input should be greater than 0 \(got -3\)"),
        ("data: {kind: nope}", "data: Input tag 'nope'"),
        ("name: x", "data: required key is missing"),
        ("data: {kind: simulator}\nmodel: chall", "model: unknown preset 'chall'"),
        ("data: {kind: toy}", "the 'challenge' preset fits H→ττ data"),
        ("data: {kind: simulator}\ninference: {toys: {n: abc}}", r"inference.toys.n: .*'abc'"),
        ("data: {kind: simulator}\ninference: {toys: {scheduler: 'tcp://h:1'}}",
         "needs executor: dask"),
        ("data: {kind: simulator}\ninference: {scan: {range: [2, 1]}}", "range .* is empty"),
        ("data: {kind: simulator}\nbogus: 1", "bogus: unknown key; expected one of"),
        ("data: [", "not valid YAML"),
        ("- 1", "must be a mapping"),
        (TOY + "inference: {poi: nu}", "inference.poi: 'nu' is not a POI"),
        (TOY + "training: {yield_model: {kind: spline}}", r"training.yield_model.kind: .*'gp'"),
        (TOY + "training: {yield_model: {kind: gp, design_points: -1}}",
         r"training.yield_model.design_points: .*greater than or equal to 0"),
        ("data: {kind: simulator, process_events: {zttau: 10}}",
         r"data: process_events: unknown process\(es\) \[.zttau.\]"),
        (TOY + "training: {classifier: {min_step: 10}}",
         r"training.classifier.min_step: unknown key; expected one of .*'min_steps'"),
        (TOY + "training: {response: {max_batch_size: 0}}",
         r"training.response.max_batch_size: Input should be greater than 0"),
        (TOY + "training: {classifier: {min_epochs: 5, max_epochs: 4}}",
         r"training.classifier: .*max_epochs \(4\) is below min_epochs \(5\)"),
    ],
)  # fmt: skip
def test_bad_configs_name_the_key(text, message):
    with pytest.raises(ConfigError, match=message):
        AnalysisConfig.from_yaml_string(text)


def test_model_declaration_errors_are_readable():
    bad = TOY.replace("{name: bkg}", "{name: bkg, modifiers: [{parameter: missing}]}")
    with pytest.raises(ConfigError, match="modifier parameter 'missing' is not declared"):
        AnalysisConfig.from_yaml_string(bad)


def test_paths_resolve_next_to_the_config_and_replace_validates(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text(TOY + "output: out\n")
    cfg = load_config(path)
    assert cfg.output_dir == tmp_path / "out"
    small = cfg.replace(inference={"toys": {"n": 2}})
    assert small.inference.toys.n == 2
    assert small.output_dir == cfg.output_dir
    with pytest.raises(ConfigError, match="toys.n"):
        cfg.replace(inference={"toys": {"n": -1}})
    with pytest.raises(ConfigError, match="no config file"):
        load_config(tmp_path / "missing.yaml")


def test_section_digest_is_canonical():
    cfg = AnalysisConfig.from_yaml_string(TOY)
    assert section_digest(cfg.section("data")) == section_digest(
        {"data": cfg.data.model_dump(mode="json")}
    )
    other = cfg.replace(data={"events_per_process": 501})
    assert section_digest(other.section("data")) != section_digest(cfg.section("data"))
    assert AnalysisConfig.from_yaml_string(cfg.to_yaml()).section("data", "model") == cfg.section(
        "data", "model"
    )


def test_yield_model_setting_builds_the_factory():
    from unbinned.response import GPYieldModel

    assert AnalysisConfig.from_yaml_string(TOY).training.yield_model.factory() is None
    cfg = AnalysisConfig.from_yaml_string(
        TOY + "training: {yield_model: {kind: gp, design_points: 5, kernel: matern52}}"
    )
    model = cfg.training.yield_model.factory()()
    assert isinstance(model, GPYieldModel)
    assert model.design_points == 5
    assert model.gp_options == {"kernel": "matern52"}


def test_simulator_raw_events_per_process():
    cfg = AnalysisConfig.from_yaml_string(
        "data: {kind: simulator, events_per_process: 100, process_events: {ztautau: 900},"
        " reference_process_events: {ttbar: 50}}"
    )
    data = cfg.data
    assert data.raw_events("train") == {"htautau": 100, "ztautau": 900, "ttbar": 100,
                                        "diboson": 100}  # fmt: skip
    assert set(data.raw_events("test").values()) == {100}
    assert data.raw_events("reference")["ttbar"] == 50
    assert data.raw_events("reference")["ztautau"] == 400
