"""`msagent bot action` as a workflow step sees it: the real CLI on a git checkout where the PR
changes one of two model files, GitHub played by tests/support/github_server.py. Scope `changed`
verifies the changed file's units (with the repo file it imports present), `all` both files'; the
step outputs land in GITHUB_OUTPUT, the Markdown in GITHUB_STEP_SUMMARY, the JSON report under
RUNNER_TEMP. And action.yml wires inputs, outputs, the pip cache and the pins."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agent.bot.scope import copy_scoped, import_closure

ROOT = Path(__file__).resolve().parents[1]
REPO, PR, TOKEN = "octo/two", 11, "ghs_outputs_token_4d1c9e"

WIDTHS = "D_IN, D_OUT = 8, 4\n"  # no unit: a.py cannot import without it

NET_A = """import torch
from torch import nn

from .widths import D_IN, D_OUT


class NetA(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(D_IN, D_OUT)

    def forward(self, x):
        return torch.relu(self.fc(x))
"""

NET_B = """import torch
from torch import nn


class NetB(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        return torch.tanh(self.fc(x))
"""


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_SYSTEM": os.devnull}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """A git checkout at the PR's head: the base holds both models, the PR edits pkg/a.py only."""
    ws = tmp_path_factory.mktemp("workspace")
    files = {"pkg/__init__.py": "", "pkg/widths.py": WIDTHS, "pkg/a.py": NET_A.replace("relu", "sigmoid"),
             "pkg/b.py": NET_B, "README.md": "# two\n"}
    for rel, text in files.items():
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(text)
    git(ws, "init", "-q", "-b", "main")
    git(ws, "add", ".")
    git(ws, "commit", "-q", "-m", "base")
    base = git(ws, "rev-parse", "HEAD")
    (ws / "pkg" / "a.py").write_text(NET_A)
    git(ws, "commit", "-q", "-am", "pr: relu")
    head = git(ws, "rev-parse", "HEAD")
    changed = git(ws, "diff", "--name-only", f"{base}...{head}").splitlines()
    assert changed == ["pkg/a.py"]
    files["pkg/a.py"] = NET_A
    return {"ws": ws, "base": base, "head": head, "changed": changed, "files": files}


def run_action(checkout, tmp_path: Path, *args: str) -> dict:
    from tests.support.github_server import GitHubServer

    pytest.importorskip("githubkit")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "synchronize", "number": PR, "pull_request": {
        "number": PR, "head": {"sha": checkout["head"]}, "base": {"sha": checkout["base"]}},
        "repository": {"full_name": REPO}}))
    out, summary, runner_temp = tmp_path / "github_output", tmp_path / "step_summary.md", tmp_path / "runner-temp"
    summary.write_text("## earlier step\n")
    runner_temp.mkdir()
    with GitHubServer(tokens=(TOKEN,)) as gh:
        gh.add_commit(REPO, checkout["head"], checkout["files"])
        gh.set_pull(REPO, PR, checkout["head"], changed=checkout["changed"])
        env = {**os.environ, "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event),
               "GITHUB_REPOSITORY": REPO, "GITHUB_API_URL": gh.url, "GITHUB_TOKEN": TOKEN,
               "GITHUB_WORKSPACE": str(checkout["ws"]), "GITHUB_OUTPUT": str(out),
               "GITHUB_STEP_SUMMARY": str(summary), "RUNNER_TEMP": str(runner_temp), "NO_COLOR": "1"}
        proc = subprocess.run([sys.executable, "-m", "agent", "bot", "action", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        runs, comments = gh.repos[REPO].check_runs, gh.repos[REPO].comments
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines())
    return {"outputs": outputs, "summary": summary.read_text(), "runs": runs, "comments": comments,
            "runner_temp": runner_temp, "stdout": proc.stdout}


def test_scope_changed_verifies_only_the_changed_file_and_writes_the_outputs(checkout, tmp_path):
    before = git(checkout["ws"], "status", "--porcelain")
    got = run_action(checkout, tmp_path)  # scope changed is the default
    assert set(got["outputs"]) == {"verified", "units", "report", "conclusion"}
    assert got["outputs"]["verified"] == "1" and got["outputs"]["units"] == "1"
    assert got["outputs"]["conclusion"] == "success"
    report_path = Path(got["outputs"]["report"])
    assert report_path.is_relative_to(got["runner_temp"]) and report_path.name == "msagent-report.json"
    report = json.loads(report_path.read_text())
    assert [(u["file"], u["name"], u["status"]) for u in report["units"]] == [("pkg/a.py", "NetA", "verified-by-rules")]
    py_files = sorted(f["path"] for f in report["files"] if f["path"].endswith(".py"))
    assert py_files == ["pkg/__init__.py", "pkg/a.py", "pkg/widths.py"]  # b.py left out, the import kept
    assert any(n.startswith("scope changed: 3 of 4 Python files") for n in report["notes"])
    assert report["source"] == f"{REPO}@{checkout['head'][:7]}" and TOKEN not in report_path.read_text()
    assert (report_path.parent / "msagent-report.md").is_file()
    # The job summary: the earlier step's text kept, the PR comment's Markdown appended.
    summary = got["summary"]
    assert summary.startswith("## earlier step\n\n<!-- msagent-report -->")
    assert "## msagent: PyTorch → MindSpore" in summary
    assert "`pkg/a.py::NetA` | module | verified-by-rules" in summary and "NetB" not in summary
    assert [r["conclusion"] for r in got["runs"]] == ["success"]
    assert got["comments"][0]["body"].rstrip() in summary
    assert git(checkout["ws"], "status", "--porcelain") == before  # the checkout is never written to


def test_scope_all_verifies_both_files(checkout, tmp_path):
    got = run_action(checkout, tmp_path, "--scope", "all", "--no-fail")
    assert got["outputs"]["verified"] == "2" and got["outputs"]["units"] == "2"
    report = json.loads(Path(got["outputs"]["report"]).read_text())
    assert sorted((u["file"], u["status"]) for u in report["units"]) == [
        ("pkg/a.py", "verified-by-rules"), ("pkg/b.py", "verified-by-rules")]
    assert not any(n.startswith("scope changed") for n in report["notes"])
    # Only the changed file decides the check; the comment shows NetB in the full report only.
    assert [r["conclusion"] for r in got["runs"]] == ["success"]
    assert "whole repository: 2/2 units verified" in got["summary"]


def test_a_bad_scope_is_refused(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "agent", "bot", "action", "--scope", "some"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, env={**os.environ, "NO_COLOR": "1"})
    assert proc.returncode == 2 and "--scope must be changed or all" in proc.stderr


def test_an_event_the_bot_ignores_still_sets_the_outputs(tmp_path):
    from agent.bot.action import run_action as action

    event, out = tmp_path / "event.json", tmp_path / "github_output"
    event.write_text(json.dumps({"action": "closed", "number": PR, "pull_request": {"number": PR, "head": {
        "sha": "e" * 40}}, "repository": {"full_name": REPO}}))
    env = {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event), "GITHUB_REPOSITORY": REPO,
           "GITHUB_TOKEN": TOKEN, "GITHUB_WORKSPACE": str(tmp_path), "GITHUB_OUTPUT": str(out)}
    assert action(env) is None
    assert out.read_text() == "verified=0\nunits=0\nreport=\nconclusion=skipped\n"


