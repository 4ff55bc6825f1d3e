"""Where the verification sandbox cannot be built (no user namespaces, not Linux) msagent refuses
with exit 2, naming what is missing and the flag that accepts running without it; with
--allow-unsandboxed (or MSAGENT_ALLOW_UNSANDBOXED=1) it verifies without isolation and the report
says so. MSAGENT_SANDBOX_FORCE_UNAVAILABLE makes the host probe report no sandbox here."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.sandbox import isolation
from agent.sandbox.config import SideConfig
from agent.sandbox.process import WorkerStartError
from agent.sandbox.sides import Side

ROOT = Path(__file__).resolve().parents[1]
MSAGENT = [sys.executable, "-m", "agent"]
TINY = ("import torch\nfrom torch import nn\n\n\nclass Tiny(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.fc = nn.Linear(4, 2)\n\n    def forward(self, x):\n"
        "        return torch.relu(self.fc(x))\n")


def run(argv, tmp_path, force="namespaces", **extra):
    env = {k: v for k, v in os.environ.items() if k != "MSAGENT_ALLOW_UNSANDBOXED"}
    env.update({"MSAGENT_SANDBOX_FORCE_UNAVAILABLE": force, **extra})
    return subprocess.run([*MSAGENT, *argv], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)


@pytest.fixture
def src(tmp_path):
    d = tmp_path / "src"
    d.mkdir()
    (d / "m.py").write_text(TINY)
    return d


def test_migrate_refuses_with_exit_2_naming_what_is_missing_and_the_flag(src, tmp_path):
    proc = run(["migrate", str(src), "-o", str(tmp_path / "out")], tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("msagent: cannot build the verification sandbox: no user namespaces (")
    assert "--allow-unsandboxed" in line and "MSAGENT_ALLOW_UNSANDBOXED=1" in line and "--no-verify" in line
    assert "read your files and forge verdicts" in line
    assert not (tmp_path / "out").exists()  # refused before anything was written
    assert proc.stdout == ""


def test_not_linux_is_named(src, tmp_path):
    proc = run(["migrate", str(src), "-o", str(tmp_path / "out")], tmp_path, force="platform")
    assert proc.returncode == 2
    assert "cannot build the verification sandbox: not Linux" in proc.stderr and "--allow-unsandboxed" in proc.stderr


def test_no_verify_needs_no_sandbox(src, tmp_path):
    proc = run(["migrate", str(src), "-o", str(tmp_path / "out"), "--no-verify", "--json"], tmp_path)
    assert proc.returncode != 2, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["units"][0]["status"] == "not-exercised"


@pytest.mark.parametrize("consent", ["flag", "env"])
def test_allowed_the_tiny_repo_migrates_without_isolation_and_the_report_says_so(src, tmp_path, consent):
    argv = ["migrate", str(src), "-o", str(tmp_path / "out"), "--json"]
    proc = (run([*argv, "--allow-unsandboxed"], tmp_path) if consent == "flag"
            else run(argv, tmp_path, MSAGENT_ALLOW_UNSANDBOXED="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert [u["status"] for u in report["units"]] == ["verified-by-rules"]
    assert report["sandbox"]["unsandboxed"] is True
    assert report["sandbox"]["network"] is False and report["sandbox"]["fs"] is False
    assert any(n.startswith("verification ran without isolation") for n in report["notes"])
    assert "verification ran without isolation" in (tmp_path / "out" / "msagent-report.md").read_text()


def test_eval_and_the_bot_refuse_too(tmp_path):
    proc = run(["eval", str(ROOT / "evals" / "cases")], tmp_path)
    assert proc.returncode == 2 and "cannot build the verification sandbox" in proc.stderr
    assert "--allow-unsandboxed" in proc.stderr and "--no-verify" not in proc.stderr  # eval has no --no-verify
    proc = run(["bot", "action"], tmp_path)
    assert proc.returncode == 2 and "cannot build the verification sandbox" in proc.stderr
    assert "--allow-unsandboxed" in proc.stderr


@pytest.fixture
def forced(monkeypatch):
    monkeypatch.setenv("MSAGENT_SANDBOX_FORCE_UNAVAILABLE", "namespaces")
    monkeypatch.delenv("MSAGENT_ALLOW_UNSANDBOXED", raising=False)
    isolation.probe_namespaces.cache_clear()
    yield
    monkeypatch.undo()
    isolation.probe_namespaces.cache_clear()


def test_a_side_never_falls_back_to_running_bare_on_its_own(forced):
    """Library use (the bot's shared verifier, evals) gets the same refusal from the side itself."""
    assert isolation.sandbox_missing() and isolation.sandbox_refusal()
    side = Side(SideConfig(side="echo"))
    try:
        with pytest.raises(WorkerStartError, match="--allow-unsandboxed"):
            side.start()
        assert not side.alive
    finally:
        side.close()


def test_the_probe_reports_this_host_when_not_forced(monkeypatch):
    monkeypatch.delenv("MSAGENT_SANDBOX_FORCE_UNAVAILABLE", raising=False)
    isolation.probe_namespaces.cache_clear()
    try:
        ns = isolation.probe_namespaces()
        missing = isolation.sandbox_missing()
        assert (missing == []) == all(ns[k] for k in ("network", "fs", "pid"))
    finally:
        isolation.probe_namespaces.cache_clear()
