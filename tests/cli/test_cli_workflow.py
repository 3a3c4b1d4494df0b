"""The workflow commands in subprocesses: errors, init, a whole tiny analysis, resumption."""

from __future__ import annotations

import html
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from _cli import ENV, cli_command, one_error_line, run_cli

TOY = """
name: toy
output: out
data: {kind: toy, events_per_process: 1000}
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
  yield_model: {kind: gp, design_points: 2, restarts: 1}
binned: {bins: 4}
inference:
  scan: {points: 5}
  impacts: true
  toys: {n: 3, mu_range: [0.5, 2.0], binned: true}
report: {closure_features: [x0]}
"""


# ---------------------------------------------------------------------------- errors
def test_missing_config_file(tmp_path):
    line = one_error_line(run_cli("fit", str(tmp_path / "nope.yaml")))
    assert "no config file" in line
    assert "unbinned init" in line


def test_bad_config_names_the_key(tmp_path):
    cfg = tmp_path / "a.yaml"
    cfg.write_text(TOY.replace("binned: {bins: 4}", "binned: {bins: 1}"))
    line = one_error_line(run_cli("train", str(cfg)))
    assert "binned.bins: Input should be greater than or equal to 2 (got 1)" in line
    proc = run_cli("--debug", "train", str(cfg))
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr


def test_missing_data_file_is_one_line(tmp_path):
    cfg = tmp_path / "a.yaml"
    cfg.write_text("data: {kind: parquet, train: missing.parquet}\n")
    line = one_error_line(run_cli("train", str(cfg)))
    assert "data.train" in line
    assert "missing.parquet" in line
    assert "does not exist" in line


def test_bad_toy_options(tmp_path):
    cfg = tmp_path / "a.yaml"
    cfg.write_text(TOY)
    line = one_error_line(run_cli("toys", str(cfg), "--n", "-2"))
    assert "non-negative integer" in line
    line = one_error_line(run_cli("toys", str(cfg), "--executor", "gpu"))
    assert "invalid choice" in line


