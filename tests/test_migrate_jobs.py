"""`msagent migrate --jobs N`: units verified on N verifiers at once (one file's units on one of them).
Through the real CLI, a small repo (units that verify, one that fails, a file that does not import)
gives the same report with --jobs 2 as with --jobs 1: the same units, statuses and order, the same
summary and the same OUT files; progress prints one line per unit from the lanes; a rerun resumes
every unit from the journal the --jobs 2 run wrote."""
from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MSAGENT = [sys.executable, "-m", "agent.cli.main"]
JOURNAL = ".msagent/journal.jsonl"

HEAD = "import torch\nimport torch.nn.functional as F\nfrom torch import nn\n"


def block(name: str, body: str) -> str:
    return "\n\n" + textwrap.dedent(body).replace("NAME", name)


MLP = """\
    class NAME(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(6, 8)
            self.fc2 = nn.Linear(8, 6)

        def forward(self, x):
            return self.fc2(torch.tanh(self.fc1(x)))
"""
CONV = """\
    class NAME(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x):
            return F.relu(self.conv(x))
"""
# proj_size has no MindSpore nn.LSTM equivalent: the rules mark the call and leave it in torch,
# building the cell fails, and with no LLM configured the unit stays failed
PADDED = """\
    class NAME(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(3, 8, proj_size=2)  # no MindSpore counterpart: marked, the cell cannot build

        def forward(self, x):
            return torch.relu(self.rnn(x)[0])
"""

FILES = {
    "pkg/a.py": HEAD + block("First", MLP) + block("Second", CONV) + block("Third", MLP),
    "pkg/b.py": HEAD + block("Padded", PADDED) + block("Fine", MLP),
    # module-level code left unconverted (an internal torch API): the translated file does not import
    "pkg/c.py": HEAD + "TRACING = torch._C._get_tracing_state()\n" + block("Broken", MLP),
    "pkg/d.py": HEAD + block("Fourth", CONV) + block("Fifth", MLP),
}
UNITS = [("pkg/a.py", "First"), ("pkg/a.py", "Second"), ("pkg/a.py", "Third"), ("pkg/b.py", "Padded"),
         ("pkg/b.py", "Fine"), ("pkg/c.py", "Broken"), ("pkg/d.py", "Fourth"), ("pkg/d.py", "Fifth")]
PROGRESS = re.compile(r"^msagent: \[(\d+)/(\d+)\] (\S+)::(\S+) (\S+)")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*MSAGENT, *args], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "NO_COLOR": "1"})


def migrate(src: Path, out: Path, *flags: str) -> tuple[subprocess.CompletedProcess, dict]:
    proc = run_cli("migrate", str(src), "-o", str(out), *flags)  # stderr piped: plain progress lines
    assert proc.returncode == 1, proc.stderr[-3000:]  # one unit fails, one file does not import
    return proc, json.loads((out / "msagent-report.json").read_text())


def listed(report: dict) -> list[tuple]:
    return [(u["file"], u["name"], u["kind"], u["status"], u["failure"], u["level_reached"]) for u in report["units"]]


def progress_lines(stderr: str) -> list[tuple]:
    return [m.groups() for m in map(PROGRESS.match, stderr.splitlines()) if m]


def py_files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.py")) if ".msagent" not in p.parts}


def journal(out: Path) -> list[str]:
    return (out / JOURNAL).read_text().splitlines()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("jobs")
    src = base / "src"
    for rel, text in FILES.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    (src / "pkg" / "__init__.py").write_text("")
    two = migrate(src, base / "out2", "--jobs", "2")
    one = migrate(src, base / "out1", "--jobs", "1")
    return {"src": src, "base": base, 2: two, 1: one}


def test_jobs_2_reports_what_jobs_1_reports_in_the_order_found(runs):
    (_, r2), (_, r1) = runs[2], runs[1]
    assert [(u["file"], u["name"]) for u in r2["units"]] == UNITS
    assert listed(r2) == listed(r1)
    by_name = {u["name"]: u for u in r2["units"]}
    assert by_name["Padded"]["status"] == "failed"
    assert by_name["Broken"]["status"] != "verified-by-rules" and by_name["Broken"]["failure"] == "import"
    assert all(by_name[n]["status"] == "verified-by-rules" for n in ("First", "Second", "Third", "Fine", "Fourth",
                                                                      "Fifth"))
    s1, s2 = ({k: v for k, v in r["summary"].items() if k != "seconds"} for r in (r1, r2))
    assert s2 == s1
    assert py_files(runs["base"] / "out2") == py_files(runs["base"] / "out1")


