"""Several POIs and regions through the workflow: config keys, the preset, every step."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from unbinned.configs import example_path
from unbinned.exceptions import ConfigError
from unbinned.workflow import Analysis, AnalysisConfig
from unbinned.workflow.data import _scaled_modes, model_spec
from unbinned.workflow.steps import analysis_options

# the oracle with two POIs (the signal and the peaking background each with its own
# strength) and a counting control region: small and well-behaved, seconds per step
TWO_POI = """
name: two-poi-oracle
output: out
data: {kind: oracle, events_per_process: 1500}
model:
  pois:
    - {name: mu, init: 1.0, bounds: [0.0, 5.0]}
    - {name: mu_peak, init: 1.0, bounds: [0.0, 5.0]}
  nuisances:
    - {name: energy_scale, nominal: 1.0, prior: gaussian, width: 0.02, bounds: [0.9, 1.1],
       acts_on: shape}
    - {name: resolution, nominal: 1.0, prior: gaussian, width: 0.1, bounds: [0.5, 2.0],
       acts_on: shape}
    - {name: mix_frac, nominal: 0.6, prior: gaussian, width: 0.1, bounds: [0.05, 0.95],
       acts_on: shape}
    - {name: cont_norm, nominal: 1.0, prior: gaussian, width: 0.05, bounds: [0.5, 1.5]}
  processes:
    - {name: signal, signal: true, modifiers: [{parameter: mu}]}
    - {name: peak_bkg, signal: true, modifiers: [{parameter: mu_peak}]}
    - {name: cont_bkg, modifiers: [{parameter: cont_norm}]}
  regions:
    - {name: SR}
    - {name: CR, kind: counting, selection: "mass > 160"}
training:
  classifier: {hidden: [16], epochs: 4}
  response: {hidden: [8], epochs: 2}
  design: {steps: [1], mixed: [1]}
binned: {bins: 3}
inference:
  scan: {points: 3}
  scan_2d: {points: 3}
  impacts: true
  toys: {n: 2, mu_range: [0.5, 2.0], binned: true}
