"""Paths and broken files through the real CLI: refusals exit 2, a broken file is named and the rest migrates."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli.main", *args], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "NO_COLOR": "1"}, timeout=300)


def make_repo(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "good.py").write_text(
        "import torch.nn as nn\n\n\nclass Head(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.fc = nn.Linear(4, 2)\n\n    def forward(self, x):\n        return self.fc(x)\n")
    (root / "pkg" / "broken.py").write_text("import torch\n\ndef f(x):\n    return torch.relu(x\n")
    return root


def test_out_inside_src_is_refused(tmp_path):
    src = make_repo(tmp_path / "repo")
    proc = run_cli("migrate", str(src), "-o", str(src / "ms"), "--no-verify")
    assert proc.returncode == 2
    assert "inside the source" in proc.stderr
    assert not (src / "ms").exists()


def test_out_equal_to_src_is_refused(tmp_path):
    src = make_repo(tmp_path / "repo")
    assert run_cli("migrate", str(src), "-o", str(src), "--no-verify").returncode == 2


def test_src_not_a_directory(tmp_path):
    f = tmp_path / "file.py"
    f.write_text("x = 1\n")
    proc = run_cli("migrate", str(f), "-o", str(tmp_path / "out"))
    assert proc.returncode == 2 and "not a directory" in proc.stderr


def test_syntax_error_is_named_with_its_line_and_the_rest_migrates(tmp_path):
    src = make_repo(tmp_path / "repo")
    out = tmp_path / "out"
    proc = run_cli("migrate", str(src), "-o", str(out), "--no-verify", "--json")
    report = json.loads(proc.stdout)
    broken = next(f for f in report["files"] if f["path"] == "pkg/broken.py")
    assert broken["status"] == "error"
    assert broken["error"].startswith("pkg/broken.py:4:")
    assert (out / "pkg" / "broken.py").read_text() == (src / "pkg" / "broken.py").read_text()
    good = (out / "pkg" / "good.py").read_text()
    assert "nn.Dense(4, 2)" in good and "class Head(nn.Cell)" in good
    assert proc.returncode == 1  # not everything proven
