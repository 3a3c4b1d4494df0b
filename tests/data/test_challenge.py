"""The FAIR Universe challenge-format loader and writer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from unbinned.data.challenge import (
    CHALLENGE_COLUMNS,
    SAMPLE_DATA_ENV,
    SAMPLE_FILE,
    ChallengeData,
    find_sample_data,
    load_challenge,
    to_challenge_frame,
)
from unbinned.data.derived import compute_derived
from unbinned.data.schema import DER_FEATURES, FEATURES, MISSING, PROCESSES
from unbinned.exceptions import DataError, SchemaError


def small_frame(n: int = 40, seed: int = 0) -> pd.DataFrame:
    """A valid 31-column challenge frame (float32, as the challenge stores it)."""
    rng = np.random.default_rng(seed)
    n_jets = rng.integers(0, 3, n).astype(float)
    has1, has2 = n_jets >= 1, n_jets >= 2
    j1 = 30 + rng.exponential(20, n)
    j2 = 26 + (j1 - 26) * rng.uniform(size=n)
    cols: dict[str, np.ndarray] = {
        "PRI_lep_pt": 20 + rng.exponential(15, n),
        "PRI_lep_eta": rng.uniform(-2.5, 2.5, n),
        "PRI_lep_phi": rng.uniform(-3, 3, n),
        "PRI_had_pt": 26 + rng.exponential(15, n),
        "PRI_had_eta": rng.uniform(-2.5, 2.5, n),
        "PRI_had_phi": rng.uniform(-3, 3, n),
        "PRI_jet_leading_pt": np.where(has1, j1, MISSING),
        "PRI_jet_leading_eta": np.where(has1, rng.uniform(-4, 4, n), MISSING),
        "PRI_jet_leading_phi": np.where(has1, rng.uniform(-3, 3, n), MISSING),
        "PRI_jet_subleading_pt": np.where(has2, j2, MISSING),
        "PRI_jet_subleading_eta": np.where(has2, rng.uniform(-4, 4, n), MISSING),
        "PRI_jet_subleading_phi": np.where(has2, rng.uniform(-3, 3, n), MISSING),
        "PRI_n_jets": n_jets,
        "PRI_jet_all_pt": np.where(has1, j1, 0.0) + np.where(has2, j2, 0.0),
        "PRI_met": rng.exponential(20, n),
        "PRI_met_phi": rng.uniform(-3, 3, n),
    }
    process = np.array(PROCESSES)[np.arange(n) % 4]
    cols |= compute_derived(cols)
    cols["weights"] = rng.uniform(0.5, 2.0, n)
    cols["labels"] = (process == "htautau").astype(float)
    frame = pd.DataFrame({c: np.asarray(cols[c], dtype=np.float32) for c in FEATURES})
    frame.insert(16, "weights", cols["weights"].astype(np.float32))
    frame.insert(17, "detailed_labels", process)
    frame.insert(18, "labels", cols["labels"].astype(np.float32))
    return frame


def write(folder: Path, frame: pd.DataFrame, meta: dict | None = None) -> Path:
    path = folder / "toy.parquet"
    frame.to_parquet(path)
    if meta is None:
        meta = {
            "total_rows": len(frame),
            "total_columns": frame.shape[1],
            "columns": list(frame.columns),
            "detailed_labels": sorted(set(frame.detailed_labels)),
            "sum_weights": float(frame.weights.astype(float).sum()),
            "luminosity": 10,
        }
    (folder / "toy_metadata.json").write_text(json.dumps(meta))
    return path


@pytest.fixture(scope="module")
def real_path() -> Path:
    folder = find_sample_data()
    if folder is None:
        pytest.skip(
            f"real FAIR Universe sample {SAMPLE_FILE} not found ($UNBINNED_SAMPLE_DATA or "
            "../shared/data); set UNBINNED_SAMPLE_DATA to its folder to run this test"
        )
    return folder / SAMPLE_FILE


def test_find_sample_data_env_var_first(tmp_path, monkeypatch):
    (tmp_path / SAMPLE_FILE).write_bytes(b"")
    monkeypatch.setenv(SAMPLE_DATA_ENV, str(tmp_path))
    assert find_sample_data() == tmp_path
    # a folder without the sample is skipped; the fallbacks give a folder with it or None
    monkeypatch.setenv(SAMPLE_DATA_ENV, str(tmp_path / "nowhere"))
    found = find_sample_data()
    assert found is None or (found / SAMPLE_FILE).is_file()


@pytest.mark.data
def test_real_sample(real_path):
    data = load_challenge(real_path)
    assert isinstance(data, ChallengeData)
    assert data.frame.shape == (1000, 31)
    assert list(data.frame.columns) == list(CHALLENGE_COLUMNS)
    assert data.problems == ()
    assert len(data.checks) >= 6
    assert data.metadata["luminosity"] == 10
    assert data.luminosity == 10.0
    assert set(data.der_max_deviation) == set(DER_FEATURES)
    name, worst = data.der_worst
    assert worst == max(data.der_max_deviation.values())
    assert data.der_max_deviation[name] == worst
    assert worst < 0.01
    text = repr(data)
    assert "1000 events" in text
    assert f"worst {name}" in text
    assert "all 7 metadata checks passed" in text
    assert "<table>" in data._repr_html_()


@pytest.mark.data
def test_real_sample_as_events_and_back(real_path):
    pytest.importorskip("unbinned.data.events")
    data = load_challenge(real_path)
    events = data.events
    assert events.feature_names == FEATURES
    assert events.process_names == PROCESSES
    assert list(events.extras.columns) == ["labels"]
    sums = data.frame.groupby("detailed_labels").weights.sum()
    for process, total in events.yields().items():
        assert total == pytest.approx(float(sums[process]), rel=1e-6)
    back = to_challenge_frame(events, dtype=np.float32)
    pd.testing.assert_frame_equal(back, data.frame)
    assert (back.dtypes[back.columns != "detailed_labels"] == np.float32).all()


def test_to_challenge_frame_computes_missing_der_and_labels():
    events_mod = pytest.importorskip("unbinned.data.events")
    frame = small_frame()
    pri_only = frame.drop(columns=[*DER_FEATURES, "labels"])
    events = events_mod.EventSet.from_pandas(pri_only)
    out = to_challenge_frame(events)
    assert list(out.columns) == list(CHALLENGE_COLUMNS)
    assert (out.dtypes[out.columns != "detailed_labels"] == np.float64).all()
    np.testing.assert_array_equal(out.labels, (out.detailed_labels == "htautau").astype(float))
    np.testing.assert_allclose(out[list(DER_FEATURES)], frame[list(DER_FEATURES)], atol=1e-3)
    with pytest.raises(SchemaError, match="PRI_met"):
        to_challenge_frame(events_mod.EventSet.from_pandas(pri_only.drop(columns="PRI_met")))
    with pytest.raises(TypeError, match="EventSet"):
        to_challenge_frame(frame)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="float dtype"):
        to_challenge_frame(events, dtype=np.int32)


def test_load_valid_file(tmp_path):
    frame = small_frame()
    data = load_challenge(write(tmp_path, frame))
    assert data.problems == ()
    pd.testing.assert_frame_equal(data.frame, frame)
    assert data.der_worst[1] < 1e-3


def test_metadata_mismatches_are_reported_not_raised(tmp_path):
    frame = small_frame()
    meta = {
        "total_rows": 41,
        "total_columns": 31,
        "columns": list(reversed(frame.columns)),
        "sum_weights": 1.0,
        "detailed_labels": ["htautau"],
    }
    data = load_challenge(write(tmp_path, frame, meta))
    failed = {c.name for c in data.problems}
    assert failed == {"total_rows", "columns", "sum_weights", "detailed_labels"}
    assert "order differs" in next(c.detail for c in data.problems if c.name == "columns")
    assert "4 of" in repr(data)
    assert "FAILED" in repr(data.problems[0])


def test_label_and_process_checks(tmp_path):
    frame = small_frame()
    frame.loc[0, "labels"] = 1 - frame.loc[0, "labels"]
    frame.loc[1, "detailed_labels"] = "wjets"
    data = load_challenge(write(tmp_path, frame, {}))
    failed = {c.name: c.detail for c in data.problems}
    assert "wjets" in failed["known processes"]
    assert "labels match detailed_labels" in failed
    assert failed["metadata"] == "no metadata file found"


def test_metadata_file_handling(tmp_path):
    frame = small_frame()
    path = tmp_path / "plain.parquet"
    frame.to_parquet(path)
    data = load_challenge(path)  # no default metadata file: a failed check only
    assert data.metadata == {}
    assert [c.name for c in data.problems] == ["metadata"]
    with pytest.raises(FileNotFoundError, match="no metadata file"):
        load_challenge(path, tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        load_challenge(path, tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="expected a JSON object"):
        load_challenge(path, tmp_path / "list.json")


def test_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no challenge parquet"):
        load_challenge(tmp_path / "absent.parquet")
    (tmp_path / "junk.parquet").write_bytes(b"not a parquet file")
    with pytest.raises(DataError, match="cannot read"):
        load_challenge(tmp_path / "junk.parquet")


def test_missing_columns_named(tmp_path):
    frame = small_frame().drop(columns=["DER_pt_h", "labels"])
    with pytest.raises(SchemaError, match=r"\['DER_pt_h', 'labels'\]"):
        load_challenge(write(tmp_path, frame, {}))


@pytest.mark.parametrize("column", ["PRI_had_eta", "DER_mass_vis", "weights"])
def test_nan_or_inf_named(tmp_path, column):
    frame = small_frame()
    frame.loc[5, column] = np.nan if column != "weights" else np.inf
    with pytest.raises(DataError, match=rf"'{column}'.*row 5"):
        load_challenge(write(tmp_path, frame, {}))


def test_non_numeric_feature(tmp_path):
    frame = small_frame()
    frame["PRI_met"] = frame["PRI_met"].astype(str)
    with pytest.raises(SchemaError, match="'PRI_met'.*expected numbers"):
        load_challenge(write(tmp_path, frame, {}))
