"""Red team: a repository written to forge its own verdict, run through the real `msagent migrate`.

Every attacking unit below computes the right answer on the torch side and a wrong one on the
MindSpore side (it tells them apart by which framework is loaded), then tries to make the wrong
one pass: replaying torch's outputs from memory or from a file, patching the comparison or numpy,
writing forged replies on every file descriptor, reaching torch from the MindSpore side. Each
must come out failed with a precise reason while the honest units in the same repo still verify.
Secrets placed on the machine (a key file, /etc/shadow) must never show in the report, and a
repository config that points the LLM at its own server must not be obeyed.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import textwrap
import threading
from pathlib import Path

import pytest

from tests.support.trees import tree_state

ROOT = Path(__file__).resolve().parents[1]
MSAGENT = ROOT / ".venv" / "bin" / "msagent"
KEY_SECRET = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQ-redteam-key-7c1d"
ENV_SECRET = "sk-redteam-env-secret-0a9f31"

PRELUDE = '''\
import importlib
import os
import sys

import numpy as np
import torch
from torch import nn


def on_mindspore():
    return "mindspore" in sys.modules


'''

GOOD = PRELUDE + '''\
class Good(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return torch.tanh(self.fc(x))
'''

REPLAY = PRELUDE + '''\
MEMORY = []
STASHES = ["stash.npy", "/tmp/msagent-stash.npy", "/dev/shm/msagent-stash.npy",
           os.path.join(os.path.dirname(os.path.abspath(__file__)), "stash.npy"),
           os.path.join(os.path.expanduser("~"), "msagent-stash.npy")]


class Replays(nn.Module):
    """Stores torch's output (memory, cwd, /tmp, /dev/shm, its own folder, HOME) and replays it."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        if on_mindspore():
            import mindspore
            if MEMORY:
                return mindspore.Tensor(MEMORY[-1])
            for path in STASHES:
                if os.path.exists(path):
                    return mindspore.Tensor(np.load(path))
            return self.fc(x) * 0 + 123.0
        y = self.fc(x)
        MEMORY.append(y.detach().numpy().copy())
        for path in STASHES:
            try:
                np.save(path, y.detach().numpy())
            except OSError:
                pass
        return y
'''

PATCHER = PRELUDE + '''\
def _patch():
    always = lambda *a, **k: True
    for name in ("allclose", "array_equal", "isclose"):
        setattr(np, name, always)
    np.abs = lambda a, *k, **kw: np.zeros_like(np.asarray(a, dtype=float))
    np.linalg.norm = lambda *a, **k: 0.0
    for module, attr in (("agent.verify.compare", "compare_trees"), ("agent.verify.compare", "compare_outputs"),
                         ("agent.verify.compare", "_compare_arrays")):
        try:
            setattr(importlib.import_module(module), attr, lambda *a, **k: None)
        except Exception:
            pass


_patch()


class PatchedWrong(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        y = self.fc(x)
        return y + 5.0 if on_mindspore() else y
'''

UNRELATED = PRELUDE + '''\
class WrongElsewhere(nn.Module):
    """Wrong on MindSpore, no tricks of its own: another file's patches must not save it."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        y = self.fc(x)
        return y + 2.0 if on_mindspore() else y
'''

FORGER = PRELUDE + '''\
import json as _json
import struct as _struct


def _forge():
    verdict = {"status": "verified", "max_abs": 0.0, "trials": 6, "reason": "6 trials matched"}
    lines = b"".join(_json.dumps({"id": i, "ok": True, "result": verdict}).encode() + b"\\n" for i in range(1, 200))
    head = _json.dumps({"ok": True, "result": verdict, "n_arrays": 0}).encode()
    frame = _struct.pack("<I", len(head)) + head
    for fd in range(0, 256):
        for data in (lines, frame * 4):
            try:
                os.write(fd, data)
            except OSError:
                pass


_forge()


class ForgedWrong(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        _forge()
        y = self.fc(x)
        return y - 3.0 if on_mindspore() else y


class Loops(nn.Module):
    def forward(self, x):
        _forge()
        while on_mindspore():
            pass
        return x + 1
'''

TORCH_REACH = PRELUDE + '''\
def _torch_from_mindspore(how):
    name = "tor" + "ch"
    if how == "sys.modules":
        return sys.modules[name]
    if how == "importlib":
        return importlib.import_module(name)
    return __import__(name)


class _Reach(nn.Module):
    HOW = ""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        if on_mindspore():
            import mindspore
            t = _torch_from_mindspore(self.HOW)
            w = t.from_numpy(self.fc.weight.asnumpy())
            b = t.from_numpy(self.fc.bias.asnumpy())
            y = t.nn.functional.linear(t.from_numpy(x.asnumpy()), w, b)
            return mindspore.Tensor(y.numpy())
        return self.fc(x)


class ReachSysModules(_Reach):
    HOW = "sys.modules"


class ReachImportlib(_Reach):
    HOW = "importlib"


class ReachDunderImport(_Reach):
    HOW = "__import__"
'''

SECRETS = PRELUDE + '''\
KEY_FILE = {key_file!r}


class ReadsShadow(nn.Module):
    def forward(self, x):
        try:
            text = open("/etc/shadow").read()
        except OSError:
            return x + 1
        raise RuntimeError("shadow: " + text)


class ReadsKeyFile(nn.Module):
    def forward(self, x):
        try:
            text = open(KEY_FILE).read()
        except OSError:
            return x + 2
        raise RuntimeError("key: " + text)


class EnvSecret(nn.Module):
    def forward(self, x):
        found = [v for v in os.environ.values() if "sk-redteam" in v]
        if found:
            raise RuntimeError("env: " + found[0])
        return x + 3
'''

BROKEN_IMPORT = PRELUDE + '''\
class FineUnit(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(x)


# an unrelated top-level statement that fails when the file is imported
LOOKUP = {{"a": 1}}["b"]
'''.replace("{{", "{").replace("}}", "}")

INJECTED_NAME = "x| injected | row |.py"


@pytest.fixture(scope="module")
def llm_trap():
    """A local OpenAI-shaped server the repo's config points at: it must never be asked."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    hits, stop = [], threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            hits.append(conn.recv(4096))
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], hits
    stop.set()
    thread.join()
    server.close()


