"""The README's "Your own analysis" section runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Your own analysis")
    return text[start : text.index("\n## ", start + 10)]


def _blocks() -> list[str]:
    blocks: list[str] = re.findall(r"```python\n(.*?)```", _section(), flags=re.S)
    assert len(blocks) == 2  # files; several regions and POIs
    return blocks


def test_python_snippet_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(_blocks()[0], "README.md", "exec"), namespace)
    m = namespace["model"].measure(namespace["data"])  # type: ignore[attr-defined]
    assert m.valid
    assert 0.3 < m.value < 1.7  # the nominal simulation measured: μ̂ near 1


def test_yaml_excerpt_matches_the_shipped_example() -> None:
    from unbinned.configs import example_text

    shipped = example_text("files")
    for line in ("kind: files", "features: [mass, pt, cos_theta]", "weight: weight",
                 'selection: "pt > 5 and abs(cos_theta) < 0.95"', "region: SR"):  # fmt: skip
        assert line in _section()
        assert line in shipped
    for command in ("unbinned init --example files analysis.yaml", "unbinned run analysis.yaml",
                    "unbinned fit analysis.yaml --observed data.parquet"):  # fmt: skip
        assert command in _section()  # run by tests/cli/test_cli_files.py


def test_yaml_excerpt_with_a_weight_nuisance_builds(tmp_path: Path) -> None:
    """The excerpt's data section (its [...] filled with the example's files, which get the
    weight columns it names) and its qcd_scale nuisance: the source has the mixed point."""
    import pandas as pd
    import yaml

    from unbinned.configs import example_text
    from unbinned.workflow import AnalysisConfig
    from unbinned.workflow.data import training_source
    from unbinned.workflow.examples import write_example_samples

    write_example_samples(tmp_path / "samples", events_per_process=200)
    for path in (tmp_path / "samples").glob("*.parquet"):
        f = pd.read_parquet(path)
        f.assign(weight_muR_up=1.1 * f["weight"], weight_muR_down=0.9 * f["weight"]).to_parquet(
            path
        )
    section = _section()
    data = yaml.safe_load(re.findall(r"```yaml\n(.*?)```", section, flags=re.S)[0])["data"]
    tags = {0.98: "down", 1.02: "up"}
    for v in data["variations"]:
        if "files" in v:
            assert v["files"] == {"signal": ["..."], "background": ["..."]}
            tag = tags[v["at"]["energy_scale"]]
            v["files"] = {p: [f"samples/{p}_escale_{tag}.parquet"] for p in v["files"]}
    qcd = yaml.safe_load(re.findall(r"`(\{name: qcd_scale,.*?\})`", section, flags=re.S)[0])
    cfg = yaml.safe_load(example_text("files"))
    cfg["data"] = data
    cfg["model"]["nuisances"].append(qcd)
    config = AnalysisConfig.from_yaml_string(yaml.safe_dump(cfg), base_dir=tmp_path)
    src = training_source(config, tmp_path).source
    assert src.design.nuisance_names == ("energy_scale", "qcd_scale")
    assert [1.0, 1.0] in src.points.round(9).tolist()  # the mixed point: the cross term
    both, up = src.varied("background", [1.0, 1.0]), src.varied("background", [1.0, 0.0])
    assert both.weights.sum() == pytest.approx(1.1 * up.weights.sum())


def test_several_regions_and_pois_snippet_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    with pytest.warns(UserWarning, match="optimiser steps"):  # the snippet's small training
        exec(compile(_blocks()[1], "README.md", "exec"), namespace)
    m = namespace["expected"]
    assert m.valid  # type: ignore[attr-defined]
    assert m["mu_peak"].value == pytest.approx(1.0, abs=1e-3)  # type: ignore[index]
    assert -1 < namespace["rho"] < 1  # type: ignore[operator]
    assert namespace["scan"].delta_q.shape == (3, 3)  # type: ignore[attr-defined]
    assert "corr(mu, mu_peak)" in capsys.readouterr().out
    section = _section()
    for text in (
        'data: {callable: "mymodule:vary"}',
        "leave-one-out closure",
        "unbinned init --example two_poi analysis.yaml",
        "production_modes: true",
    ):
        assert text in section  # fmt: skip
    from unbinned.configs import example_text

    assert "production_modes: true" in example_text("two_poi")