def test_import_closure_follows_the_imports_python_would_run(tmp_path):
    files = {
        "src/lib/__init__.py": "from .core import Core\n",
        "src/lib/core.py": "import numpy\nfrom lib.util import helper\n",
        "src/lib/util.py": "",
        "src/lib/unused.py": "",
        "models/__init__.py": "",
        "models/net.py": "import torch\nfrom lib import Core\nfrom . import parts\ndef f():\n    import helpers\n",
        "models/parts.py": "from ..outside import x\n",
        "models/helpers.py": "",
        "models/other.py": "",
        "tools/train.py": "from models.net import f\n",  # imports a changed file: not followed backwards
    }
    for rel, text in files.items():
        (tmp_path / "repo" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "repo" / rel).write_text(text)
    closure = import_closure(tmp_path / "repo", ["models/net.py", "gone.py"])
    assert closure == {"models/net.py", "models/__init__.py", "models/parts.py", "models/helpers.py",
                       "src/lib/__init__.py", "src/lib/core.py", "src/lib/util.py"}
    scoped = copy_scoped(tmp_path / "repo", tmp_path / "copy", ["models/net.py"])
    copied = sorted(p.relative_to(tmp_path / "copy").as_posix() for p in (tmp_path / "copy").rglob("*.py"))
    assert copied == sorted(closure) and scoped.left_out == 3 and scoped.changed == ["models/net.py"]


def test_action_yml_wires_inputs_outputs_cache_and_pins():
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    inputs = action["inputs"]
    assert inputs["scope"]["default"] == "changed"
    assert inputs["allow-unsandboxed"]["default"] == "false"
    steps = action["runs"]["steps"]
    check = next(s for s in steps if s.get("id") == "check")
    for key in ("verified", "units", "report"):
        assert action["outputs"][key]["value"] == f"${{{{ steps.check.outputs.{key} }}}}"
    assert "--scope" in check["run"] and "${{ inputs.scope }}" in check["env"].values()
    assert "--allow-unsandboxed" in check["run"] and "${{ inputs.allow-unsandboxed }}" in check["env"].values()
    # The pip cache: keyed on a hash of the action's own constraints.txt and pyproject.toml.
    pins = next(s for s in steps if s.get("id") == "pins")
    assert '"$GITHUB_ACTION_PATH/constraints.txt"' in pins["run"] and '"$GITHUB_ACTION_PATH/pyproject.toml"' in pins["run"]
    cache = next(s for s in steps if str(s.get("uses", "")).startswith("actions/cache@"))
    assert "${{ steps.pins.outputs.hash }}" in cache["with"]["key"]
    assert cache["with"]["path"] == "${{ steps.pins.outputs.dir }}"
    assert steps.index(cache) < next(i for i, s in enumerate(steps) if "pip install" in s.get("run", ""))
    # Every pip install is held to the pins (an unpinned torch pulls gigabytes of CUDA wheels).
    runs = " ".join(s.get("run", "").replace("\\\n", " ") for s in steps)
    installs = re.findall(r"pip install[^\n]*", runs)
    assert installs and all(re.search(r'-c "\$GITHUB_ACTION_PATH/constraints\.txt"', i) for i in installs), installs
    # The AppArmor user-namespace restriction is lifted where sudo allows, and a failure is ignored.
    userns = next(s for s in steps if "apparmor_restrict_unprivileged_userns=0" in s.get("run", ""))
    assert "inputs.enable-user-namespaces" in userns["if"] and userns["run"].rstrip().endswith("exit 0")
