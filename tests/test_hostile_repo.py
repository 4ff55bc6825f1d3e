"""A hostile repository through the real `msagent migrate`: verifying a unit runs the user's code,
so each forward below tries something a sandboxed worker must stop. A unit whose forward would
succeed at the attack raises instead, so `verified` in the report means the attack failed.
Hangs and crashes end as `failed` with their reason, and the unit after each one is verified by
the restarted worker. SRC stays byte-identical and nothing lands outside the worker's temp dir."""
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
SECRET = "sk-msagent-hostile-51c9"
LLM_SECRET = "sk-msagent-llm-key-88e2"  # a different value: the OpenAI-key unit scans for SECRET only

HOSTILE = textwrap.dedent('''\
    import ctypes
    import os
    import socket
    from pathlib import Path

    import numpy as np
    import torch
    from torch import nn

    SECRET = {secret!r}
    PORT = {port}
    HOME_TARGET = {home_target!r}


    def _environ_holding(value):
        """Any process environment this code can read that holds the value."""
        found = []
        for pid in os.listdir("/proc"):
            try:
                if value.encode() in open(f"/proc/{{pid}}/environ", "rb").read():
                    found.append(pid)
            except OSError:
                pass
        return found


    class ReadsOpenAIKey(nn.Module):
        def forward(self, x):
            if os.environ.get("OPENAI_API_KEY") or _environ_holding(SECRET):
                raise RuntimeError("saw the OpenAI key")
            return x + 1


    class ReadsLLMKey(nn.Module):
        def forward(self, x):
            if os.environ.get("MSAGENT_LLM_API_KEY"):
                raise RuntimeError("saw MSAGENT_LLM_API_KEY")
            return x + 2


    class PhonesHome(nn.Module):
        def forward(self, x):
            try:
                with socket.create_connection(("127.0.0.1", PORT), timeout=2) as s:
                    got = s.recv(5)
            except OSError:
                return x * 2
            raise RuntimeError(f"connected to the test server: {{got!r}}")


    class Spins(nn.Module):
        def forward(self, x):
            while True:
                pass


    class Aborts(nn.Module):
        def forward(self, x):
            os.abort()


    class AfterAbort(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return torch.tanh(self.fc(x))


    class Segfaults(nn.Module):
        def forward(self, x):
            ctypes.string_at(0)
            return x


    class AfterSegfault(nn.Module):
        def forward(self, x):
            return torch.relu(x) - 1


    class Allocates50GB(nn.Module):
        def forward(self, x):
            try:
                block = np.empty(50 * 2**30, dtype=np.uint8)
            except MemoryError:
                return x - 1
            raise RuntimeError(f"allocated {{block.nbytes}} bytes")


    class WritesIntoItsSource(nn.Module):
        def forward(self, x):
            try:
                Path(__file__).with_name("planted.py").write_text("pwned")
            except OSError:
                return x * 3
            raise RuntimeError("wrote next to its own source file")


    class WritesToHome(nn.Module):
        def forward(self, x):
            try:
                Path(HOME_TARGET).write_text("pwned")
            except OSError:
                pass
            return x * 4
''')


@pytest.fixture(scope="module")
def tcp_server():
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()
    accepted = []

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            accepted.append(1)
            conn.sendall(b"hello")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory, tcp_server):
    base = tmp_path_factory.mktemp("hostile")
    home = base / "home"
    home.mkdir()
    (home / "credentials").write_text("token")
    src = base / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "__init__.py").write_text("")
    (src / "pkg" / "hostile.py").write_text(HOSTILE.format(secret=SECRET, port=tcp_server[0],
                                                           home_target=str(home / "planted.txt")))
    # A short unit timeout keeps the hang cheap (the other units finish far inside it); no repair
    # rounds, since each KB-alternative attempt on the hang would wait out the timeout again.
    (src / "pyproject.toml").write_text("[tool.msagent]\nunit_timeout_s = 8\nrounds = 0\n")
    before = tree_state(src)
    out = base / "out"
    env = {**os.environ, "NO_COLOR": "1", "HOME": str(home), "OPENAI_API_KEY": SECRET,
           "MSAGENT_LLM_API_KEY": LLM_SECRET}
    proc = subprocess.run([str(MSAGENT), "migrate", str(src), "-o", str(out), "--json"], capture_output=True,
                          text=True, timeout=400, env=env)
    assert proc.stdout, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    return {"src": src, "out": out, "home": home, "before": before, "proc": proc, "report": report,
            "units": {u["name"]: u for u in report["units"]}, "base": base}


