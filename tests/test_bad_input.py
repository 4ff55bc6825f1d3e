"""Bad input through the real `msagent migrate`: each bad file is named in the report (with its
line where there is one), the rest of the repo is migrated and verified, SRC is never touched,
and the exit code is the design's (1 when something could not be translated, 2 for bad paths)."""
from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.support.trees import tree_state

ROOT = Path(__file__).resolve().parents[1]
MSAGENT = ROOT / ".venv" / "bin" / "msagent"

GOOD = textwrap.dedent("""\
    import torch
    from torch import nn


    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            return torch.tanh(self.fc(x)) * 2
""")
BINARY = bytes(range(256)) * 3


def notebook(cells: list[tuple[str, str]]) -> str:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {"language_info": {"name": "python"}},
                       "cells": [{"cell_type": kind, "metadata": {}, "source": src,
                                  **({"outputs": [{"output_type": "stream", "name": "stdout", "text": "old"}],
                                      "execution_count": 1} if kind == "code" else {})}
                                 for kind, src in cells]}, indent=1)


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(MSAGENT), "migrate", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_COLOR": "1", **(env or {})})


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("bad")
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("TOKEN = 'do-not-copy'\n")
    src = base / "src"
    pkg = src / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "good.py").write_text(GOOD)
    (pkg / "broken.py").write_text("import torch\n\n\ndef f(x):\n    return torch.relu(x\n")
    (pkg / "latin1.py").write_bytes("import torch\n# café\ny = torch.zeros(2)\n".encode("latin-1"))
    (pkg / "nul.py").write_bytes(b"import torch\nx = 1\x00\n")
    (pkg / "empty.py").write_bytes(b"")
    (pkg / "weights.bin").write_bytes(BINARY)
    (pkg / "huge.py").write_text("import torch\nTABLE = [\n" + "    1234567890,\n" * 160_000 + "]\n")
    (pkg / "leak.py").symlink_to(outside / "secret.py")
    (pkg / "leakdir").symlink_to(outside, target_is_directory=True)
    (src / "explore.ipynb").write_text(notebook([
        ("markdown", "# Explore"),
        ("code", "%matplotlib inline\nimport torch\nx = torch.zeros(2, 3)\nprint(x.size())"),
        ("code", "!pip install torch"),
        ("code", "%%bash\necho torch"),
        ("code", "y = torch.cat([x, x], dim=0\n"),
        ("code", "z = torch.nn.functional.relu(x)\n"),
    ]))
    (src / "broken.ipynb").write_text('{"cells": [ {"cell_type": "code",')
    before = tree_state(src)
    out = base / "out"
    proc = run_cli(str(src), "-o", str(out), "--json")
    return {"src": src, "out": out, "before": before, "proc": proc, "report": json.loads(proc.stdout),
            "outside": outside}


def _file(report: dict, rel: str) -> dict:
    return next(f for f in report["files"] if f["path"] == rel)


def test_src_is_byte_identical_and_exit_code_is_1(bad_run):
    assert tree_state(bad_run["src"]) == bad_run["before"]
    assert bad_run["proc"].returncode == 1, bad_run["proc"].stderr[-2000:]


def test_the_rest_of_the_repo_is_migrated_and_verified(bad_run):
    report, out = bad_run["report"], bad_run["out"]
    assert [(u["file"], u["name"], u["status"]) for u in report["units"]] == \
        [("pkg/good.py", "Scale", "verified-by-rules")]
    good = (out / "pkg/good.py").read_text()
    assert "mindspore" in good and "torch" not in good
    assert (out / "msagent-report.md").is_file()


def test_syntax_error_names_file_and_line_and_is_copied(bad_run):
    rec = _file(bad_run["report"], "pkg/broken.py")
    assert rec["status"] == "error"
    assert rec["error"].startswith("pkg/broken.py:5: syntax error")
    assert (bad_run["out"] / "pkg/broken.py").read_bytes() == (bad_run["src"] / "pkg/broken.py").read_bytes()
    assert rec["error"] in bad_run["report"]["errors"]
    assert "pkg/broken.py:5" in (bad_run["out"] / "msagent-report.md").read_text()


def test_non_utf8_and_null_bytes_are_named_and_copied(bad_run):
    report, out, src = bad_run["report"], bad_run["out"], bad_run["src"]
    latin = _file(report, "pkg/latin1.py")
    assert latin["status"] == "error" and latin["error"].startswith("pkg/latin1.py: not UTF-8 text (byte ")
    nul = _file(report, "pkg/nul.py")
    assert nul["status"] == "error" and nul["error"].startswith("pkg/nul.py") and "null bytes" in nul["error"]
    for rel in ("pkg/latin1.py", "pkg/nul.py"):
        assert (out / rel).read_bytes() == (src / rel).read_bytes()


def test_empty_and_binary_files_are_kept(bad_run):
    report, out = bad_run["report"], bad_run["out"]
    assert _file(report, "pkg/empty.py")["status"] == "unchanged"
    assert (out / "pkg/empty.py").read_bytes() == b""
    assert _file(report, "pkg/weights.bin")["status"] == "copied"
    assert (out / "pkg/weights.bin").read_bytes() == BINARY


