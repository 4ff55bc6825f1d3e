"""Hostile user code run through the real worker: secrets, network, hangs, crashes, memory,
processes and writes outside the worker's temp dir."""
from __future__ import annotations

import os
import socket
import textwrap
import threading
import time
from pathlib import Path

import pytest

from agent.sandbox.isolation import probe_namespaces
from agent.sandbox.pool import Worker, WorkerConfig
from tests.support.operations import registry

HOSTILE = textwrap.dedent('''
    import ctypes, os, resource, socket, subprocess, sys, threading, time
    import numpy as np

    def secrets(value):
        """The variable itself, and any process environment that holds the value."""
        found = []
        for pid in os.listdir("/proc"):
            try:
                if value.encode() in open(f"/proc/{pid}/environ", "rb").read():
                    found.append(pid)
            except OSError:
                pass
        return {"env": os.environ.get("OPENAI_API_KEY"), "procs": found}

    def connect(port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
                return "connected: " + s.recv(16).decode()
        except OSError as exc:
            return f"refused: {exc}"

    def spin():
        while True:
            pass

    def spin_with_escapee(marker):
        subprocess.Popen(["sleep", marker], start_new_session=True)
        while True:
            pass

    def abort():
        os.abort()

    def segfault():
        ctypes.string_at(0)

    def exit_now():
        os._exit(3)

    def allocate(gib):
        # np.empty touches nothing, so a missing limit cannot take the machine down.
        try:
            a = np.empty(int(gib * 2**30), dtype=np.uint8)
        except MemoryError as exc:
            return f"refused: {exc}"
        return f"allocated {a.nbytes}"

    def raise_memory_limit():
        try:
            resource.setrlimit(resource.RLIMIT_DATA, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        except (ValueError, OSError) as exc:
            return f"refused: {exc}"
        return "raised"

    def write(path):
        try:
            with open(path, "w") as fh:
                fh.write("pwned")
        except OSError as exc:
            return f"refused: {exc}"
        return "written"

    def read(path):
        try:
            return open(path).read()
        except OSError as exc:
            return f"refused: {exc}"

    def many_threads(n):
        stop, started = threading.Event(), 0
        try:
            for _ in range(n):
                threading.Thread(target=stop.wait, daemon=True).start()
                started += 1
        except RuntimeError:
            pass
        stop.set()
        return started
''')


@pytest.fixture()
def config(tmp_path) -> WorkerConfig:
    (tmp_path / "msagent_hostile_ops.py").write_text(HOSTILE)
    return WorkerConfig(operations=registry("msagent_hostile_ops", HOSTILE), extra_env={"PYTHONPATH": str(tmp_path)},
                        timeout_s=20)


@pytest.fixture()
def worker(config):
    with Worker(config) as w:
        yield w


needs_netns = pytest.mark.skipif(not probe_namespaces()["network"], reason="no network namespace on this host")
needs_mountns = pytest.mark.skipif(not probe_namespaces()["fs"], reason="no mount namespace on this host")


def test_api_key_in_parent_env_is_invisible(monkeypatch, config):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-msagent-test-7f3a")
    with Worker(config) as w:
        seen = w.call("secrets", {"value": "sk-msagent-test-7f3a"})["result"]
    assert seen["env"] is None
    if w.isolation["pid"] or w.isolation["capabilities_dropped"]:
        assert seen["procs"] == []  # not even through /proc/<parent>/environ


@pytest.fixture()
def tcp_server():
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conn.sendall(b"hello")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


@needs_netns
def test_network_is_cut_off(worker, tcp_server):
    assert worker.isolation["network"] is True
    assert worker.call("connect", {"port": tcp_server})["result"].startswith("refused")


def test_without_isolation_the_same_connection_works(config, tcp_server):
    config = config.model_copy(update={"network_isolation": False, "fs_isolation": False, "pid_isolation": False})
    with Worker(config) as w:
        assert w.isolation["network"] is False and w.isolation["fs"] is False
        assert w.call("connect", {"port": tcp_server})["result"] == "connected: hello"