def test_the_report_says_which_isolation_applied(hostile_run):
    sandbox = hostile_run["report"]["sandbox"]
    assert sandbox["env"] == "allow-list"
    for key in ("network", "pid", "fs"):
        assert isinstance(sandbox[key], bool)
    assert hostile_run["proc"].returncode == 1  # hangs and crashes are failures


def test_api_key_in_the_cli_environment_is_not_seen(hostile_run):
    unit = hostile_run["units"]["ReadsOpenAIKey"]
    assert unit["status"] == "verified-by-rules", unit["reason"]


def test_llm_api_key_variable_is_not_seen(hostile_run):
    unit = hostile_run["units"]["ReadsLLMKey"]
    assert unit["status"] == "verified-by-rules", unit["reason"]


def test_connection_to_a_local_server_is_refused(hostile_run, tcp_server):
    unit = hostile_run["units"]["PhonesHome"]
    if not hostile_run["report"]["sandbox"]["network"]:
        pytest.skip("no network namespace on this host: " + "; ".join(hostile_run["report"]["sandbox"]["notes"]))
    assert unit["status"] == "verified-by-rules", unit["reason"]
    assert tcp_server[1] == []  # the server never saw a connection


def test_infinite_loop_times_out(hostile_run):
    unit = hostile_run["units"]["Spins"]
    assert unit["status"] == "failed" and unit["failure"] == "timeout"


@pytest.mark.parametrize("name", ["Aborts", "Segfaults"])
def test_crash_fails_the_unit_and_the_next_unit_is_verified(hostile_run, name):
    unit = hostile_run["units"][name]
    assert unit["status"] == "failed" and unit["failure"] == "crash"
    nxt = hostile_run["units"]["After" + name.removesuffix("s")]
    assert nxt["status"] == "verified-by-rules", nxt["reason"]


@pytest.mark.parametrize(("name", "detail"), [("Spins", "timed out after 8s"), ("Aborts", "signal SIGABRT"),
                                              ("Segfaults", "signal SIGSEGV")])
def test_hang_and_crash_reasons_say_what_happened(hostile_run, name, detail):
    assert detail in hostile_run["units"][name]["reason"]


def test_50gb_allocation_is_refused(hostile_run):
    unit = hostile_run["units"]["Allocates50GB"]
    assert unit["status"] == "verified-by-rules", unit["reason"]


def test_writes_to_its_source_folder_are_refused_and_src_is_unchanged(hostile_run):
    unit = hostile_run["units"]["WritesIntoItsSource"]
    if not hostile_run["report"]["sandbox"]["fs"]:
        pytest.skip("no mount namespace on this host")
    assert unit["status"] == "verified-by-rules", unit["reason"]
    assert tree_state(hostile_run["src"]) == hostile_run["before"]
    assert not (hostile_run["out"] / "pkg" / "planted.py").exists()


def test_writes_to_home_never_reach_it(hostile_run):
    unit = hostile_run["units"]["WritesToHome"]
    assert unit["status"] == "verified-by-rules", unit["reason"]
    assert sorted(p.name for p in hostile_run["home"].iterdir()) == ["credentials"]


def test_nothing_was_written_outside_out(hostile_run):
    base = hostile_run["base"]
    assert sorted(p.name for p in base.iterdir()) == ["home", "out", "src"]
    assert [p for p in hostile_run["out"].rglob("planted*")] == []


def test_hangs_and_crashes_are_charged_their_time(hostile_run):
    assert hostile_run["units"]["Spins"]["seconds"] >= 8
    assert hostile_run["units"]["Aborts"]["seconds"] > 0
