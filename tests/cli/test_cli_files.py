"""``data: kind: files`` on the command line: the shipped example end to end, errors, --observed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _cli import one_error_line, run_cli

SMALL = {  # the shipped example, smaller: seconds instead of a minute
    "classifier: {hidden: [32, 32], epochs: 12, batch_size: 1024}":
        "classifier: {hidden: [16], epochs: 3, batch_size: 512}",
    "response: {hidden: [32, 32], epochs: 12, batch_size: 1024}":
        "response: {hidden: [16], epochs: 3, batch_size: 512}",
    "scan: {points: 21}": "scan: {points: 5}",
    "toys: {n: 20, mu_range: [0.5, 2.0]}": "toys: {n: 2, mu_range: [0.5, 2.0]}",
}  # fmt: skip


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``unbinned init --example files`` in a fresh folder, made small."""
    d = tmp_path_factory.mktemp("files")
    proc = _run("init", "analysis.yaml", "--example", "files", cwd=d)
    assert proc.returncode == 0, proc.stderr
    assert "example sample files" in proc.stdout
    text = (d / "analysis.yaml").read_text()
    for old, new in SMALL.items():
        assert old in text, old
        text = text.replace(old, new)
    (d / "small.yaml").write_text(text)
    return d


def test_example_runs_end_to_end(example: Path) -> None:
    proc = _run("run", "small.yaml", "--no-progress", cwd=example)
    assert proc.returncode == 0, proc.stderr
    out = example / "my-analysis-output"
    result = json.loads((out / "fit" / "result.json").read_text())
    assert result["observed"]["unbinned"]["valid"]
    assert (out / "report" / "report.html").is_file()
    diag = json.loads((out / "validate" / "diagnostics.json").read_text())
    assert {c["value"] for c in diag["closure"]} == {1.02}  # the provided +1σ point
    assert "closure of signal at energy_scale = 1.02" in proc.stderr + proc.stdout


def test_fit_observed_file(example: Path) -> None:
    rng = np.random.default_rng(1)
    frames = [pd.read_parquet(example / "samples" / f) for f in ("signal.parquet",
                                                                 "background.parquet")]  # fmt: skip
    nominal = pd.concat(frames, ignore_index=True)
    k = rng.poisson(nominal["weight"].to_numpy())
    data = nominal.loc[np.repeat(np.arange(len(nominal)), k), ["mass", "pt", "cos_theta"]]
    data.to_parquet(example / "data.parquet")
    proc = _run("fit", "small.yaml", "--observed", "data.parquet", "--json", "--no-progress",
                cwd=example)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "[train] up to date" in proc.stderr + proc.stdout  # measured with the trained model
    result = json.loads((example / "my-analysis-output" / "fit" / "result.json").read_text())
    assert result["n_observed"] == pytest.approx(float((data.eval("mass > 60 and pt > 5 and "
                                                  "abs(cos_theta) < 0.95")).sum()))  # fmt: skip
    line = one_error_line(_run("fit", "small.yaml", "--observed", "nope.parquet", cwd=example))
    assert "--observed: no file" in line


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'selection: "pt > 5 and abs(cos_theta) < 0.95"',
            'selection: "pt > 5 and"',
            "data: selection 'pt > 5 and' does not parse",
        ),
        (
            "at: {energy_scale: 1.02}",
            "at: {energy_scale: 1.2}",
            "data.variations[1]: energy_scale=1.2 lies outside the nuisance's bounds [0.9, 1.1]",
        ),
        (
            "samples/signal_escale_up.parquet",
            "samples/nope.parquet",
            "data.variations[1] signal: no file",
        ),
        (
            "features: [mass, pt, cos_theta]",
            "features: [mass, pt, eta]",
            "lacks the feature column(s) ['eta']",
        ),
        ('SR: "mass > 60"', 'SR: "mass > 600"', "process 'signal' has no events in region 'SR'"),
        ("at: {energy_scale: 1.02}", "at: {tes: 1.02}", "'tes' is not a shape nuisance"),
    ],
)
def test_bad_input_is_one_line(example: Path, old: str, new: str, message: str) -> None:
    text = (example / "small.yaml").read_text()
    assert old in text
    (example / "bad.yaml").write_text(text.replace(old, new).replace("my-analysis-output", "bad"))
    line = one_error_line(_run("train", "bad.yaml", "--no-progress", cwd=example))
    assert message in line, line


@pytest.mark.slow
def test_shipped_example_covers(tmp_path: Path) -> None:
    """The shipped example as written: 200 pseudo-experiments cover within their window.

    (0.68 ± 0.033 when written: 200 toys in 16 s after a 5 s training, 2 cores.)
    """
    assert _run("init", "analysis.yaml", "--example", "files", cwd=tmp_path).returncode == 0
    proc = _run("toys", "analysis.yaml", "--n", "200", "--json", "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "my-analysis-output" / "toys" / "summary.json").read_text())
    assert summary["n_valid"] == 200
    lo, hi = summary["score"]["window"]
    assert lo <= summary["coverage"] <= hi
    assert abs(summary["pull_width"] - 1.0) < 0.2