def test_infinite_loop_times_out_and_worker_restarts(worker):
    started = time.monotonic()
    reply = worker.call("spin", timeout=1)
    assert reply == {"id": reply["id"], "ok": False, "kind": "timeout", "error": "timed out after 1s"}
    assert time.monotonic() - started < 10
    assert worker.alive and worker.restarts == 1
    assert worker.call("echo", {"value": "back"})["result"] == "back"


def _processes_with(marker: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            pass
    return found


def test_timeout_kills_processes_that_left_the_group(worker):
    marker = "313.25"  # a sleep length nothing else uses
    reply = worker.call("spin_with_escapee", {"marker": marker}, timeout=1.5)
    assert reply["kind"] == "timeout"
    if worker.isolation["pid"] or any(r.startswith("pids_cgroup") for r in worker.isolation["rlimits"]):
        time.sleep(0.2)
        assert _processes_with(marker) == []


@pytest.mark.parametrize(("op", "signal_name"), [("abort", "SIGABRT"), ("segfault", "SIGSEGV")])
def test_crash_is_reported_and_next_call_restarts(worker, op, signal_name):
    reply = worker.call(op)
    assert reply["ok"] is False and reply["kind"] == "crash"
    assert reply["error"] == f"worker died: signal {signal_name}"
    assert "stderr" in reply
    assert not worker.alive
    assert worker.call("echo", {"value": op})["result"] == op
    assert worker.restarts == 1


def test_os_exit_is_a_crash(worker):
    reply = worker.call("exit_now")
    assert reply["kind"] == "crash" and reply["error"] == "worker died: exit code 3"
    assert worker.call("noop")["ok"] is True


def test_huge_allocation_is_refused_and_worker_survives(worker):
    assert worker.call("allocate", {"gib": 50})["result"].startswith("refused")
    assert worker.call("allocate", {"gib": 0.05})["result"] == f"allocated {int(0.05 * 2**30)}"
    assert worker.call("raise_memory_limit")["result"].startswith("refused") or os.geteuid() != 0


def test_process_count_is_capped(config):
    with Worker(config.model_copy(update={"max_processes": 24})) as w:
        if not any(r.startswith(("pids_cgroup", "nproc")) for r in w.isolation["rlimits"]):
            pytest.skip("no way to cap processes on this host: " + "; ".join(w.isolation["notes"]))
        started = w.call("many_threads", {"n": 200})["result"]
        assert 0 < started < 24
        assert w.call("noop")["ok"] is True


@needs_mountns
def test_nothing_is_written_outside_the_temp_dir(config, tmp_path):
    protected = tmp_path / "protected"
    protected.mkdir()
    secret_home = tmp_path / "home"
    secret_home.mkdir()
    (secret_home / "credentials").write_text("token")
    config = config.model_copy(update={"read_only_paths": [str(protected)], "hidden_paths": [str(secret_home)]})
    with Worker(config) as w:
        assert w.isolation["fs"] is True and w.isolation["hidden"] == [str(secret_home)]
        call = lambda op, path: w.call(op, {"path": str(path)})["result"]  # noqa: E731
        assert call("write", protected / "x.txt").startswith("refused")
        assert call("read", secret_home / "credentials").startswith("refused")
        call("write", secret_home / "planted.txt")  # lands on the tmpfs hiding it, or is refused
        assert call("write", Path(w.workdir) / "scratch.txt") == "written"
    assert not (protected / "x.txt").exists()
    assert sorted(p.name for p in secret_home.iterdir()) == ["credentials"]


@needs_mountns
def test_callers_home_is_hidden_by_default(worker):
    home = os.path.realpath(os.path.expanduser("~"))
    if home == "/" or not os.path.isdir(home):
        pytest.skip("no home folder to hide")
    assert home in [os.path.realpath(p) for p in worker.isolation["hidden"]]
    target = Path(home, "msagent-sandbox-probe.txt")
    worker.call("write", {"path": str(target)})
    assert not target.exists()


@needs_mountns
def test_default_makes_the_whole_filesystem_read_only(worker, tmp_path):
    assert "/" in worker.isolation["read_only"]
    assert worker.call("write", {"path": str(tmp_path / "y.txt")})["result"].startswith("refused")
    assert worker.call("write", {"path": "/dev/shm/msagent-probe"})["result"] == "written"
    assert not (tmp_path / "y.txt").exists() and not Path("/dev/shm/msagent-probe").exists()
