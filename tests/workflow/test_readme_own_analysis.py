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


def test_python_snippet_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", _section(), flags=re.S)
    assert len(blocks) == 1
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
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