def test_each_unit_gets_one_progress_line(runs):
    for jobs in (1, 2):
        lines = progress_lines(runs[jobs][0].stderr)
        assert [(int(n), int(total)) for n, total, *_ in lines] == [(k, len(UNITS)) for k in range(1, len(UNITS) + 1)]
        assert sorted((f, name) for _, _, f, name, _ in lines) == sorted(UNITS)
        statuses = {name: status for *_, name, status in lines}
        report = {u["name"]: u["status"] for u in runs[jobs][1]["units"]}
        assert statuses == report


def test_a_rerun_after_jobs_2_reuses_every_unit(runs):
    out = runs["base"] / "out2"
    before, (_, first) = journal(out), runs[2]
    assert sorted(json.loads(line)["unit"] for line in before) == sorted(f"pkg.{f[4]}.{n}" for f, n in UNITS)
    proc, again = migrate(runs["src"], out, "--jobs", "2")
    assert journal(out) == before  # nothing ran again
    assert again["units"] == first["units"]  # the journal's records, to the measured second
    assert len(progress_lines(proc.stderr)) == len(UNITS)
    proc, serial = migrate(runs["src"], out, "--jobs", "1")  # the journal does not depend on --jobs
    assert journal(out) == before and serial["units"] == first["units"]


SLOW = """\
    class NAME(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            import time
            time.sleep(0.3)
            return torch.sigmoid(self.fc(x))
"""


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def test_sigterm_with_jobs_2_writes_a_partial_report_in_the_order_found(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    files = {"a.py": HEAD + block("Quick", MLP), "b.py": HEAD + block("Slow", SLOW) + block("Slower", SLOW),
             "c.py": HEAD + block("Lazy", SLOW) + block("Lazier", SLOW), "d.py": HEAD + block("Last", MLP)}
    for rel, text in files.items():
        (src / rel).write_text(text)
    proc = subprocess.Popen([*MSAGENT, "migrate", str(src), "-o", str(out), "--jobs", "2", "--json"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "NO_COLOR": "1"})
    deadline = time.monotonic() + 120
    while not (out / JOURNAL).is_file() or not journal(out) or len(children(proc.pid)) < 4:
        assert proc.poll() is None and time.monotonic() < deadline, "no unit finished in time on two lanes"
        time.sleep(0.05)
    sides = children(proc.pid)  # two verifiers, a torch and a MindSpore side each
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and stdout == "", stderr[-3000:]
    report = json.loads((out / "msagent-report.json").read_text())
    assert [u["name"] for u in report["units"]] == ["Quick", "Slow", "Slower", "Lazy", "Lazier", "Last"]
    done = {json.loads(line)["unit"].rsplit(".", 1)[1] for line in journal(out)}
    assert 1 <= len(done) < 6
    interrupted = {u["name"] for u in report["units"] if u["reason"].startswith("interrupted")}
    assert interrupted == {u["name"] for u in report["units"]} - done
    assert not [pid for pid in sides if Path(f"/proc/{pid}").exists()]  # every side was stopped


# --- the pieces ---------------------------------------------------------------------------------------

def test_jobs_setting_is_validated_and_a_repo_may_set_it(tmp_path, monkeypatch):
    from agent.config import MigrateSettings, available_cores, load_settings

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("MSAGENT_JOBS", raising=False)
    assert MigrateSettings().jobs == available_cores() >= 1
    with pytest.raises(ValueError, match="at least 1"):
        MigrateSettings(jobs=0)
    (tmp_path / "msagent.toml").write_text("jobs = 1\n")
    settings = load_settings(tmp_path, {})
    assert settings.jobs == 1 and not settings.ignored_repo_settings
    assert load_settings(tmp_path, {"jobs": 5}).jobs == 5  # the flag wins
    monkeypatch.setenv("MSAGENT_JOBS", "3")
    assert load_settings(tmp_path, {}).jobs == 3
    monkeypatch.delenv("MSAGENT_JOBS")
    (tmp_path / "msagent.toml").write_text("jobs = 100000\n")  # a repository may not load the machine more
    settings = load_settings(tmp_path, {})
    assert settings.jobs == available_cores()
    assert [n for n in settings.ignored_repo_settings if "jobs = 100000 lowered" in n]


def test_jobs_is_not_part_of_the_fingerprint():
    from agent.config import MigrateSettings
    from agent.pipeline import Translated, fingerprint

    t = Translated(sources={"a.py": "x = 1\n"}, outputs={"a.py": "x = 1\n"})
    assert fingerprint(t, MigrateSettings(jobs=1)) == fingerprint(t, MigrateSettings(jobs=8))
    assert fingerprint(t, MigrateSettings(jobs=1)) != fingerprint(t, MigrateSettings(jobs=1, rounds=7))


def test_cli_refuses_jobs_below_one(tmp_path):
    proc = run_cli("migrate", str(tmp_path), "-o", str(tmp_path.parent / "out-jobs0"), "--jobs", "0")
    assert proc.returncode == 2 and "--jobs must be at least 1" in proc.stderr


def test_out_lock_lets_readers_share_and_a_writer_wait_for_them():
    from agent.repair.loop import OutLock

    lock, events = OutLock(), []
    reading = threading.Event()

    def reader():
        with lock.shared():
            with lock.shared():  # reentrant
                reading.set()
                time.sleep(0.2)
                events.append("read")

    def writer():
        reading.wait()
        with lock.exclusive():
            with lock.shared():  # a writer reads what it writes
                events.append("write")

    threads = [threading.Thread(target=reader), threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert events == ["read", "write"]
    with lock.shared(), pytest.raises(RuntimeError):
        with lock.exclusive():  # upgrading would deadlock against another reader: refused
            pass


def test_a_lane_whose_verifier_does_not_start_leaves_its_files_to_the_others(tmp_path, monkeypatch):
    import agent.repair.lanes as lanes
    from agent.config import MigrateSettings
    from agent.pipeline import migrate as run_migration
    from agent.sandbox.process import WorkerStartError

    src = tmp_path / "src"
    src.mkdir()
    for rel, name in (("a.py", "One"), ("b.py", "Two"), ("c.py", "Three")):
        (src / rel).write_text(HEAD + block(name, MLP))
    made = []
    real = lanes.verifier_for

    def verifier_for(*args):
        v = real(*args)
        if made:  # the second lane's
            def refuse():
                raise WorkerStartError("torch side failed to start: no room")
            v.start = refuse
        made.append(v)
        return v

    monkeypatch.setattr(lanes, "verifier_for", verifier_for)
    report = run_migration(src, tmp_path / "out", MigrateSettings(jobs=2))
    assert len(made) == 2
    assert [(u.name, u.status) for u in report.units] == [("One", "verified-by-rules"), ("Two", "verified-by-rules"),
                                                          ("Three", "verified-by-rules")]
    assert [n for n in report.notes if n.startswith("verification lane 2 of 2 did not start (torch side failed")]


def test_lanes_get_disjoint_cores(monkeypatch):
    """A MindSpore side keeps a second thread busy: lanes pinned to cores of their own stop crowding
    each other. One lane stays unpinned; with more lanes than cores, lanes share."""
    from agent.repair.lanes import lane_cpus

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert lane_cpus(0, 1) is None
    assert [lane_cpus(k, 2) for k in range(2)] == [[0, 2], [1, 3]]
    assert [lane_cpus(k, 6) for k in range(6)] == [[0], [1], [2], [3], [0], [1]]


def test_a_pinned_side_runs_on_its_cores_only():
    """The affinity reaches the sandboxed processes (the template and every session it forks)."""
    from agent.sandbox.config import SideConfig
    from agent.sandbox.sides import Side

    core = sorted(os.sched_getaffinity(0))[-1]
    with Side(SideConfig(side="echo", cpus=[core], timeout_s=20)) as side:
        with side.session(timeout=10) as s:
            result, _ = s.call("run", {"code": "import os\nresult = {'cpus': sorted(os.sched_getaffinity(0))}"})
    assert result == {"cpus": [core]}