def test_init_writes_a_valid_commented_config(tmp_path):
    proc = run_cli("init", "analysis.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "analysis.yaml").read_text()
    assert text.startswith("#")
    assert "kind: simulator" in text
    line = one_error_line(run_cli("init", "analysis.yaml", cwd=tmp_path))
    assert "exists" in line
    assert "--force" in line
    assert run_cli("init", "o.yaml", "--example", "oracle", cwd=tmp_path).returncode == 0
    from unbinned.workflow import load_config

    assert load_config(tmp_path / "o.yaml").data.kind == "oracle"


# ---------------------------------------------------------------------------- a whole run
@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A tiny toy analysis, killed after training and resumed to the end."""
    pytest.importorskip("unbinned.analysis", reason="the analysis core is not installed")
    d = tmp_path_factory.mktemp("toy")
    cfg = d / "toy.yaml"
    cfg.write_text(TOY)
    out = d / "out"
    first = subprocess.Popen(cli_command("run", str(cfg), "--no-progress"), cwd=d, env=ENV,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 240
    while first.poll() is None and time.monotonic() < deadline:
        if (out / "train" / "step.json").is_file():
            os.killpg(first.pid, signal.SIGKILL)  # interrupt hard, mid-run
            break
        time.sleep(0.05)
    first.communicate(timeout=60)
    killed = first.returncode == -signal.SIGKILL
    for step_dir in out.iterdir():
        if step_dir.is_dir() and not step_dir.name.startswith("."):
            assert (step_dir / "step.json").is_file(), f"{step_dir} half-written"
    second = run_cli("run", str(cfg), "--no-progress", cwd=d)
    assert second.returncode == 0, second.stderr
    return d, cfg, out, killed, second


def test_classifier_recalibrated_on_the_reference(finished_run):
    _, _, out, _, _ = finished_run
    meta = json.loads((out / "train" / "model" / "analysis.json").read_text())["metadata"]
    assert meta["classifier_recalibrated_events"] > 0


def test_yield_model_from_the_config_is_a_designed_gp(finished_run):
    _, _, out, _, _ = finished_run
    from unbinned.analysis import AnalysisModel
    from unbinned.response import GPYieldModel

    model = AnalysisModel.load(out / "train" / "model")
    responses = [r for r in model.surrogate.responses.values() if r is not None]
    assert responses
    for resp in responses:
        assert isinstance(resp.yield_model, GPYieldModel)
        n_points = len(resp.yield_model.gp.to_dict()["x"])
        assert n_points == len(resp.design.points) + 2  # two designed points


def test_interrupted_run_resumes_without_redoing_steps(finished_run):
    _, _, out, killed, second = finished_run
    assert "[simulate] up to date" in second.stderr
    assert "[train] up to date" in second.stderr
    assert killed, "the first run finished before it could be interrupted"
    assert "[validate] running" in second.stderr or "[fit] running" in second.stderr
    assert "[report] running" in second.stderr
    assert not list(out.glob(".*.partial"))
    assert (out / "report" / "report.html").is_file()
    assert "report:" in second.stdout
    assert "mu best fit" in second.stdout


def test_failed_checks_are_warnings_in_the_output_and_the_report(finished_run):
    _, _, out, _, second = finished_run
    summary = json.loads((out / "report" / "summary.json").read_text())
    health = json.loads((out / "validate" / "health.json").read_text())
    assert summary["health"]["fisher_closure"] == health["fisher_closure"]
    assert summary["warnings"][: len(health["warnings"])] == health["warnings"]
    printed = [ln[len("WARNING: "):] for ln in second.stdout.splitlines()
               if ln.startswith("WARNING: ")]  # fmt: skip
    assert printed == summary["warnings"]
    page = (out / "report" / "report.html").read_text()
    assert 'data-key="health.fisher_closure"' in page
    assert ('id="warnings"' in page) == bool(summary["warnings"])


def test_rerun_skips_and_changed_config_reruns_downstream_only(finished_run):
    d, cfg, _, _, _ = finished_run
    again = run_cli("fit", str(cfg), "--json", "--no-progress", cwd=d)
    assert again.returncode == 0, again.stderr
    assert "running" not in again.stderr
    result = json.loads(again.stdout)
    assert result["poi"] == "mu"
    for m in ("unbinned", "binned"):
        r = result["observed"][m]
        assert r["lo"] <= r["value"] <= r["hi"]
    changed = d / "toy2.yaml"
    changed.write_text(TOY.replace("scan: {points: 5}", "scan: {points: 3}"))
    proc = run_cli("scan", str(changed), "--json", "--no-progress", cwd=d)
    assert proc.returncode == 0, proc.stderr
    assert "[train] up to date" in proc.stderr
    assert "[fit] up to date" in proc.stderr
    assert "[scan] running" in proc.stderr
    assert len(json.loads(proc.stdout)["unbinned"]["values"]) == 3


def test_report_in_headless_chromium(finished_run):
    from unbinned.report import format_number, lookup
    from unbinned.report.browser import dump_dom, find_chromium

    if find_chromium() is None:
        pytest.skip(
            "headless Chromium not installed (Debian package 'chromium'); `make test` "
            "installs it with `apt-get install -y chromium`"
        )
    _, _, out, _, _ = finished_run
    page = out / "report" / "report.html"
    summary = json.loads((out / "report" / "summary.json").read_text())
    dom = dump_dom(page)
    keys = re.findall(r'data-key="([^"]+)">([^<]*)<', dom)
    assert len(keys) > 20
    for key, text in keys:
        assert format_number(lookup(summary, key)) == html.unescape(text), key
    shown = {k for k, _ in keys}
    for k in (
        "results.observed.unbinned.value",
        "results.observed.binned.value",
        "results.asimov.unbinned.err_hi",
        "fisher.unbinned.sigma",
        "toys.coverage",
        "toys.binned.coverage",
    ):
        assert k in shown  # fmt: skip
    n_img = len(re.findall(r"<img ", dom))
    assert n_img >= 8
    assert f'data-images-loaded="{n_img}"' in dom
    assert f'data-images-total="{n_img}"' in dom
    assert "http://" not in page.read_text()
    assert "https://" not in page.read_text()


@pytest.mark.slow
def test_demo_quick_end_to_end(tmp_path):
    pytest.importorskip("unbinned.analysis", reason="the analysis core is not installed")
    proc = run_cli("demo", "--quick", "--out", str(tmp_path / "demo"), "--json", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["fit"]["asimov"]["unbinned"]["valid"]
    assert Path(out["report"]).is_file()
    assert out["toys"]["n"] == 3
