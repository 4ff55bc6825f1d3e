"""One bad file never sinks the run, through the real `msagent migrate`: source nested deeper than
Python's parser allows, calls nested deeper than LibCST's walks allow on the default stack, file
names that are not UTF-8, a symbolic link loop, and any exception the rules or the unit discovery
raise for one file. Each becomes that file's record (status "error" and a message naming it), the
file is copied through unchanged, the other files are translated, and `errors` lists each one."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.config import MigrateSettings
from agent.pipeline import migrate
from tests.support.trees import tree_state

ROOT = Path(__file__).resolve().parents[1]
MSAGENT = ROOT / ".venv" / "bin" / "msagent"

GOOD = """\
import torch
from torch import nn


class Scale(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return torch.tanh(self.fc(x)) * 2
"""
DEEP = "import torch\nx = " + " + ".join(["1"] * 5000) + "\n"  # ast.parse: RecursionError


def nested(depth: int) -> str:
    inner = "x"
    for _ in range(depth):
        inner = f"torch.relu({inner})"
    return f"import torch\n\n\ndef f(x):\n    y = {inner}\n    return torch.tanh(y)\n"


NESTED = nested(150)  # parses; LibCST's visitors exceed the default recursion limit
BAD_PY, BAD_CSV, BAD_DIR = b"bad\xff.py", b"donn\xe9es.csv", b"pkg\xfe"


def _at(root: Path, name: bytes) -> bytes:
    return os.path.join(os.fsencode(root), name)


@pytest.fixture(scope="module")
def crash_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("crash")
    src = base / "src"
    src.mkdir()
    (src / "good.py").write_text(GOOD)
    (src / "deep.py").write_text(DEEP)
    (src / "nested.py").write_text(NESTED)
    with open(_at(src, BAD_PY), "wb") as f:
        f.write(b"import torch\ny = torch.zeros(2)\n")
    with open(_at(src, BAD_CSV), "wb") as f:
        f.write(b"a,b\n1,2\n")
    os.mkdir(_at(src, BAD_DIR))
    with open(os.path.join(_at(src, BAD_DIR), b"mod.py"), "wb") as f:
        f.write(b"import torch\n")
    (src / "loop_a").symlink_to("loop_b")
    (src / "loop_b").symlink_to("loop_a")
    before = tree_state(src)
    out = base / "out"
    proc = subprocess.run([str(MSAGENT), "migrate", str(src), "-o", str(out), "--json", "--no-verify"],
                          capture_output=True, timeout=300, env={**os.environ, "NO_COLOR": "1"})
    return {"src": src, "out": out, "before": before, "proc": proc,
            "report": json.loads(proc.stdout.decode("utf-8"))}


def _file(report: dict, rel: str) -> dict:
    return next(f for f in report["files"] if f["path"] == rel)


def test_run_finishes_with_exit_1_and_src_untouched(crash_run):
    assert crash_run["proc"].returncode == 1, crash_run["proc"].stderr.decode(errors="replace")[-3000:]
    assert tree_state(crash_run["src"]) == crash_run["before"]


def test_reports_are_valid_utf8(crash_run):
    out = crash_run["out"]
    on_disk = json.loads((out / "msagent-report.json").read_bytes().decode("utf-8"))
    assert on_disk["files"] == crash_run["report"]["files"]
    md = (out / "msagent-report.md").read_bytes().decode("utf-8")
    assert "deep.py" in md and "bad\\xff.py" in md.replace("\\\\", "\\")


def test_deeply_nested_file_is_an_error_and_copied_unchanged(crash_run):
    report, src, out = crash_run["report"], crash_run["src"], crash_run["out"]
    rec = _file(report, "deep.py")
    assert rec["status"] == "error"
    assert rec["error"].startswith("deep.py: too deeply nested to parse") and rec["error"].endswith("copied unchanged")
    assert (out / "deep.py").read_bytes() == (src / "deep.py").read_bytes()
    assert rec["error"] in report["errors"]


def test_150_nested_calls_are_translated(crash_run):
    rec = _file(crash_run["report"], "nested.py")
    assert rec["status"] == "translated", rec
    assert rec["api_calls"] == rec["api_converted"] == 151
    text = (crash_run["out"] / "nested.py").read_text()
    assert text.count("ops.relu(") == 150 and "torch" not in text
    units = {(u["file"], u["name"]) for u in crash_run["report"]["units"]}
    assert ("nested.py", "f") in units  # unit discovery walked the deep tree too


def test_the_other_files_are_translated(crash_run):
    report, out = crash_run["report"], crash_run["out"]
    assert _file(report, "good.py")["status"] == "translated"
    good = (out / "good.py").read_text()
    assert "mindspore" in good and "torch" not in good
    assert ("good.py", "Scale") in {(u["file"], u["name"]) for u in report["units"]}


def test_names_that_are_not_utf8_are_shown_escaped_and_copied_under_their_own_name(crash_run):
    report, src, out = crash_run["report"], crash_run["src"], crash_run["out"]
    py = _file(report, "bad\\xff.py")
    assert py["status"] == "error" and "not UTF-8" in py["error"] and "not translated" in py["error"]
    assert py["error"] in report["errors"]
    csv = _file(report, "donn\\xe9es.csv")
    assert csv["status"] == "copied" and "not UTF-8" in csv["error"]
    inner = _file(report, "pkg\\xfe/mod.py")
    assert inner["status"] == "error"
    for name in (BAD_PY, BAD_CSV, os.path.join(BAD_DIR, b"mod.py")):
        with open(_at(src, name), "rb") as a, open(_at(out, name), "rb") as b:
            assert a.read() == b.read()


def test_symbolic_link_loop_is_skipped(crash_run):
    for rel in ("loop_a", "loop_b"):
        rec = _file(crash_run["report"], rel)
        assert rec["status"] == "skipped" and "symbolic link loop" in rec["error"]


def test_each_crashed_file_is_listed_in_errors(crash_run):
    report = crash_run["report"]
    assert sorted(f["path"] for f in report["files"] if f["status"] == "error") == \
        sorted(["deep.py", "bad\\xff.py", "pkg\\xfe/mod.py"])
    assert report["errors"] == [f["error"] for f in report["files"] if f["status"] == "error"]


# --- any exception in one file, in process ---------------------------------------------------------------

def _repo(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.py").write_text(GOOD)
    (src / "boom.py").write_text(GOOD.replace("Scale", "Boom"))
    (src / "other.py").write_text(GOOD.replace("Scale", "Other"))
    return src


def test_an_unexpected_rules_exception_is_that_files_error(tmp_path, monkeypatch):
    import agent.pipeline as pipeline

    real = pipeline.translate_source

    def translate(text, *args, **kwargs):
        if "Boom" in text:
            raise ZeroDivisionError("a rules bug")
        return real(text, *args, **kwargs)

    monkeypatch.setattr(pipeline, "translate_source", translate)
    src = _repo(tmp_path)
    report = migrate(src, tmp_path / "out", MigrateSettings(verify=False))
    rec = next(f for f in report.files if f.path == "boom.py")
    assert rec.status == "error"
    assert rec.error == "boom.py: rules crashed: ZeroDivisionError: a rules bug; copied unchanged"
    assert (tmp_path / "out" / "boom.py").read_text() == (src / "boom.py").read_text()
    assert rec.error in report.errors
    assert {f.path: f.status for f in report.files if f.path != "boom.py"} == \
        {"good.py": "translated", "other.py": "translated"}
    assert json.loads((tmp_path / "out" / "msagent-report.json").read_text())["errors"] == report.errors


def test_an_exception_outside_the_rules_is_that_files_error(tmp_path, monkeypatch):
    import agent.pipeline as pipeline

    real = pipeline._translate_file

    def translate_file(f, *args, **kwargs):
        if f.rel == "boom.py":
            raise KeyError("not where it should be")
        return real(f, *args, **kwargs)

    monkeypatch.setattr(pipeline, "_translate_file", translate_file)
    src = _repo(tmp_path)
    report = migrate(src, tmp_path / "out", MigrateSettings(verify=False))
    rec = next(f for f in report.files if f.path == "boom.py")
    assert rec.status == "error" and rec.error.startswith("boom.py: rules crashed: KeyError: ")
    assert (tmp_path / "out" / "boom.py").read_text() == (src / "boom.py").read_text()
    assert [f.path for f in report.files if f.status == "translated"] == ["good.py", "other.py"]
    assert report.errors == [rec.error]


def test_a_unit_discovery_crash_is_that_files_error(tmp_path, monkeypatch):
    import agent.pipeline as pipeline

    real = pipeline.find_units

    def find_units(rel, *args):
        if rel == "boom.py":
            raise RecursionError("maximum recursion depth exceeded")
        return real(rel, *args)

    monkeypatch.setattr(pipeline, "find_units", find_units)
    report = migrate(_repo(tmp_path), tmp_path / "out", MigrateSettings(verify=False))
    rec = next(f for f in report.files if f.path == "boom.py")
    assert rec.status == "error" and rec.error.startswith("boom.py: unit discovery crashed: RecursionError")
    assert rec.error in report.errors
    assert sorted(u.name for u in report.units) == ["Other", "Scale"]


def test_an_interrupt_inside_one_file_still_stops_the_run(tmp_path, monkeypatch):
    import agent.pipeline as pipeline

    def translate(text, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "translate_source", translate)
    with pytest.raises(KeyboardInterrupt):
        migrate(_repo(tmp_path), tmp_path / "out", MigrateSettings(verify=False))


# --- the pieces ------------------------------------------------------------------------------------------

def test_rules_retry_deep_code_on_a_deep_stack_and_restore_the_limit():
    from agent.kb.store import load_kb
    from agent.rules.engine import translate_source

    limit = sys.getrecursionlimit()
    r = translate_source("import torch\ny = " + " + ".join(["torch.ones(1)"] * 400) + "\n",
                         load_kb(MigrateSettings().kb_root))
    assert r.code.count("ops.ones(") == 400 and r.api_converted == 400
    assert sys.getrecursionlimit() == limit


def test_deep_stack_passes_results_and_exceptions_back():
    from agent.rules.walk import with_deep_stack

    def depth(n):
        return 0 if n == 0 else 1 + depth(n - 1)

    assert with_deep_stack(depth, 20_000) == 20_000
    with pytest.raises(ValueError, match="no"):
        with_deep_stack(lambda: (_ for _ in ()).throw(ValueError("no")))


def test_deeply_nested_notebook_cell_is_kept_with_reason():
    from agent.kb.store import load_kb
    from agent.rules.notebooks import translate_notebook

    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
         "source": "import torch\ny = torch.zeros(2)\n"},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": DEEP[13:]}]}
    r = translate_notebook(json.dumps(nb), load_kb(MigrateSettings().kb_root))
    assert r.kept_cells == 1
    assert any(m.cell == 1 and "too deeply nested" in m.reason for m in r.markers)
    cells = json.loads(r.text)["cells"]
    assert "ops.zeros" in "".join(cells[0]["source"])
    assert "".join(cells[1]["source"]).endswith(DEEP[13:])


def test_walk_lists_a_folder_it_cannot_read_and_goes_on(tmp_path, monkeypatch):
    from agent.scan import files

    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "a.py").write_text("x = 1\n")
    (tmp_path / "b.py").write_text("y = 2\n")
    real = os.scandir

    def scandir(path="."):
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    found = {f.rel: (f.kind, f.reason) for f in files.walk_repo(tmp_path)}
    assert found == {"b.py": ("python", ""), "locked": ("skipped", "folder cannot be listed: Permission denied")}
