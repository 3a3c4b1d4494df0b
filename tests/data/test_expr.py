"""The safe selection expressions (unbinned.data.expr)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from unbinned.data.expr import Selection, evaluate_selection
from unbinned.exceptions import ConfigError

COLS = {"pt": np.array([10.0, 30.0, 40.0]), "eta": np.array([0.0, 1.0, 3.0])}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pt > 20 and abs(eta) < 2.5", [False, True, False]),
        ("(pt > 20) & (abs(eta) < 2.5)", [False, True, False]),
        ("0 < eta <= 1", [False, True, False]),
        ("~(pt > 20) | (eta > 2)", [True, False, True]),
        ("not pt > 20 or eta >= 3", [True, False, True]),
        ("where(pt > 20, eta, -pt) > 0", [False, True, True]),
        ("sqrt(pt ** 2 + eta ** 2) > 35", [False, False, True]),
        ("-eta < -0.5", [False, True, True]),
        ("exp(log(pt)) / 2 >= 15", [False, True, True]),
        ("True", [True, True, True]),
    ],
)
def test_expressions(text: str, expected: list[bool]) -> None:
    assert Selection(text)(COLS).tolist() == expected


def test_columns_and_dataframe() -> None:
    sel = Selection("pt > 20 and hypot(eta, pt) > 0")
    assert sel.columns == ("eta", "pt")
    assert evaluate_selection("pt > 20", pd.DataFrame(COLS)).tolist() == [False, True, True]


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ('__import__("os")', "'__import__'"),
        ("pt.real > 1", "'pt.real'"),
        ("pt[0] > 1", "'pt[0]'"),
        ("lambda: 1", "'lambda: 1'"),
        ("sqrt(x=pt) > 1", "'sqrt(x=pt)'"),
        ("open(pt) > 1", "'open'"),
        ("pt @ eta", "'pt @ eta'"),
        ("[pt] == 1", "'[pt]'"),
        ("pt is eta", "'pt is eta'"),
    ],
)
def test_rejected(text: str, token: str) -> None:
    with pytest.raises(ConfigError, match="not allowed") as exc:
        Selection(text)
    assert token in str(exc.value)
    assert repr(text) in str(exc.value)


def test_errors() -> None:
    with pytest.raises(ConfigError, match="does not parse"):
        Selection("pt >")
    with pytest.raises(ConfigError, match="empty"):
        Selection(" ")
    with pytest.raises(
        ConfigError, match=r"unknown column\(s\) \['foo'\]; the data has \['eta', 'pt'\]"
    ):
        Selection("foo > 1")(COLS)
    with pytest.raises(ConfigError, match="parenthesise"):
        Selection("pt > 20 & eta < 2")(COLS)
    with pytest.raises(ConfigError, match="not true/false"):
        Selection("pt + 1")(COLS)