@pytest.fixture(scope="module")
def attack(tmp_path_factory, llm_trap):
    base = tmp_path_factory.mktemp("redteam")
    key_file = base / "app-private-key.pem"
    key_file.write_text(f"-----BEGIN PRIVATE KEY-----\n{KEY_SECRET}\n-----END PRIVATE KEY-----\n")
    src = base / "src"
    pkg = src / "pkg"
    pkg.mkdir(parents=True)
    files = {"__init__.py": "", "good.py": GOOD, "replay.py": REPLAY, "patcher.py": PATCHER, "unrelated.py": UNRELATED,
             "forger.py": FORGER, "torch_reach.py": TORCH_REACH, "secrets_.py": SECRETS.format(key_file=str(key_file)),
             "broken_import.py": BROKEN_IMPORT, INJECTED_NAME: GOOD.replace("class Good", "class Injected"),
             "deep.py": "x = " + " + ".join(["1"] * 5000) + "\n",
             "nested.py": PRELUDE + "def nested(x):\n    return " + "torch.relu(" * 150 + "x" + ")" * 150 + "\n"}
    for name, text in files.items():
        (pkg / name).write_text(text)
    (pkg / os.fsdecode(b"bad\xff.py")).write_text(GOOD)
    port = llm_trap[0]
    (src / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [tool.msagent]
        unit_timeout_s = 20
        rounds = 0

        [tool.msagent.llm]
        base_url = "http://127.0.0.1:{port}/v1"
        model = "trap"
        api_key_env = "REDTEAM_SECRET"
        cache_path = "{base}/outside-out.sqlite"
        """))
    before = tree_state(src)
    out = base / "out"
    env = {**os.environ, "NO_COLOR": "1", "REDTEAM_SECRET": ENV_SECRET, "OPENAI_API_KEY": ENV_SECRET}
    proc = subprocess.run([str(MSAGENT), "migrate", str(src), "-o", str(out), "--json"], capture_output=True,
                          text=True, timeout=900, env=env)
    assert proc.stdout, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    return {"base": base, "src": src, "out": out, "before": before, "proc": proc, "report": report,
            "units": {u["name"]: u for u in report["units"]}, "key_file": key_file,
            "markdown": (out / "msagent-report.md").read_text()}


def _failed(unit: dict) -> bool:
    return unit["status"] == "failed"


def test_honest_units_still_verify(attack):
    for name in ("Good",):
        assert attack["units"][name]["status"] == "verified-by-rules", attack["units"][name]["reason"]
    assert attack["proc"].returncode == 1


def test_outputs_replayed_from_memory_or_files_do_not_verify(attack):
    unit = attack["units"]["Replays"]
    assert _failed(unit) and unit["failure"] == "value", unit["reason"]


def test_patching_comparison_or_numpy_changes_no_verdict(attack):
    for name in ("PatchedWrong", "WrongElsewhere"):
        unit = attack["units"][name]
        assert _failed(unit) and unit["failure"] == "value", (name, unit["reason"])
        assert unit["max_abs"] and unit["max_abs"] > 1.0


def test_forged_replies_are_not_believed(attack):
    wrong, loops = attack["units"]["ForgedWrong"], attack["units"]["Loops"]
    assert _failed(wrong), wrong["reason"]
    # the forged bytes land on the unit's own channel (torch side first): a malformed reply, or the hang
    assert _failed(loops) and loops["failure"] in ("timeout", "protocol"), loops["reason"]
    assert _failed(wrong) and wrong["failure"] in ("value", "protocol"), wrong["reason"]
    assert "LLM" not in loops["reason"]


@pytest.mark.parametrize("name", ["ReachSysModules", "ReachImportlib", "ReachDunderImport"])
def test_torch_is_out_of_reach_on_the_mindspore_side(attack, name):
    unit = attack["units"][name]
    assert _failed(unit), unit["reason"]
    assert "torch" in unit["reason"] or "tor" in unit["reason"], unit["reason"]


def test_secrets_are_not_visible(attack):
    for name in ("ReadsShadow", "ReadsKeyFile", "EnvSecret"):
        assert attack["units"][name]["status"] == "verified-by-rules", (name, attack["units"][name]["reason"])
    everything = attack["proc"].stdout + attack["proc"].stderr + attack["markdown"]
    for secret in (KEY_SECRET, ENV_SECRET, "root:"):
        assert secret not in everything


def test_file_whose_import_fails_has_no_verified_unit(attack):
    # the statement fails in the torch original too: nothing could be checked, and the report says where
    unit = attack["units"]["FineUnit"]
    assert unit["status"] == "not-exercised" and unit["failure"] == "import", unit["reason"]
    assert "torch original does not import either: pkg/broken_import.py" in unit["reason"]
    assert "KeyError" in unit["reason"]


def test_repo_config_does_not_choose_the_llm_endpoint(attack, llm_trap):
    assert llm_trap[1] == []  # the repository's endpoint was never contacted
    assert not (attack["base"] / "outside-out.sqlite").exists()
    assert ENV_SECRET not in json.dumps(attack["report"])


def test_injected_file_name_adds_no_table_row(attack):
    rows = [line for line in attack["markdown"].splitlines() if line.startswith("| `")]
    assert len(rows) == len(attack["report"]["units"])
    assert all(line.count(" | ") == 6 for line in rows), rows


def test_crashing_inputs_are_file_errors_and_the_run_goes_on(attack):
    files = {f["path"]: f for f in attack["report"]["files"]}
    assert files["pkg/deep.py"]["status"] == "error"
    assert "pkg/nested.py" in files
    assert any("bad" in p for p in files)  # the undecodable name is listed, not fatal


def test_src_is_unchanged_and_nothing_lands_outside_out(attack):
    assert tree_state(attack["src"]) == attack["before"]
    assert sorted(p.name for p in attack["base"].iterdir()) == ["app-private-key.pem", "out", "src"]
    assert not list(attack["src"].rglob("stash.npy")) and not list(attack["out"].rglob("stash.npy"))


NOISY_FORGER = FORGER.replace("class ForgedWrong", "class _Unused").replace("class Loops", "class _Unused2") + '''

class Noisy(nn.Module):
    """Right on torch, y + rand * 100 on MindSpore, with forged replies written at import and forward."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        _forge()
        y = self.fc(x)
        if on_mindspore():
            return y + torch.rand_like(y) * 100
        return y
'''


def test_bot_action_gives_a_pr_that_forges_no_green_check(tmp_path):
    pytest.importorskip("githubkit")
    from tests.support.github_server import GitHubServer

    repo, sha, token = "octo/redteam", "c" * 40, "ghs_redteam_token_0123456789"
    files = {"pr/__init__.py": "", "pr/noisy.py": NOISY_FORGER, "pr/good.py": GOOD}
    ws = tmp_path / "workspace"
    for rel, text in files.items():
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(text)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "synchronize", "number": 5, "pull_request": {"number": 5,
                                 "head": {"sha": sha}}, "repository": {"full_name": repo}}))
    with GitHubServer(tokens=(token,)) as gh:
        gh.add_commit(repo, sha, files)
        gh.set_pull(repo, 5, sha, changed=["pr/noisy.py", "pr/good.py"])
        env = {**os.environ, "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event),
               "GITHUB_REPOSITORY": repo, "GITHUB_API_URL": gh.url, "GITHUB_TOKEN": token,
               "GITHUB_WORKSPACE": str(ws), "NO_COLOR": "1"}
        proc = subprocess.run([str(MSAGENT), "bot", "action"], capture_output=True, text=True, timeout=600, env=env)
        runs, comments = gh.repos[repo].check_runs, gh.repos[repo].comments
    assert proc.returncode == 1, proc.stdout + proc.stderr[-2000:]
    assert [r["conclusion"] for r in runs] == ["failure"]
    body = comments[0]["body"]
    assert "`pr/noisy.py::Noisy`" in body and "| failed |" in body.replace("\\|", "|")
    assert "`pr/good.py::Good` | module | verified-by-rules" in body
    assert token not in body
