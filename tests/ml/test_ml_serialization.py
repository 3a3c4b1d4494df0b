import hashlib
import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from unbinned.exceptions import ModelFileError, OutOfRangeWarning, SchemaError
from unbinned.ml import (
    GaussianToySource,
    SurrogateConfig,
    TrainConfig,
    load,
    save,
    train_surrogate,
)
from unbinned.ml.runtime import RunOptions
from unbinned.ml.serialization import MODEL_FILE, WEIGHTS_FILE, _canonical

TINY = TrainConfig(hidden=(8,), epochs=1, batch_size=512)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def model():
    source = GaussianToySource(600, seed=3)
    cfg = SurrogateConfig(classifier=TINY, response=TINY)
    return train_surrogate(source, config=cfg, run=RunOptions(progress=False))


@pytest.fixture
def saved(model, tmp_path):
    return save(model, tmp_path / "m")


def _rewrite(path, edit, *, fix_checksum=False):
    doc = json.loads((path / MODEL_FILE).read_text())
    edit(doc)
    if fix_checksum:
        doc["checksums"]["content"] = hashlib.sha256(_canonical(doc["content"])).hexdigest()
    (path / MODEL_FILE).write_text(json.dumps(doc))


def test_directory_layout_and_metadata(saved, model):
    assert sorted(p.name for p in saved.iterdir()) == [MODEL_FILE, WEIGHTS_FILE]
    doc = json.loads((saved / MODEL_FILE).read_text())
    assert doc["kind"] == "surrogate"
    assert doc["format_version"] == 1
    assert set(doc["versions"]) >= {"unbinned", "torch", "safetensors"}
    content = doc["content"]
    assert content["feature_names"] == ["x0", "x1"]
    assert content["processes"] == ["sig", "bkg"]
    assert [n["name"] for n in content["nuisances"]] == ["scale", "shift"]
    assert content["trained_range"] == model.trained_range.tolist()
    assert content["classifier"]["transform"]["mean"]
    assert len(content["responses"]["bkg"]["design"]["points"]) >= 5
    assert (
        doc["checksums"][WEIGHTS_FILE]
        == hashlib.sha256((saved / WEIGHTS_FILE).read_bytes()).hexdigest()
    )


def test_surrogate_load_classmethod(model, saved, tmp_path):
    from unbinned.ml import SurrogateModel

    assert isinstance(SurrogateModel.load(saved), SurrogateModel)
    other = save(model.classifier, tmp_path / "clf")
    with pytest.raises(ModelFileError, match="not a SurrogateModel"):
        SurrogateModel.load(other)


def test_refuses_to_overwrite_unless_asked(model, saved):
    with pytest.raises(ModelFileError, match="already exists"):
        save(model, saved)
    assert save(model, saved, overwrite=True) == saved
    load(saved)


def test_missing_files(saved, tmp_path):
    with pytest.raises(ModelFileError, match="no model directory"):
        load(tmp_path / "nothing")
    (saved / WEIGHTS_FILE).unlink()
    with pytest.raises(ModelFileError, match=f"lacks {WEIGHTS_FILE}"):
        load(saved)


def test_tampered_weights(saved):
    raw = bytearray((saved / WEIGHTS_FILE).read_bytes())
    raw[-3] ^= 0xFF
    (saved / WEIGHTS_FILE).write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="checksum mismatch.*weights"):
        load(saved)


def test_tampered_metadata(saved):
    _rewrite(saved, lambda d: d["content"]["nominal_yields"].update(sig=1e9))
    with pytest.raises(ModelFileError, match="content was modified"):
        load(saved)


def test_corrupt_json(saved):
    (saved / MODEL_FILE).write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load(saved)


def test_format_and_version_checks(saved):
    _rewrite(saved, lambda d: d.update(format_version=99))
    with pytest.raises(ModelFileError, match="format version 99"):
        load(saved)
    _rewrite(saved, lambda d: d.update(format_version=1))
    _rewrite(saved, lambda d: d["versions"].update(unbinned="99.0.0"))
    with pytest.raises(ModelFileError, match="newer than the installed"):
        load(saved)
    _rewrite(saved, lambda d: d.pop("versions"))
    with pytest.raises(ModelFileError, match="versions"):
        load(saved)


def test_architecture_mismatch_even_with_consistent_checksum(saved):
    def widen(doc):
        doc["content"]["classifier"]["architecture"]["hidden"] = [9]

    _rewrite(saved, widen, fix_checksum=True)
    with pytest.raises(ModelFileError, match="do not match the architecture"):
        load(saved)


def test_loading_never_unpickles(saved, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("torch.load must not be called")

    monkeypatch.setattr(torch, "load", forbidden)
    import pickle

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    load(saved)


def test_missing_and_reordered_columns_are_named(model):
    events = GaussianToySource(100, seed=9).nominal()
    df = events.to_pandas()
    with pytest.raises(SchemaError, match="missing feature column.*'x1'"):
        model.precompute(df.drop(columns=["x1"]))
    reordered = df[["x1", "x0"]].to_numpy()
    with pytest.raises(SchemaError, match="reordered.*'x1'"):
        model.precompute(reordered, feature_names=["x1", "x0"])
    # a frame with reordered columns is selected by name and gives the same answer
    a = model.precompute(df[["x1", "x0"]]).fractions
    b = model.precompute(events).fractions
    np.testing.assert_array_equal(a, b)
    assert isinstance(df, pd.DataFrame)


def test_out_of_range_nuisances_warn(model):
    inside = np.array([1.0, -1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.log_yield(inside)
    with pytest.warns(OutOfRangeWarning, match="scale=4"):
        model.log_yield(np.array([4.0, 0.0]))
    with pytest.warns(OutOfRangeWarning, match="shift"):
        model.log_yield_torch(torch.tensor([0.0, -3.5], dtype=torch.float64))


def test_physical_and_standardised(model):
    nu = model.standardize({"scale": 2.0})
    np.testing.assert_array_equal(nu, [2.0, 0.0])
    assert model.physical(nu) == {"scale": 2.0, "shift": 0.0}