def test_very_large_python_file_is_not_translated_and_says_why(bad_run):
    rec = _file(bad_run["report"], "pkg/huge.py")
    assert rec["status"] == "copied" and "too large to translate" in rec["error"]
    assert (bad_run["out"] / "pkg/huge.py").read_text().startswith("import torch\n")


def test_symlinks_leading_outside_are_not_followed(bad_run):
    report, out = bad_run["report"], bad_run["out"]
    for rel in ("pkg/leak.py", "pkg/leakdir"):
        rec = _file(report, rel)
        assert rec["status"] == "skipped" and "outside the source tree: not followed" in rec["error"]
        assert not (out / rel).exists() and not (out / rel).is_symlink()
    copied = [p for p in out.rglob("*") if p.is_file() and b"do-not-copy" in p.read_bytes()
              and p.name != "msagent-report.json"]
    assert copied == []


def test_notebook_code_cells_are_translated_and_magic_cells_kept(bad_run):
    rec = _file(bad_run["report"], "explore.ipynb")
    assert rec["status"] == "translated" and rec["api_converted"] >= 3
    cells = json.loads((bad_run["out"] / "explore.ipynb").read_text())["cells"]
    src = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells]
    assert src[0] == "# Explore"
    assert src[1].startswith("%matplotlib inline\n") and "x.shape" in src[1] and "torch.zeros" not in src[1]
    assert cells[1]["outputs"] == []  # torch-era outputs are not passed off as MindSpore ones
    assert src[2].endswith("!pip install torch") and cells[2]["metadata"]["msagent"]["ipython_lines_kept"] == [1]
    assert src[3] == "%%bash\necho torch" and "cell magic" in cells[3]["metadata"]["msagent"]["kept"]
    assert src[4].startswith("# msagent: syntax error at cell line 1") and "torch.cat([x, x], dim=0" in src[4]
    assert "ops.relu(x)" in src[5]
    reasons = [m["reason"] for m in rec["markers"]]
    assert any(r.startswith("cell 4: syntax error") for r in reasons)
    assert any(r.startswith("cell 2: IPython magic or shell line") for r in reasons)


def test_notebook_that_is_not_json_is_copied_with_reason(bad_run):
    rec = _file(bad_run["report"], "broken.ipynb")
    assert rec["status"] == "error" and rec["error"].startswith("broken.ipynb: not valid JSON (line 1")
    assert (bad_run["out"] / "broken.ipynb").read_bytes() == (bad_run["src"] / "broken.ipynb").read_bytes()


# -- bad paths: exit 2, a message naming the path, nothing written ---------------------------------------


@pytest.fixture()
def small_src(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "m.py").write_text("import torch\nx = torch.zeros(2)\n")
    return src


def _usage_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.startswith("msagent: ")
    for w in words:
        assert w in proc.stderr


def test_missing_src_exits_2(tmp_path):
    _usage_error(run_cli(str(tmp_path / "nope"), "-o", str(tmp_path / "out"), "--json"), "nope", "no such directory")
    assert not (tmp_path / "out").exists()


def test_src_that_is_a_file_exits_2(tmp_path, small_src):
    _usage_error(run_cli(str(small_src / "m.py"), "-o", str(tmp_path / "out")), "m.py", "not a directory")
    assert not (tmp_path / "out").exists()


def test_out_inside_src_exits_2_and_writes_nothing(small_src):
    before = tree_state(small_src)
    _usage_error(run_cli(str(small_src), "-o", str(small_src / "ms"), "--json"), "inside the source")
    assert tree_state(small_src) == before


def test_src_inside_out_exits_2(tmp_path, small_src):
    _usage_error(run_cli(str(small_src), "-o", str(tmp_path)), "inside the output")


def test_out_that_cannot_be_created_exits_2(tmp_path, small_src):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    _usage_error(run_cli(str(small_src), "-o", str(blocker / "out"), "--json"), str(blocker / "out"), "not writable")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through directory permissions")
def test_read_only_out_exits_2(tmp_path, small_src):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        _usage_error(run_cli(str(small_src), "-o", str(out)), "not writable")
    finally:
        out.chmod(0o755)


def test_read_only_out_exits_2_in_process(tmp_path, small_src):
    """The same check through the pipeline, on a mount no user can write to (/proc)."""
    from agent.config import MigrateSettings
    from agent.pipeline import UsageError, migrate

    with pytest.raises(UsageError, match="not writable"):
        migrate(small_src, Path("/proc/msagent-out"), MigrateSettings(verify=False))


def test_broken_links_and_fifos_are_skipped_not_read(tmp_path):
    """A FIFO would block a reader forever; a dangling link has nothing to copy."""
    from agent.config import MigrateSettings
    from agent.pipeline import migrate

    src = tmp_path / "src"
    src.mkdir()
    (src / "m.py").write_text("import torch\nx = torch.zeros(2)\n")
    (src / "dangling.py").symlink_to(src / "missing.py")
    os.mkfifo(src / "pipe.py")
    before = tree_state(src)
    report = migrate(src, tmp_path / "out", MigrateSettings(verify=False))
    files = {f.path: f for f in report.files}
    assert files["dangling.py"].status == "skipped" and files["dangling.py"].error.startswith("broken symbolic link")
    assert files["pipe.py"].status == "skipped" and files["pipe.py"].error == "not a regular file"
    assert files["m.py"].status == "translated"
    assert tree_state(src) == before
