from __future__ import annotations

import json

import pytest

from unbinned.exceptions import ConfigError
from unbinned.workflow import Workspace


def test_commit_is_atomic_and_up_to_date_checks_outputs(tmp_path):
    ws = Workspace(tmp_path / "out")
    with ws.staging("train") as tmp:
        (tmp / "model").mkdir()
        (tmp / "model" / "w.bin").write_bytes(b"abc")
        assert not ws.step_dir("train").exists()  # nothing visible before the commit
        rec = ws.commit("train", tmp, "key1", seconds=1.5, info={"x": 1})
    assert rec.outputs.keys() == {"model/w.bin"}
    assert ws.up_to_date("train", "key1") == rec
    assert ws.up_to_date("train", "key2") is None
    manifest = json.loads((ws.step_dir("train") / "step.json").read_text())
    assert manifest["key"] == "key1"
    assert manifest["info"] == {"x": 1}
    (ws.step_dir("train") / "model" / "w.bin").write_bytes(b"tampered")
    assert ws.up_to_date("train", "key1") is None


def test_failed_step_leaves_previous_outputs(tmp_path):
    ws = Workspace(tmp_path)
    with ws.staging("fit") as tmp:
        (tmp / "a.json").write_text("{}")
        ws.commit("fit", tmp, "k")

    def interrupted() -> None:
        with ws.staging("fit") as tmp:
            (tmp / "a.json").write_text('{"half": ')
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        interrupted()
    assert not (tmp_path / ".fit.partial").exists()
    assert ws.up_to_date("fit", "k") is not None
    assert (ws.step_dir("fit") / "a.json").read_text() == "{}"


def test_require_says_what_to_run(tmp_path):
    with pytest.raises(ConfigError, match="run `unbinned scan CONFIG`"):
        Workspace(tmp_path).require("scan")