report: {closure_features: [mass]}
"""


def _cfg(tmp_path: Path, text: str = TWO_POI, **changes: object) -> AnalysisConfig:
    cfg = AnalysisConfig.from_yaml_string(text, base_dir=tmp_path)
    return cfg.replace(**changes) if changes else cfg


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"preset": {"production_modes": True}}, "preset: its options"),
        ({"inference": {"poi": "mu_vbf"}}, "inference.poi: 'mu_vbf' is not a POI"),
        ({"inference": {"scan_2d": {"pois": ["mu", "nope"]}}}, r"inference.scan_2d.pois\[1\]"),
        ({"inference": {"scan_2d": {"points": 2}}}, "inference.scan_2d: points 2"),
        ({"training": {"integration": "moments"}}, "training.integration: 'moments' cannot"),
    ],
)
def test_bad_several_poi_keys_name_the_key(tmp_path, changes, message):
    with pytest.raises(ConfigError, match=message):
        _cfg(tmp_path, **changes)


@pytest.mark.parametrize(
    ("preset", "message"),
    [
        (
            {"control_regions": {"CR": "DER_mass_MMC <"}},
            "preset: control_regions.CR: selection",
        ),
        (
            {"control_regions": {"CR": "mass > 80"}},
            "reads \\['mass'\\], which are not H→ττ features",
        ),
        ({"control_regions": {"SR": "DER_mass_MMC > 80"}}, "'SR' is the unbinned"),
        ({"production_mode": True}, "preset.production_mode: unknown key; expected one of"),
    ],
)
def test_bad_preset_options_name_the_key(tmp_path, preset, message):
    with pytest.raises(ConfigError, match=message):
        AnalysisConfig.from_dict(
            {"data": {"kind": "simulator"}, "preset": preset}, base_dir=tmp_path
        )


def test_the_preset_with_production_modes_and_a_control_region(tmp_path):
    cfg = AnalysisConfig.from_yaml(example_path("two_poi"))
    assert cfg.poi_names == ("mu_ggh", "mu_vbf")
    assert cfg.counting_regions == ("CR",)
    spec = model_spec(cfg)
    assert spec.poi_names == ("mu_ggh", "mu_vbf")
    assert [(r.name, r.kind) for r in spec.regions] == [("SR", "unbinned"), ("CR", "counting")]
    assert analysis_options(cfg).integration.mode == "events"  # counting regions need them
    only_cr = AnalysisConfig.from_dict(
        {"data": {"kind": "simulator"}, "preset": {"control_regions": {"CR": "PRI_met > 50"}}}
    )
    assert model_spec(only_cr).poi_names == ("mu",)
    assert model_spec(only_cr).regions[1].selection == "PRI_met > 50"
    raw = pd.DataFrame({"detailed_labels": ["htautau", "htautau", "ztautau"],
                        "production_mode": ["ggH", "VBF", ""],
                        "weights": [1.0, 1.0, 1.0]})  # fmt: skip
    scaled = _scaled_modes(raw, {"mu_ggh": 0.5, "mu_vbf": 2.0})
    assert scaled["weights"].tolist() == [0.5, 2.0, 1.0]
    assert raw["weights"].tolist() == [1.0, 1.0, 1.0]


def test_two_pois_and_a_counting_region_through_every_step(tmp_path):
    analysis = Analysis(_cfg(tmp_path), progress=False, log=io.StringIO())
    analysis.run()
    root = analysis.root
    res = json.loads((root / "fit" / "result.json").read_text())
    assert res["pois"] == ["mu", "mu_peak"]
    obs = res["several_pois"]["observed"]
    assert set(obs["pois"]) == {"mu", "mu_peak"}
    assert obs["pois"]["mu"]["value"] == pytest.approx(res["observed"]["unbinned"]["value"])
    assert -1 < obs["correlation"]["mu,mu_peak"] < 1
    assert set(obs["binned"]["pois"]) == {"mu", "mu_peak"}
    assert set(res["fisher"]["unbinned"]["sigma_pois"]) == {"mu", "mu_peak"}
    assert "mu_peak" in res["fit"]["correlation"]["parameters"]
    # impacts on every POI, from the same fits; the headline POI's also as "impacts"
    assert set(res["impacts_by_poi"]) == {"mu", "mu_peak"}
    assert res["impacts"] == res["impacts_by_poi"]["mu"]
    for found in res["impacts_by_poi"].values():
        assert {i["nuisance"] for i in found} == {"energy_scale", "resolution", "mix_frac",
                                                  "cont_norm"}  # fmt: skip
        sizes = [max(abs(i["up"] or 0), abs(i["down"] or 0)) for i in found]
        assert sizes == sorted(sizes, reverse=True)
    assert res["impacts_by_poi"]["mu_peak"] != res["impacts_by_poi"]["mu"]
    scan = json.loads((root / "scan" / "scan.json").read_text())["scan_2d"]
    assert scan["pois"] == ["mu", "mu_peak"]
    dq = np.asarray(scan["unbinned"]["delta_q"], dtype=float)
    assert dq.shape == (3, 3)
    assert np.all(dq[np.isfinite(dq)] >= -1e-6)
    assert np.asarray(scan["binned"]["delta_q"], dtype=float).shape == (3, 3)
    toys = json.loads((root / "toys" / "summary.json").read_text())
    assert set(toys["pois"]) == {"mu", "mu_peak"}
    assert toys["pois"]["mu_peak"]["n"] == 2
    assert "binned" in toys["pois"]["mu_peak"]
    rows = pd.read_json(root / "toys" / "toys.jsonl", lines=True)
    assert rows["poi:mu:mu_true"].tolist() == rows["mu_true"].tolist()
    assert (rows["poi:mu_peak:mu_true"] != rows["mu_true"]).all()  # drawn on its own
    html = (root / "report" / "report.html").read_text()
    for text in ("Parameters of interest", "Correlation of the POIs", "Coverage of each POI",
                 "Joint 68 %"):  # fmt: skip
        assert text in html, text
    assert (root / "report" / "plots" / "scan_2d.png").is_file()
    for name in ("impacts", "impacts-mu_peak"):  # one impact plot per POI
        assert (root / "report" / "plots" / f"{name}.png").is_file(), name
    assert "Impacts on mu_peak" in html
    summary = json.loads((root / "report" / "summary.json").read_text())
    assert set(summary["impacts_by_poi"]) == {"mu", "mu_peak"}
    # the oracle simulates: every toy afresh, and the summary says so
    assert toys["sampling"]["method"] == "simulated"
    assert "Pseudo-data: each pseudo-experiment drawn" in html


TINY = {
    "data": {"events_per_process": 1500, "test_events_per_process": 1500,
             "reference_events_per_process": 3000},
    "training": {"classifier": {"hidden": [16], "epochs": 3},
                 "response": {"hidden": [8], "epochs": 2}},
    "binned": {"bins": 3},
    "inference": {"scan": {"points": 3}, "scan_2d": {"points": 3}, "impacts": False,
                  "toys": {"n": 2, "mu_range": [0.5, 2.0], "binned": True}},
}  # fmt: skip


@pytest.mark.slow
def test_shipped_two_poi_example_runs_end_to_end(tmp_path):
    """The shipped ggH/VBF example, tiny (minutes on 2 busy cores: its fits hit the bounds)."""
    data = yaml.safe_load(example_path("two_poi").read_text())
    cfg = AnalysisConfig.from_dict(data, base_dir=tmp_path).replace(**TINY)
    analysis = Analysis(cfg, progress=False, log=io.StringIO())
    analysis.run()
    res = json.loads((analysis.root / "fit" / "result.json").read_text())
    assert set(res["several_pois"]["observed"]["pois"]) == {"mu_ggh", "mu_vbf"}
    scan = json.loads((analysis.root / "scan" / "scan.json").read_text())["scan_2d"]
    assert scan["pois"] == ["mu_ggh", "mu_vbf"]
    assert (analysis.root / "report" / "plots" / "scan_2d.png").is_file()
