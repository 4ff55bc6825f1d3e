"""`msagent migrate --ray ADDRESS`: files verified by Ray actors. The slow test starts a two-node Ray
cluster on this machine (a head and a second node, one CPU each, so the two actors land on different
nodes) and migrates a small repo over it; the report is the one `--jobs 1` gives locally: the same
units, statuses and order, the same summary (less the seconds) and the same OUT files. The fast tests
cover the runtime_env and resources the actors are created with and `--ray` without Ray installed."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.repair import ray_lanes
from tests.test_migrate_jobs import HEAD, MLP, PADDED, CONV, block, listed, py_files

ROOT = Path(__file__).resolve().parents[1]
FILES = {
    "pkg/__init__.py": "",
    "pkg/a.py": HEAD + block("First", MLP) + block("Second", CONV),
    "pkg/b.py": HEAD + block("Padded", PADDED) + block("Fine", MLP),
    "pkg/c.py": HEAD + block("Third", MLP),
}
UNITS = [("pkg/a.py", "First"), ("pkg/a.py", "Second"), ("pkg/b.py", "Padded"), ("pkg/b.py", "Fine"),
         ("pkg/c.py", "Third")]


def test_runtime_env_on_this_machine_is_this_interpreter():
    env = ray_lanes.runtime_env_for(True, {"A": "1"}, python="/venv/bin/python")
    assert env == {"py_executable": "/venv/bin/python", "env_vars": {"A": "1"}}  # nothing installed


def test_runtime_env_elsewhere_installs_msagent_and_the_pinned_frameworks():
    env = ray_lanes.runtime_env_for(False)
    assert "py_executable" not in env and env["env_vars"] == {}
    assert env["py_modules"] == [str(ROOT / "agent")]
    packages = env["pip"]["packages"]
    pins = [line.strip() for line in (ROOT / "constraints.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    for pin in ("torch==2.13.0", "mindspore==2.10.0", "numpy<2"):
        assert pin in pins and pin in packages
    assert "libcst>=1.4" in packages and not any(p.startswith(("pytest", "ray", "githubkit")) for p in packages)


def test_resources_ask_for_the_device():
    assert ray_lanes.device_resources("cpu") == {"num_cpus": 1}
    assert ray_lanes.device_resources("gpu") == {"num_cpus": 1, "num_gpus": 1}
    assert ray_lanes.device_resources("ascend") == {"num_cpus": 1, "resources": {"NPU": 1}}


def test_ray_without_ray_installed_is_a_usage_error(tmp_path, monkeypatch):
    from agent.cli.main import app

    (tmp_path / "src").mkdir()
    monkeypatch.setattr(ray_lanes, "ray_installed", lambda: False)
    result = CliRunner().invoke(app, ["migrate", str(tmp_path / "src"), "-o", str(tmp_path / "out"),
                                      "--ray", "auto"])
    assert result.exit_code == 2
    assert "pip install 'msagent[ray]'" in result.output


def test_a_cluster_that_does_not_answer_is_a_usage_error(tmp_path):
    pytest.importorskip("ray")
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text(HEAD + block("First", MLP))
    port = free_ports(1)[0]
    proc = subprocess.run([sys.executable, "-m", "agent.cli.main", "migrate", str(src), "-o", str(tmp_path / "out"),
                           "-q", "--ray", f"127.0.0.1:{port}"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and f"cannot connect to the Ray cluster at 127.0.0.1:{port}" in proc.stderr


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def node_ports(ports: list[int]) -> list[str]:
    """The ports a node opens besides the head's, distinct for each node on one machine."""
    names = ("--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
             "--dashboard-agent-grpc-port", "--metrics-export-port", "--runtime-env-agent-port")
    return [f"{name}={port}" for name, port in zip(names, ports)]


@pytest.fixture(scope="module")
def cluster():
    pytest.importorskip("ray")
    ray_bin = str(Path(sys.executable).parent / "ray")
    temp = tempfile.mkdtemp(prefix="msr", dir="/tmp")  # short: Ray's socket paths must stay under 108 bytes
    ports = free_ports(14)
    address = f"127.0.0.1:{ports[0]}"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    common = ["--num-cpus", "1", "--num-gpus", "0", "--disable-usage-stats"]
    try:
        subprocess.run([ray_bin, "start", "--head", "--port", str(ports[0]), "--node-ip-address", "127.0.0.1",
                        "--temp-dir", temp, "--include-dashboard=false",
                        *node_ports(ports[2:8]), *common], check=True, env=env, capture_output=True, timeout=180)
        subprocess.run([ray_bin, "start", "--address", address, "--node-ip-address", "127.0.0.1",
                        *node_ports(ports[8:14]), *common], check=True, env=env, capture_output=True, timeout=180)
        yield address
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"ray start failed: {exc.stderr.decode()[-3000:]}")
    finally:
        subprocess.run([ray_bin, "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


def migrate(src: Path, out: Path, *flags: str) -> tuple[subprocess.CompletedProcess, dict]:
    proc = subprocess.run([sys.executable, "-m", "agent.cli.main", "migrate", str(src), "-o", str(out), *flags],
                          capture_output=True, text=True, cwd=ROOT, timeout=900,
                          env={**os.environ, "NO_COLOR": "1", "RAY_USAGE_STATS_ENABLED": "0"})
    assert proc.returncode == 1, proc.stderr[-3000:]  # one unit fails
    return proc, json.loads((out / "msagent-report.json").read_text())


@pytest.mark.slow
def test_a_two_node_ray_cluster_reports_what_the_local_run_reports(cluster, tmp_path):
    import ray

    src = tmp_path / "src"
    for rel, text in FILES.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    ray.init(address=cluster)
    try:
        nodes = [n for n in ray.nodes() if n["Alive"]]
        assert ray_lanes._same_machine(ray)  # so the actors run this interpreter, installing nothing
    finally:
        ray.shutdown()
    assert len(nodes) == 2
    proc, remote = migrate(src, tmp_path / "out-ray", "--ray", cluster)
    _, local = migrate(src, tmp_path / "out-local", "--jobs", "1")
    assert [(u["file"], u["name"]) for u in remote["units"]] == UNITS
    assert listed(remote) == listed(local)
    assert [u["reason"] for u in remote["units"]] == [u["reason"] for u in local["units"]]
    statuses = {u["name"]: u["status"] for u in remote["units"]}
    assert statuses["Padded"] == "failed"
    assert all(statuses[n] == "verified-by-rules" for n in ("First", "Second", "Fine", "Third"))
    s_remote, s_local = ({k: v for k, v in r["summary"].items() if k != "seconds"} for r in (remote, local))
    assert s_remote == s_local
    assert remote["sandbox"] == local["sandbox"] and remote["errors"] == local["errors"] == []
    assert py_files(tmp_path / "out-ray") == py_files(tmp_path / "out-local")
    assert proc.stderr.count("msagent: [") == len(UNITS)  # a progress line per unit, from the main process
    journal = (tmp_path / "out-ray" / ".msagent" / "journal.jsonl").read_text()
    _, again = migrate(src, tmp_path / "out-ray", "--ray", cluster)  # every unit from the journal the Ray run wrote
    assert again["units"] == remote["units"]
    assert (tmp_path / "out-ray" / ".msagent" / "journal.jsonl").read_text() == journal
