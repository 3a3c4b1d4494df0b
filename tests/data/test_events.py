from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from unbinned.data import EventSet
from unbinned.exceptions import DataError, SchemaError


def _frame(n: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "weights": np.linspace(1.0, 2.0, n),
            "detailed_labels": ["sig", "bkg"] * (n // 2),
            "labels": [1, 0] * (n // 2),
        }
    )


def test_from_pandas_defaults_and_roundtrip(tmp_path):
    ev = EventSet.from_pandas(_frame())
    assert ev.feature_names == ("a", "b")
    assert list(ev.extras.columns) == ["labels"]
    assert ev.process_names == ("sig", "bkg")
    assert ev.yields() == pytest.approx({"sig": 1 + 1.4 + 1.8, "bkg": 1.2 + 1.6 + 2.0})
    path = ev.to_parquet(tmp_path / "ev.parquet")
    back = EventSet.read_parquet(path)
    pd.testing.assert_frame_equal(back.to_pandas(), ev.to_pandas())
    assert back.process_names == ev.process_names


def test_process_order_survives_parquet_even_if_absent(tmp_path):
    ev = EventSet.from_pandas(_frame(), process_names=("bkg", "sig", "other"))
    back = EventSet.read_parquet(ev.to_parquet(tmp_path / "x.parquet"))
    assert back.process_names == ("bkg", "sig", "other")
    assert back.yields()["other"] == 0.0


def test_from_numpy_and_arrow():
    x = np.arange(12.0).reshape(6, 2)
    ev = EventSet.from_numpy(
        x,
        processes=np.array([0, 1, 1, 0, 1, 1]),
        feature_names=("u", "v"),
        process_names=("s", "b"),
    )
    assert ev.feature_array(("v", "u"))[0].tolist() == [1.0, 0.0]
    back = EventSet.from_arrow(ev.to_arrow())
    np.testing.assert_array_equal(back.feature_array(), x)
    assert back.yields() == {"s": 2.0, "b": 4.0}


def test_negative_weights_kept_and_reported():
    df = _frame()
    df.loc[1, "weights"] = -0.5
    s = EventSet.from_pandas(df).summary()
    assert s.n_negative == 1
    assert len(EventSet.from_pandas(df)) == 6
    assert "neg. w" in repr(s)
    assert "<table>" in s._repr_html_()


def test_select_concat_and_process():
    ev = EventSet.from_pandas(_frame())
    sig = ev.for_process("sig")
    assert len(sig) == 3
    assert set(sig.process_labels) == {"sig"}
    both = EventSet.concat([sig, ev.for_process("bkg")])
    assert both.yields() == pytest.approx(ev.yields())
    assert len(both.extras) == 6


@pytest.mark.parametrize(
    ("mutate", "error", "match"),
    [
        (lambda d: d.drop(columns="b"), SchemaError, "missing column.*'b'"),
        (lambda d: d.assign(a=[np.nan, 1, 2, 3, 4, 5]), DataError, "'a'.*NaN or infinite.*row 0"),
        (lambda d: d.assign(weights=[1, np.inf, 1, 1, 1, 1]), DataError, "weights.*row 1"),
        (lambda d: d.assign(b=list("xyzuvw")), SchemaError, "'b' has dtype"),
        (
            lambda d: d.assign(detailed_labels=["sig", "bkg", "zz", "sig", "bkg", "sig"]),
            SchemaError,
            "unknown process name.*'zz'",
        ),
    ],
)
def test_bad_input_is_named(mutate, error, match):
    df = mutate(_frame())
    with pytest.raises(error, match=match):
        EventSet.from_pandas(df, feature_columns=("a", "b"), process_names=("sig", "bkg"))


def test_strict_rejects_unexpected_columns():
    df = _frame().assign(junk=1.0)
    with pytest.raises(SchemaError, match="unexpected column.*'junk'"):
        EventSet.from_pandas(df, feature_columns=("a", "b"), extra_columns=("labels",), strict=True)


def test_length_mismatch_and_missing_feature():
    with pytest.raises(DataError, match="one per event"):
        EventSet.from_numpy(np.zeros((3, 1)), weights=np.ones(4), feature_names=("a",))
    ev = EventSet.from_numpy(np.zeros((3, 1)), feature_names=("a",))
    with pytest.raises(SchemaError, match="missing feature column.*'zz'"):
        ev.feature_array(("a", "zz"))


def test_corrupt_parquet(tmp_path):
    p = tmp_path / "bad.parquet"
    p.write_bytes(b"not parquet")
    with pytest.raises(DataError, match="cannot read"):
        EventSet.read_parquet(p)
    with pytest.raises(FileNotFoundError):
        EventSet.read_parquet(tmp_path / "none.parquet")


def test_read_root(tmp_path):
    uproot = pytest.importorskip("uproot")
    path = tmp_path / "t.root"
    with uproot.recreate(path) as f:
        f["tree"] = {"a": np.arange(4.0), "b": np.ones(4), "weights": np.full(4, 2.0)}
    ev = EventSet.read_root(path, "tree", process_column=None)
    assert ev.feature_names == ("a", "b")
    assert ev.yields() == {"data": 8.0}
    with pytest.raises(SchemaError, match="no tree 'nope'"):
        EventSet.read_root(path, "nope")


def test_chunks_cover_the_events_in_order():
    x = np.arange(10.0).reshape(5, 2)
    ev = EventSet.from_numpy(x, np.arange(5.0), feature_names=["a", "b"])
    parts = list(ev.chunks(2))
    assert [len(p) for p in parts] == [2, 2, 1]
    np.testing.assert_array_equal(np.concatenate([p.weights for p in parts]), ev.weights)
    with pytest.raises(DataError, match="chunk size"):
        list(ev.chunks(0))
