"""The model declaration: valid declarations, each validation error, the YAML round trip."""

from __future__ import annotations

import math
from typing import Any

import pytest

from unbinned.exceptions import ConfigError
from unbinned.model import POI, ModelSpec, Modifier, Nuisance, Process, Region

YAML = """
pois:
  - {name: mu, init: 1.0, bounds: [0.0, 10.0]}
nuisances:
  - {name: tes, nominal: 1.0, prior: gaussian, width: 0.01, bounds: [0.9, 1.1], acts_on: shape}
  - {name: ttbar_scale, nominal: 1.0, prior: gaussian, width: 0.02, bounds: [0.8, 1.2]}
  - {name: lumi, nominal: 1.0, prior: lognormal, width: 0.02}
  - {name: k, prior: fixed, nominal: 2.0, acts_on: shape}
processes:
  - {name: htautau, signal: true, modifiers: [{parameter: mu}, {parameter: lumi}]}
  - {name: ttbar, modifiers: [{parameter: ttbar_scale}]}
regions:
  - {name: inclusive, kind: unbinned}
  - {name: vbf, kind: counting, selection: "PRI_n_jets >= 2"}
"""


def _base(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "pois": [{"name": "mu"}],
        "nuisances": [{"name": "bkg", "nominal": 1.0, "width": 0.1}],
        "processes": [
            {"name": "sig", "signal": True, "modifiers": [{"parameter": "mu"}]},
            {"name": "bkg", "modifiers": [{"parameter": "bkg"}]},
        ],
    }
    data.update(changes)
    return data


def test_minimal_declaration_and_defaults() -> None:
    spec = ModelSpec.from_dict({"pois": [{"name": "mu"}], "processes": [{"name": "sig"}]})
    assert spec.poi_names == ("mu",)
    assert spec.parameter_names == ("mu",)
    assert spec.process_names == ("sig",)
    assert spec.regions == (Region(name="inclusive"),)
    assert spec.regions[0].kind == "unbinned"
    assert spec.regions[0].selection == ""
    assert spec.nuisances == ()
    assert spec.init_values() == {"mu": 1.0}
    assert spec.bounds() == {"mu": None}


def test_yaml_declaration_helpers() -> None:
    spec = ModelSpec.from_yaml_string(YAML)
    assert spec.parameter_names == ("mu", "tes", "ttbar_scale", "lumi", "k")
    assert spec.poi_names == ("mu",)
    assert [n.name for n in spec.shape_nuisances] == ["tes", "k"]
    assert spec.process_names == ("htautau", "ttbar")
    assert spec.processes[0].signal
    assert not spec.processes[1].signal
    assert spec.nuisance("lumi").prior == "lognormal"
    assert spec.nuisance("tes").floating
    assert not spec.nuisance("k").floating
    assert spec.init_values() == {"mu": 1.0, "tes": 1.0, "ttbar_scale": 1.0, "lumi": 1.0, "k": 2.0}
    bounds = spec.bounds()
    assert bounds["mu"] == (0.0, 10.0)
    assert bounds["tes"] == (0.9, 1.1)
    assert bounds["lumi"] == (0.0, math.inf)  # lognormal: positive
    assert bounds["k"] is None
    assert spec.regions[1] == Region(name="vbf", kind="counting", selection="PRI_n_jets >= 2")


def test_python_declaration_equals_the_dict_one() -> None:
    spec = ModelSpec(
        pois=(POI(name="mu"),),
        nuisances=(Nuisance(name="bkg", nominal=1.0, width=0.1),),
        processes=(
            Process(name="sig", signal=True, modifiers=(Modifier(parameter="mu"),)),
            Process(name="bkg", modifiers=(Modifier(parameter="bkg"),)),
        ),
    )
    assert spec == ModelSpec.from_dict(_base())


def test_yaml_and_dict_round_trip(tmp_path: Any) -> None:
    spec = ModelSpec.from_yaml_string(YAML)
    assert ModelSpec.from_yaml_string(spec.to_yaml()) == spec
    assert ModelSpec.from_dict(spec.model_dump(mode="json")) == spec
    path = tmp_path / "model.yaml"
    path.write_text(spec.to_yaml(), encoding="utf-8")
    assert ModelSpec.from_yaml(path) == spec


def test_lognormal_modifier() -> None:
    data = _base()
    data["processes"][1]["modifiers"].append(
        {"parameter": "bkg", "kind": "lognormal", "kappa": 1.1}
    )
    spec = ModelSpec.from_dict(data)
    assert spec.processes[1].modifiers[1].kappa == 1.1


def test_declaration_is_frozen() -> None:
    spec = ModelSpec.from_dict(_base())
    with pytest.raises(ValueError, match="frozen"):
        spec.pois[0].name = "nu"  # type: ignore[misc]


def _proc(name: str, *modifiers: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "modifiers": list(modifiers)}


def _nuisance(**fields: Any) -> dict[str, Any]:
    return _base(nuisances=[{"name": "bkg", **fields}])


