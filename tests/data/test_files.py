"""User samples from files (unbinned.data.files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from unbinned.data.files import FileSamples
from unbinned.exceptions import ConfigError, DataError


def _write(path: Path, n: int, offset: float, **extra: object) -> None:
    rng = np.random.default_rng(int(offset * 10) + n)
    df = pd.DataFrame(
        {
            "x": rng.normal(offset, 1.0, n),
            "pt": np.linspace(0.0, 100.0, n),
            "w": np.full(n, 0.5),
            **{k: np.full(n, v) for k, v in extra.items()},
        }
    )
    df.to_parquet(path)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    _write(tmp_path / "sig_1.parquet", 50, 1.0)
    _write(tmp_path / "sig_2.parquet", 30, 1.0)
    _write(tmp_path / "bkg.parquet", 100, 0.0)
    return tmp_path


def test_load_globs_selection_regions(folder: Path) -> None:
    s = FileSamples({"sig": ["sig_*.parquet"], "bkg": ["bkg.parquet"]}, features=["x", "pt"],
                    weight="w", selection="pt >= 0", regions={"high": "pt > 50"},
                    base_dir=folder)  # fmt: skip
    ev = s.load()
    assert ev.process_names == ("sig", "bkg")
    assert ev.feature_names == ("x", "pt")
    assert ev.yields() == {"sig": 40.0, "bkg": 50.0}
    ids = ev.for_process("sig").extras["event_id"].to_numpy()
    assert ids.tolist() == list(range(80))  # row numbers over the sorted files
    high = s.load("high")
    assert np.all(high.features["pt"] > 50)
    assert s.region_selection("high") == "(pt >= 0) and (pt > 50)"
    assert "2 processes" in repr(s)
    # before the selection (for a function that varies the events), then selected
    frames = s.frames("high", columns=["w"])
    assert set(frames) == {"sig", "bkg"}
    assert len(frames["sig"]) == 80
    assert {"x", "pt", "w", "event_id"} <= set(frames["sig"].columns)
    keep = s.passes(frames["sig"], "high")
    assert int(keep.sum()) == high.for_process("sig").n_events


def test_label_column(folder: Path) -> None:
    frames = [pd.read_parquet(folder / f) for f in ("sig_1.parquet", "bkg.parquet")]
    frames[0]["proc"], frames[1]["proc"] = 1, 0
    pd.concat(frames).to_parquet(folder / "all.parquet")
    s = FileSamples(["sig", "bkg"], features=["x"], files=["all.parquet"], label_column="proc",
                    labels={1: "sig", 0: "bkg"}, base_dir=folder)  # fmt: skip
    assert s.load().summary().processes[0].n_events == 50
    # a mapping of files per process with a label column: each process's own events
    sig = s.load(files={"sig": ["all.parquet"]})
    assert sig.summary().processes[0].n_events == 50
    assert sig.summary().processes[1].n_events == 0
    with pytest.raises(DataError, match=r"'proc' has value\(s\) \[1.0\]"):
        FileSamples(["bkg"], features=["x"], files=["all.parquet"], label_column="proc",
                    labels={0: "bkg"}, base_dir=folder).load()  # fmt: skip


def test_observed(folder: Path) -> None:
    s = FileSamples({"sig": ["sig_1.parquet"]}, features=["x"], weight="w", base_dir=folder)
    data = s.load_data(["bkg.parquet"])
    assert data.process_names == ("data",)
    assert data.sum_weights == 50.0


def test_declaration_errors(folder: Path) -> None:
    with pytest.raises(ConfigError, match="does not parse"):
        FileSamples({"a": ["x"]}, features=["x"], selection="pt >")
    with pytest.raises(ConfigError, match=r"regions.SR: selection 'pt.real > 1'"):
        FileSamples({"a": ["x"]}, features=["x"], regions={"SR": "pt.real > 1"})
    with pytest.raises(ConfigError, match="label_column"):
        FileSamples(["a"], features=["x"])
    with pytest.raises(ConfigError, match="unique"):
        FileSamples({"a": ["x"]}, features=["x", "x"])
    with pytest.raises(ConfigError, match="not processes"):
        FileSamples(["a"], features=["x"], files=["f"], label_column="l", labels={0: "b"})


def test_file_errors(folder: Path) -> None:
    base = {"features": ["x"], "weight": "w", "base_dir": folder}
    with pytest.raises(
        DataError, match=r"nominal 'sig': the pattern 'nope_\*.parquet' matches no file"
    ):
        FileSamples({"sig": ["nope_*.parquet"]}, **base).load()
    with pytest.raises(DataError, match="no file .*missing.parquet"):
        FileSamples({"sig": ["missing.parquet"]}, **base).load()
    pd.read_parquet(folder / "bkg.parquet").drop(columns="x").to_parquet(folder / "nox.parquet")
    with pytest.raises(DataError, match=r"nox.parquet' lacks the feature column\(s\) \['x'\]"):
        FileSamples({"sig": ["sig_1.parquet", "nox.parquet"]}, **base).load()
    df = pd.read_parquet(folder / "bkg.parquet")
    df.loc[3, "w"] = np.nan
    df.to_parquet(folder / "nan.parquet")
    with pytest.raises(DataError, match="weight column 'w' has 1 NaN .* row 3"):
        FileSamples({"sig": ["nan.parquet"]}, **base).load()
    with pytest.raises(DataError, match="process 'sig' has no events in region 'SR'"):
        FileSamples({"sig": ["sig_1.parquet"]}, regions={"SR": "pt > 1000"}, **base).load("SR")
    with pytest.raises(ConfigError, match="unknown region"):
        FileSamples({"sig": ["sig_1.parquet"]}, **base).load("CR")
    with pytest.raises(DataError, match=r"lacks the selection column\(s\) \['eta'\]"):
        FileSamples({"sig": ["sig_1.parquet"]}, selection="eta < 2", **base).load()


def test_root(folder: Path) -> None:
    uproot = pytest.importorskip("uproot")
    df = pd.read_parquet(folder / "bkg.parquet")
    with uproot.recreate(folder / "bkg.root") as f:
        f["events"] = {c: df[c].to_numpy() for c in df.columns}  # an RNTuple
        f.mktree("tree", {c: "float64" for c in df.columns})
        f["tree"].extend({c: df[c].to_numpy() for c in df.columns})
    for tree in ("events", "tree"):
        s = FileSamples({"bkg": ["bkg.root"]}, features=["x", "pt"], weight="w", tree=tree,
                        base_dir=folder)  # fmt: skip
        assert s.load().yields() == {"bkg": 50.0}
    with pytest.raises(DataError, match="holds the trees"):
        FileSamples({"bkg": ["bkg.root"]}, features=["x"], base_dir=folder).load()
    with pytest.raises(DataError, match="no tree 'nope'"):
        FileSamples({"bkg": ["bkg.root"]}, features=["x"], tree="nope", base_dir=folder).load()
