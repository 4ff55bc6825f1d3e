"""The CLI's entry points: the console script and `python -m agent`."""
def test_version_and_module_entry_point():
    import subprocess
    import sys
    from pathlib import Path

    from agent import __version__

    root = Path(__file__).resolve().parents[1]
    for argv in ([str(root / ".venv" / "bin" / "msagent"), "--version"], [sys.executable, "-m", "agent", "--version"]):
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=root, timeout=60)
        assert proc.returncode == 0 and proc.stdout.strip() == f"msagent {__version__}", proc.stderr


def test_piped_stderr_gets_one_line_per_finished_unit(tmp_path):
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    src = tmp_path / "src"
    src.mkdir()
    (src / "m.py").write_text("import torch\nfrom torch import nn\n\n\nclass Tiny(nn.Module):\n"
                              "    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(4, 2)\n\n"
                              "    def forward(self, x):\n        return self.fc(x)\n")
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(summary)}
    proc = subprocess.run([str(root / ".venv" / "bin" / "msagent"), "migrate", str(src), "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=600, cwd=root, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("msagent: [")]
    assert lines == [lines[0]] and lines[0].startswith("msagent: [1/1] m.py::Tiny verified-by-rules (grad) ")
    text = summary.read_text()  # appended after what an earlier step wrote
    assert text.startswith("earlier step\n") and "# msagent migration report" in text and "m.py::Tiny" in text
    quiet = subprocess.run([str(root / ".venv" / "bin" / "msagent"), "migrate", str(src), "-o", str(tmp_path / "q"),
                            "-q"], capture_output=True, text=True, timeout=600, cwd=root)
    assert quiet.returncode == 0 and "msagent: [" not in quiet.stderr