@pytest.mark.parametrize(
    ("data", "match"),
    [
        # unknown keys name the path of the key
        (_base(pois=[{"name": "mu", "bogus": 1}]), r"pois\.0\.bogus: Extra inputs"),
        (_base(extra=1), r"extra: Extra inputs"),
        (
            _base(processes=[{"name": "sig", "modifiers": [{"parameter": "mu", "x": 1}]}]),
            r"processes\.0\.modifiers\.0\.x: Extra inputs",
        ),
        # required and non-empty
        ({"processes": [{"name": "sig"}]}, r"pois: Field required"),
        (_base(pois=[]), r"pois: .*at least 1"),
        (_base(processes=[]), r"processes: .*at least 1"),
        (_base(pois=[{"name": ""}]), r"pois\.0\.name: .*at least 1 character"),
        # wrong literal values
        (_nuisance(width=0.1, prior="cauchy"), r"nuisances\.0\.prior: .*'cauchy'"),
        (_nuisance(width=0.1, acts_on="both"), r"nuisances\.0\.acts_on: .*'both'"),
        (_base(regions=[{"name": "r", "kind": "binned"}]), r"regions\.0\.kind: .*'binned'"),
        # priors
        (_nuisance(), r"nuisances\.0: nuisance 'bkg': a gaussian prior needs a positive 'width'"),
        (
            _nuisance(prior="lognormal", width=-1.0, nominal=1.0),
            r"nuisance 'bkg': a lognormal prior needs a positive 'width', got -1\.0",
        ),
        (
            _nuisance(prior="lognormal", width=0.1, nominal=0.0),
            r"nuisances\.0: nuisance 'bkg': a lognormal prior needs a positive 'nominal'",
        ),
        (_nuisance(prior="uniform"), r"nuisances\.0: nuisance 'bkg': a uniform prior needs"),
        # bounds
        (
            _base(pois=[{"name": "mu", "bounds": [1.0, 1.0]}]),
            r"pois\.0: parameter 'mu': bounds \[1\.0, 1\.0\] are empty",
        ),
        (
            _base(pois=[{"name": "mu", "init": 5.0, "bounds": [0.0, 2.0]}]),
            r"pois\.0: parameter 'mu': start value 5\.0 is outside bounds",
        ),
        (
            _nuisance(width=0.1, nominal=0.0, bounds=[0.5, 1.5]),
            r"nuisances\.0: parameter 'bkg': start value 0\.0 is outside",
        ),
        # modifiers
        (
            _base(
                processes=[{"name": "sig", "modifiers": [{"parameter": "mu", "kind": "lognormal"}]}]
            ),
            r"processes\.0\.modifiers\.0: modifier on 'mu': kind 'lognormal' needs kappa > 0",
        ),
        # the whole declaration
        (
            _base(nuisances=[{"name": "mu", "width": 0.1}]),
            r"parameter name\(s\) \['mu'\] declared more than once",
        ),
        (
            _base(
                processes=[{"name": "sig", "modifiers": [{"parameter": "bkg"}]}, {"name": "sig"}]
            ),
            r"processes: name\(s\) \['sig'\] declared more than once",
        ),
        (
            _base(regions=[{"name": "r"}, {"name": "r"}]),
            r"regions: name\(s\) \['r'\] declared more than once",
        ),
        (
            _base(
                processes=[
                    {"name": "sig", "modifiers": [{"parameter": "nope"}, {"parameter": "bkg"}]}
                ]
            ),
            r"process 'sig': modifier parameter 'nope' is not declared",
        ),
        (
            _base(processes=[{"name": "sig", "modifiers": [{"parameter": "mu"}]}]),
            r"rate nuisance\(s\) \['bkg'\] modify no process",
        ),
    ],
)
def test_validation_errors_name_the_bad_key(data: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        ModelSpec.from_dict(data)
    assert str(info.value).startswith("invalid model declaration: ")
    assert "\n" not in str(info.value)


def test_shape_nuisance_needs_no_modifier() -> None:
    spec = ModelSpec.from_dict(_base(nuisances=[
        {"name": "bkg", "width": 0.1, "nominal": 1.0},
        {"name": "tes", "width": 0.01, "nominal": 1.0, "acts_on": "shape"},
    ]))  # fmt: skip
    assert [n.name for n in spec.shape_nuisances] == ["tes"]


def test_not_a_mapping() -> None:
    with pytest.raises(ConfigError, match="invalid model declaration"):
        ModelSpec.from_dict(["pois"])


def test_unknown_nuisance_lookup() -> None:
    spec = ModelSpec.from_dict(_base())
    with pytest.raises(ConfigError, match=r"no nuisance 'tes'; declared: \['bkg'\]"):
        spec.nuisance("tes")


def test_bad_yaml_and_missing_file(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        ModelSpec.from_yaml_string("pois: [\n")
    with pytest.raises(FileNotFoundError, match="no model file"):
        ModelSpec.from_yaml(tmp_path / "absent.yaml")
