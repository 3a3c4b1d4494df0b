"""The JSON-lines toy store on its own: append, resume, a last line cut short, corruption."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from unbinned.exceptions import ConfigError, DataError
from unbinned.infer.toystore import ToyStore, as_stored, read_store

TASK = "tests.task(mu_true=1.0)"
HEADER = b'{"unbinned_toys": 1, "task": "tests.task(mu_true=1.0)"}\n'


def _row(seed: int, **extra: object) -> dict[str, object]:
    return {"seed": seed, "mu_hat": 0.5 + seed, "valid": True, **extra}


def _filled(path: Path, seeds: list[int]) -> None:
    st = ToyStore(path, TASK)
    assert st.open() == {}
    for s in seeds:
        st.append(_row(s))
    st.close()


def test_new_store_gets_a_header(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "toys.jsonl"
    st = ToyStore(path, TASK)
    assert st.open() == {}
    st.close()
    assert path.read_bytes() == HEADER


def test_append_then_resume(tmp_path: Path) -> None:
    path = tmp_path / "toys.jsonl"
    _filled(path, [3, 1])
    lines = path.read_bytes().splitlines()
    assert len(lines) == 3
    assert json.loads(lines[1]) == _row(3)
    st = ToyStore(path, TASK)
    rows = st.open()
    assert rows == {3: _row(3), 1: _row(1)}
    st.append(_row(2))
    st.close()
    st.close()  # closing twice is harmless
    assert read_store(path) == (TASK, {3: _row(3), 1: _row(1), 2: _row(2)})


def test_append_returns_the_row_as_it_reads_back(tmp_path: Path) -> None:
    st = ToyStore(tmp_path / "toys.jsonl", TASK)
    st.open()
    back = st.append(_row(0, p16=math.nan, p84=math.inf))
    st.close()
    assert math.isnan(back["p16"])
    assert back["p84"] == math.inf
    _, rows = read_store(tmp_path / "toys.jsonl")
    assert math.isnan(rows[0]["p16"])
    assert rows[0]["p84"] == math.inf
    assert as_stored({"seed": 1, "x": (1, 2)}) == {"seed": 1, "x": [1, 2]}


@pytest.mark.parametrize(
    "tail",
    [
        b'{"seed": 9, "mu_h',  # cut short, no newline
        b'{"seed": 9, "mu_h\n',  # cut short, with a newline
        b"\x00\x00\x00\x00",  # zero bytes left by a file system
        b'{"seed": 9}',  # complete JSON but no newline: not a finished line
    ],
)
def test_last_line_cut_short_is_dropped(tmp_path: Path, tail: bytes) -> None:
    path = tmp_path / "toys.jsonl"
    _filled(path, [0, 1])
    good = path.read_bytes()
    path.write_bytes(good + tail)
    assert read_store(path)[1].keys() == {0, 1}
    assert path.read_bytes() == good + tail  # reading does not repair
    st = ToyStore(path, TASK)
    assert st.open().keys() == {0, 1}
    assert path.read_bytes() == good  # opening truncates after the last complete row
    st.append(_row(9))
    st.close()
    assert read_store(path)[1].keys() == {0, 1, 9}


def test_cut_header_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "toys.jsonl"
    path.write_bytes(HEADER[:20])
    st = ToyStore(path, TASK)
    assert st.open() == {}
    st.close()
    assert path.read_bytes() == HEADER


def test_bad_line_followed_by_rows_is_corruption(tmp_path: Path) -> None:
    path = tmp_path / "toys.jsonl"
    _filled(path, [0, 1])
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + b"garbage\n" + lines[1] + lines[2])
    before = path.read_bytes()
    with pytest.raises(DataError, match="corrupt at line 2"):
        ToyStore(path, TASK).open()
    with pytest.raises(DataError, match="corrupt at line 2"):
        read_store(path)
    assert path.read_bytes() == before  # nothing changed


def test_store_is_locked_while_open(tmp_path: Path) -> None:
    path = tmp_path / "toys.jsonl"
    first = ToyStore(path, TASK)
    first.open()
    with pytest.raises(ConfigError, match="in use by another run"):
        ToyStore(path, TASK).open()
    first.close()
    second = ToyStore(path, TASK)
    assert second.open() == {}
    second.close()


def test_header_checks(tmp_path: Path) -> None:
    path = tmp_path / "toys.jsonl"
    _filled(path, [0])
    with pytest.raises(ConfigError, match="holds pseudo-experiments of task"):
        ToyStore(path, "another.task").open()
    other = tmp_path / "other.jsonl"
    other.write_text('{"a": 1}\n')
    with pytest.raises(DataError, match="not a toy store"):
        ToyStore(other, TASK).open()
    text = tmp_path / "notes.txt"
    text.write_text("some notes\n")
    with pytest.raises(DataError, match="not a toy store"):
        ToyStore(text, TASK).open()
    assert text.read_text() == "some notes\n"
    newer = tmp_path / "newer.jsonl"
    newer.write_text('{"unbinned_toys": 2, "task": "x"}\n')
    with pytest.raises(DataError, match="has format 2"):
        ToyStore(newer, "x").open()


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b'{"seed": 0}\n{"seed": 0}\n', "holds seed 0 twice"),
        (b'{"mu_hat": 1.0}\n', "no integer 'seed'"),
        (b'{"seed": true}\n', "no integer 'seed'"),
    ],
)
def test_bad_rows(tmp_path: Path, body: bytes, match: str) -> None:
    path = tmp_path / "toys.jsonl"
    path.write_bytes(HEADER + body)
    with pytest.raises(DataError, match=match):
        ToyStore(path, TASK).open()
    with pytest.raises(DataError, match=match):
        read_store(path)


def test_read_store_needs_a_store(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no toy store"):
        read_store(tmp_path / "missing.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="no 'unbinned_toys' header line"):
        read_store(empty)
