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
