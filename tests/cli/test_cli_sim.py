from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from unbinned.cli import main


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "unbinned.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_simulate_writes_selected_sample(tmp_path):
    out = tmp_path / "sim.parquet"
    proc = _run("simulate", "--events-per-process", "2000", "--seed", "3", "--out", str(out),
                "--tes", "1.02", "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["nuisances"]["tes"] == 1.02
    df = pd.read_parquet(out)
    assert (df["PRI_had_pt"] >= 26).all()
    assert set(df["detailed_labels"]) <= {"htautau", "ztautau", "ttbar", "diboson"}
    assert "production_mode" in df.columns


def test_simulate_raw_and_pseudo_experiment(tmp_path, capsys):
    raw = tmp_path / "raw.parquet"
    assert main(["simulate", "--events-per-process", "3000", "--out", str(raw), "--raw"]) == 0
    assert (pd.read_parquet(raw)["PRI_had_pt"] < 26).any()
    pe = tmp_path / "pe.parquet"
    code = main(["pseudo-experiment", "--mu", "1.5", "--seed", "4", "--from", str(raw),
                 "--out", str(pe), "--draw-nuisances", "--json"])  # fmt: skip
    assert code == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert info["mu"] == 1.5
    df = pd.read_parquet(pe)
    assert (df["weights"] == 1.0).all()
    assert len(df) == info["n_events"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["simulate", "--events-per-process", "-5", "--out", "x.parquet"], "positive integer"),
        (["simulate", "--events-per-process", "10", "--out", "x.csv"], "must be a .parquet"),
        (["simulate", "--out", "/nonexistent/dir/x.parquet"], "does not exist"),
        (["simulate", "--out", "x.parquet", "--tes", "abc"], "not a number"),
        (
            ["pseudo-experiment", "--mu", "1", "--out", "x.parquet", "--from", "missing.parquet"],
            "no file",
        ),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_options_exit_2_with_one_line(args, message):
    proc = _run(*args)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.startswith("unbinned")]
    assert len(lines) == 1, proc.stderr
    assert message in lines[0]
    assert "Traceback" not in proc.stderr


def test_nonsense_nuisance_is_one_line_error(tmp_path):
    proc = _run("simulate", "--events-per-process", "100", "--out", str(tmp_path / "a.parquet"),
                "--tes", "-1")  # fmt: skip
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "tes" in proc.stderr
