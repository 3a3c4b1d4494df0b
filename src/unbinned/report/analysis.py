"""Assemble the report of a finished analysis from its step outputs.

:func:`build_report` reads the outputs of the ``fit``, ``scan``, ``toys`` and
``validate`` steps, draws the plots (:mod:`unbinned.plot`), and writes
``report.html`` (plots embedded) and ``summary.json`` (every number on the page,
under the key the page's ``data-key`` attributes name) plus the plots as PNG files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from unbinned._version import __version__
from unbinned.analysis import Scan2D
from unbinned.infer import FisherResult, FitResult, Impact, ProfileScan, Pull
from unbinned.ml.diagnostics import ReliabilityDiagram
from unbinned.plot import (
    plot_calibration,
    plot_coverage,
    plot_fisher_comparison,
    plot_impacts,
    plot_mu_hat_vs_mu,
    plot_pulls,
    plot_reweighting,
    plot_scan,
    plot_scan_2d,
    style,
)
from unbinned.report.html import Cell, Figure, Section, Table, figure_png, write_report

__all__ = ["build_report", "result_rows"]


def _read(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def result_rows(summary: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(dataset, method, key prefix) of each measurement in the summary's ``results``."""
    rows = []
    for ds in ("asimov", "observed"):
        for method in ("unbinned", "binned"):
            if summary["results"][ds].get(method):
                rows.append((ds, method, f"results.{ds}.{method}"))
    return rows


def _pct(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not b or not math.isfinite(a) or not math.isfinite(b):
        return None
    return 100.0 * (1.0 - a / b)


def _png(draw: Any, **subplots: Any) -> bytes:
    import matplotlib.pyplot as plt  # optional extra (plot): only drawing needs it

    with style():
        fig, ax = plt.subplots(**subplots)
        draw(ax)
        fig.tight_layout()
        return figure_png(fig)


def _results_section(summary: dict[str, Any], scan: Any) -> Section:
    poi = summary["poi"]
    rows: list[list[Cell | str]] = []
    for ds, method, k in result_rows(summary):
        rows.append([
            "Asimov (expected)" if ds == "asimov" else "observed",
            method,
            Cell(key=f"{k}.value"), Cell(key=f"{k}.err_lo"), Cell(key=f"{k}.err_hi"),
            Cell(key=f"{k}.lo"), Cell(key=f"{k}.hi"), Cell(key=f"{k}.valid"),
        ])  # fmt: skip
    tables = [
        Table(
            f"Best fit and 68 % profile-likelihood interval of {poi}",
            ["dataset", "method", f"{poi} best fit", "−σ", "+σ", "68 % low", "68 % high", "valid"],
            rows,
        )
    ]
    cmp_rows: list[list[Cell | str]] = [
        [ds, Cell(key=f"comparison.{ds}.unbinned_width"), Cell(key=f"comparison.{ds}.binned_width"),
         Cell(key=f"comparison.{ds}.gain_percent")]
        for ds in summary["comparison"]
    ]  # fmt: skip
    if cmp_rows:
        tables.append(
            Table(
                "Unbinned against binned: width of the 68 % interval",
                ["dataset", "unbinned", "binned", "unbinned narrower by (%)"],
                cmp_rows,
            )
        )
    truth = summary["results"].get("truth")
    if truth:
        tables.append(
            Table(
                "True parameter values of the pseudo-experiment",
                ["parameter", "true value"],
                [[n, Cell(key=f"results.truth.{n}")] for n in truth],
            )
        )
    figures = []
    if scan:
        scans = {
            m: ProfileScan(
                poi,
                np.asarray(scan[m]["values"]),
                np.asarray(scan[m]["delta_q"]),
                np.asarray(scan[m]["valid"], dtype=bool),
                scan[m]["best"],
            )
            for m in ("unbinned", "binned")
            if m in scan
        }
        figures.append(
            Figure(
                "scan",
                f"Profile-likelihood scan of {poi} on the observed data, unbinned and binned, "
                "with the 68 % and 95 % lines",
                _png(lambda ax: plot_scan(scans, ax=ax)),
            )
        )
    text = (
        "The unbinned likelihood uses every event's learned density ratio; the binned "
        "baseline histograms the classifier's signal fraction with the same nuisances."
    )
    return Section("Result", text, tables, figures)


def _scan_2d_objects(scan2: Mapping[str, Any]) -> dict[str, Scan2D]:
    """The ``scan`` step's 2-D scans (``scan.json``'s ``scan_2d``) as :class:`Scan2D` objects."""
    out = {}
    pois = tuple(scan2["pois"])
    for method in ("unbinned", "binned"):
        d = scan2.get(method)
        if not d:
            continue
        best = dict(d["best"])
        names = tuple(best)
        zeros = np.zeros((len(names), len(names)))
        fit = FitResult(names, best, dict.fromkeys(names, 0.0), zeros, 0.0, True, 0.0, 0, 0, "")
        dq = np.asarray([[np.inf if v is None else v for v in row] for row in d["delta_q"]],
                        dtype=np.float64)  # fmt: skip
        out[method] = Scan2D((pois[0], pois[1]), np.asarray(d["x"], dtype=np.float64),
                             np.asarray(d["y"], dtype=np.float64), dq, fit, method)  # fmt: skip
    return out


def _pois_section(summary: dict[str, Any], scan: Any) -> Section | None:
    """Several POIs: each one's best fit and interval, their correlation, the 2-D contours."""
    several = summary["results"].get("several_pois") or {}
    if not any(several.values()):
        return None
    rows: list[list[Cell | str]] = []
    corr_rows: list[list[Cell | str]] = []
    for ds in ("asimov", "observed"):
        d = several.get(ds)
        if not d:
            continue
        label = "Asimov (expected)" if ds == "asimov" else "observed"
        for method, part in (("unbinned", d), ("binned", d.get("binned"))):
            if not part:
                continue
            key = f"results.several_pois.{ds}" + ("" if method == "unbinned" else ".binned")
            for name in part["pois"]:
                k = f"{key}.pois.{name}"
                rows.append([label, method, name, Cell(key=f"{k}.value"), Cell(key=f"{k}.err_lo"),
                             Cell(key=f"{k}.err_hi"), Cell(key=f"{k}.valid")])  # fmt: skip
            for pair in part["correlation"]:
                corr_rows.append([label, method, f"ρ({pair.replace(',', ', ')})",
                                  Cell(key=f"{key}.correlation.{pair}")])  # fmt: skip
    tables = [
        Table("Every parameter of interest: best fit and 68 % profile-likelihood interval "
              "(each profiled over every other parameter, the other POIs included)",
              ["dataset", "method", "POI", "best fit", "−σ", "+σ", "valid"], rows),
        Table("Correlation of the POIs in the global fit",
              ["dataset", "method", "POIs", "correlation"], corr_rows),
    ]  # fmt: skip
    figures = []
    scan2 = (scan or {}).get("scan_2d")
    if scan2:
        scans = _scan_2d_objects(scan2)
        if scans and all(s.x.size >= 2 and s.y.size >= 2 for s in scans.values()):
            a, b = scan2["pois"]
            figures.append(
                Figure(
                    "scan_2d",
                    f"Joint 68 % (solid) and 95 % (dashed) regions of {a} and {b} on the "
                    "observed data, unbinned and binned (profiled Δq = 2.30, 5.99)",
                    _png(lambda ax: plot_scan_2d(scans, ax=ax)),
                )
            )
    return Section("Parameters of interest", "", tables, figures)


def _fisher_section(summary: dict[str, Any], fisher: Mapping[str, Any]) -> Section:
    poi = summary["poi"]
    rows: list[list[Cell | str]] = [
        [m, Cell(key=f"fisher.{m}.sigma_stat"), Cell(key=f"fisher.{m}.sigma")]
        for m in summary["fisher"]
    ]
    res = {
        m: FisherResult(
            tuple(f["parameter_names"]),
            tuple(f["floating"]),
            np.asarray(f["information"], dtype=np.float64),
            dict(f["point"]),
        )
        for m, f in fisher.items()
    }
    fig = Figure(
        "fisher",
        f"Expected uncertainty of {poi} from the Fisher information on the Asimov dataset",
        _png(lambda ax: plot_fisher_comparison(res, poi, ax=ax)),
    )
    table = Table(
        f"Expected σ({poi}) from the Fisher information (Asimov)",
        ["method", "nuisances fixed", "nuisances profiled"],
        rows,
    )
    return Section("Expected precision", "", [table], [fig])


def _nuisance_section(summary: dict[str, Any]) -> Section | None:
    pulls = summary["pulls"]
    # every POI's impacts, the headline POI first (a summary of before: its alone)
    by_poi = {summary["poi"]: summary["impacts"]} | {
        p: v for p, v in (summary.get("impacts_by_poi") or {}).items() if p != summary["poi"]
    }
    if not pulls and not any(by_poi.values()):
        return None
    tables = []
    figures = []
    if pulls:
        tables.append(
            Table(
                "Pulls (θ̂ − θ₀)/σ_prior and constraints σ_post/σ_prior",
                ["nuisance", "pull", "constraint"],
                [[p["nuisance"], Cell(key=f"pulls.{i}.pull"), Cell(key=f"pulls.{i}.constraint")]
                 for i, p in enumerate(pulls)],
            )
        )  # fmt: skip
        objs = [Pull(p["nuisance"], p["pull"], p["constraint"]) for p in pulls]
        figures.append(
            Figure(
                "pulls", "Nuisance pulls and constraints", _png(lambda ax: plot_pulls(objs, ax=ax))
            )
        )
    for poi, found in by_poi.items():
        if not found:
            continue
        nan = math.nan
        objs_i = [
            Impact(i["nuisance"], i["up"] if i["up"] is not None else nan,
                   i["down"] if i["down"] is not None else nan,
                   i["prefit_up"] if i["prefit_up"] is not None else nan,
                   i["prefit_down"] if i["prefit_down"] is not None else nan)
            for i in found
        ]  # fmt: skip
        # the headline POI's rows keep their keys (impacts.K); the others: impacts_by_poi
        base = "impacts" if poi == summary["poi"] else f"impacts_by_poi.{poi}"
        tables.append(
            Table(
                f"Impacts on {poi} (post-fit ±1σ)",
                ["nuisance", "+1σ", "−1σ"],
                [[i["nuisance"], Cell(key=f"{base}.{k}.up"), Cell(key=f"{base}.{k}.down")]
                 for k, i in enumerate(found)],
            )
        )  # fmt: skip
        figures.append(
            Figure(
                "impacts" if poi == summary["poi"] else f"impacts-{poi}",
                f"Impact ranking of the nuisances on {poi}",
                _png(lambda ax, o=objs_i, p=poi: plot_impacts(o, ax=ax, poi=p)),
            )
        )
    return Section("Nuisance parameters", "", tables, figures)


def _toys_section(summary: dict[str, Any], toy_rows: Any) -> Section | None:
    t = summary.get("toys")
    if not t:
        return None
    keys = [
        ("pseudo-experiments", "n"), ("valid", "n_valid"), ("failed", "n_failed"),
        ("coverage of the 68 % interval", "coverage"), ("± (binomial)", "coverage_error"),
        ("bias of μ̂", "bias"), ("± (bias)", "bias_error"), ("pull mean", "pull_mean"),
        ("pull width", "pull_width"), ("mean interval width", "mean_width"),
    ]  # fmt: skip
    binned = t.get("binned")
    rows: list[list[Cell | str]] = []
    for label, k in keys:
        if k in t:
            rows.append([label, Cell(key=f"toys.{k}")])
            if binned:
                rows[-1].append(Cell(key=f"toys.binned.{k}"))
    table = Table(
        "Pseudo-experiment study" + (f" ({summary['poi']})" if t.get("pois") else ""),
        ["quantity", "unbinned"] + (["binned"] if binned else []),
        rows,
    )
    tables = [table]
    per_poi = t.get("pois") or {}
    if per_poi:
        poi_rows: list[list[Cell | str]] = []
        for name, one in per_poi.items():
            for label, k in (("coverage of the 68 % interval", "coverage"),
                             ("± (binomial)", "coverage_error"), ("bias", "bias"),
                             ("pull width", "pull_width")):  # fmt: skip
                row: list[Cell | str] = [name, label, Cell(key=f"toys.pois.{name}.{k}")]
                if one.get("binned"):
                    row.append(Cell(key=f"toys.pois.{name}.binned.{k}"))
                poi_rows.append(row)
        tables.append(
            Table("Coverage of each POI (each drawn on its own in every pseudo-experiment)",
                  ["POI", "quantity", "unbinned"] + (["binned"] if binned else []), poi_rows)
        )  # fmt: skip
    figures = []
    if toy_rows is not None and t.get("n_valid"):
        figures.append(
            Figure("mu_hat_vs_mu", "μ̂ and its 68 % interval against the true μ",
                   _png(lambda ax: plot_mu_hat_vs_mu(toy_rows, ax=ax)))
        )  # fmt: skip
        figures.append(
            Figure("coverage", "Coverage of the 68 % intervals in bins of the true μ",
                   _png(lambda ax: plot_coverage(toy_rows, ax=ax)))
        )  # fmt: skip
    sampling = t.get("sampling") or {}
    text = f"Pseudo-data: {sampling['description']}." if sampling.get("description") else ""
    if sampling.get("warning"):
        text += f" Warning: {sampling['warning']}."
    return Section("Pseudo-experiments", text, tables, figures)


def _validation_section(summary: dict[str, Any], diag: Mapping[str, Any]) -> Section | None:
    if not diag:
        return None
    rel = diag["reliability"]
    arr = {k: np.asarray(rel[k]) for k in ("predicted", "observed", "observed_error", "bin_weight")}
    diagram = ReliabilityDiagram(
        tuple(rel["processes"]), **arr, calibration_error=dict(rel["calibration_error"])
    )
    figures = [
        Figure("calibration", "Classifier calibration on held-out nominal simulation",
               _png(lambda ax: plot_calibration(diagram, ax=ax)))
    ]  # fmt: skip
    tables = [
        Table(
            "Calibration error (weight-averaged |predicted − observed|)",
            ["process", "calibration error"],
            [[p, Cell(key=f"validation.calibration_error.{p}")] for p in rel["processes"]],
        )
    ]
    closure = diag["closure"]
    if closure:
        tables.append(
            Table(
                "Reweighting closure: χ²/ndf of nominal × R against varied simulation",
                ["process", "nuisance", "value", "feature", "χ²/ndf"],
                [[c["process"], c["nuisance"], Cell(key=f"validation.closure.{i}.value"),
                  c["feature"], Cell(key=f"validation.closure.{i}.chi2_ndf")]
                 for i, c in enumerate(closure)],
            )
        )  # fmt: skip
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for c in closure:
            groups.setdefault((c["process"], c["nuisance"]), []).append(c)
        shown = list(dict.fromkeys(c["process"] for c in closure))[:2]
        for (proc, nuis), entries in groups.items():
            if proc not in shown:
                continue

            def draw(axes: Any, entries: list[dict[str, Any]] = entries) -> None:
                for ax, c in zip(np.atleast_1d(axes), entries, strict=False):
                    plot_reweighting(
                        c["edges"], c["nominal"], c["varied"], c["reweighted"],
                        varied_error=c["varied_error"], feature=c["feature"],
                        label=f"{c['nuisance']} = {c['value']:.4g}", ax=ax,
                    )  # fmt: skip

            figures.append(
                Figure(
                    f"closure-{proc}-{nuis}",
                    f"{proc}: nominal and varied ({nuis}) distributions with the learned "
                    "reweighting overlaid",
                    _png(draw, ncols=len(entries), figsize=(5.0 * len(entries), 4.2)),
                )
            )
    loo = diag.get("leave_one_out") or {}
    if loo.get("chi2_ndf"):
        tables.append(
            Table(
                "Leave-one-out closure: each variation point held out of the training in turn "
                "(χ²/ndf in classifier-score bins)",
                ["held-out point (ν)", "χ²/ndf"],
                [[str(r["nu"]), f"{r['chi2_ndf']:.2f}"] for r in loo["chi2_ndf"]],
            )
        )
    return Section("Surrogate validation", str(loo.get("note", "")), tables, figures)


_HEALTH_ROWS = (
    ("worst |true/claimed − 1| of the signal fraction (20 equal-signal bins)",
     "fraction_closure_worst", "≤ 0.05"),
    ("claimed over true stat-only information on the POI (Fisher closure)",
     "fisher_closure", "1 ± 0.05"),
    ("± (Monte Carlo)", "fisher_closure_error", ""),
    ("claimed over true signal yield", "claimed_total_ratio", "1"),
    ("worst χ²/ndf of the response closure in the signal-like tail",
     "response_tail_chi2ndf_max", "≤ 2"),
    ("learned over exact information", "exact_information_ratio", "≤ 1"),
)  # fmt: skip


def _health_numbers(health: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The health report's headline numbers for the summary (None: not run)."""
    if not health:
        return None
    return {k: health.get(k) for _, k, _ in _HEALTH_ROWS} | {"passed": health.get("passed")}


def _health_section(summary: dict[str, Any]) -> Section | None:
    h = summary.get("health")
    if not h:
        return None
    rows: list[list[Cell | str]] = [
        [label, Cell(key=f"health.{k}"), target]
        for label, k, target in _HEALTH_ROWS
        if h.get(k) is not None
    ]
    verdict = "every check passed" if h.get("passed") else "FAILED (see the warnings at the top)"
    return Section(
        "Surrogate health",
        "The learned densities checked on held-out simulation "
        f"(unbinned.analysis.surrogate_health): {verdict}.",
        [Table("Self-checks of the surrogates", ["check", "value", "target"], rows)],
    )


def _read_outputs(ws: Any) -> tuple[Any, Any, pd.DataFrame | None, Any]:
    """The outputs of the scan, toys and validate steps (None where absent)."""
    scan = _read(ws.step_dir("scan") / "scan.json")
    toys = _read(ws.step_dir("toys") / "summary.json") or None
    toy_rows_path = ws.step_dir("toys") / "toys.jsonl"
    toy_rows = (
        pd.read_json(toy_rows_path, lines=True)
        if toy_rows_path.is_file() and toy_rows_path.stat().st_size
        else None
    )
    diag = _read(ws.step_dir("validate") / "diagnostics.json")
    return scan, toys, toy_rows, diag


def _comparison(fit: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Unbinned against binned interval widths, per dataset where both exist."""
    comparison = {}
    for ds in ("asimov", "observed"):
        u, b = fit[ds]["unbinned"], fit[ds]["binned"]
        if u and b:
            comparison[ds] = {
                "unbinned_width": u["width"],
                "binned_width": b["width"],
                "gain_percent": _pct(u["width"], b["width"]),
            }
    return comparison


def _summary(
    cfg: Any, fit: Mapping[str, Any], toys: Any, diag: Any, seconds: Mapping[str, float]
) -> dict[str, Any]:
    """The JSON summary: every number the page shows, under its ``data-key``."""
    return {
        "name": cfg.name,
        "title": cfg.report.title or f"unbinned analysis: {cfg.name}",
        "unbinned_version": __version__,
        "poi": fit["poi"],
        "n_observed": fit["n_observed"],
        "results": {
            "asimov": fit["asimov"],
            "observed": fit["observed"],
            "truth": fit["truth"],
            "asimov_point": fit["asimov_point"],
            "several_pois": fit.get("several_pois"),
        },
        "comparison": _comparison(fit),
        "fisher": {
            m: {"sigma": f["sigma"], "sigma_stat": f["sigma_stat"]}
            for m, f in fit["fisher"].items()
        },
        "pulls": fit["pulls"],
        "impacts": fit["impacts"],
        "impacts_by_poi": fit.get("impacts_by_poi") or {fit["poi"]: fit["impacts"]},
        "toys": toys,
        "validation": {
            "calibration_error": (diag or {}).get("reliability", {}).get("calibration_error"),
            "closure": [
                {k: c[k] for k in ("process", "nuisance", "value", "feature", "chi2_ndf")}
                for c in (diag or {}).get("closure", [])
            ],
        },
        "steps_seconds": dict(seconds),
        "config": cfg.model_dump(mode="json"),
    }


def build_report(analysis: Any, directory: Path, seconds: Mapping[str, float]) -> tuple[Path, Path]:
    """Write the report of a finished :class:`~unbinned.workflow.Analysis` into ``directory``.

    Returns
    -------
    tuple of Path
        ``report.html`` and ``summary.json``.
    """
    ws = analysis.workspace
    cfg = analysis.config
    fit = analysis.fit_result()
    scan, toys, toy_rows, diag = _read_outputs(ws)
    summary = _summary(cfg, fit, toys, diag, seconds)
    summary["warnings"] = list(analysis.warnings())
    summary["health"] = _health_numbers(analysis.health())
    sections = [_results_section(summary, scan)]
    pois_section = _pois_section(summary, scan)
    if pois_section is not None:
        sections.append(pois_section)
    sections.append(_fisher_section(summary, fit["fisher"]))
    for s in (
        _nuisance_section(summary),
        _toys_section(summary, toy_rows),
        _validation_section(summary, diag or {}),
        _health_section(summary),
    ):
        if s is not None:
            sections.append(s)
    sections.append(
        Section(
            "Run",
            f"Output folder {ws.root}; unbinned {__version__}.",
            [Table("Wall time of the steps (s)", ["step", "seconds"],
                   [[s, Cell(key=f"steps_seconds.{s}")] for s in seconds])],
        )
    )  # fmt: skip
    plots = directory / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    for s in sections:
        for f in s.figures:
            (plots / f"{f.name}.png").write_bytes(f.png)
    return write_report(directory, summary["title"], sections, summary, meta=f"config: {cfg.name}",
                        warnings=summary["warnings"])  # fmt: skip
