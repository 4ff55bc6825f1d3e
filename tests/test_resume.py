"""Crash safety: `msagent migrate` killed with SIGKILL resumes from its journal without running a
finished unit again; `--fresh` starts over; Ctrl-C (SIGINT) or SIGTERM stops with a partial report and 130."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MSAGENT = ROOT / ".venv" / "bin" / "msagent"
JOURNAL = ".msagent/journal.jsonl"

FAST = textwrap.dedent("""\
    import torch
    from torch import nn


    class {name}(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return torch.relu(self.fc(x)) + {k}
""")
# Every forward sleeps, so verifying this unit (about a dozen forwards over both frameworks)
# takes seconds: long enough to kill the run while it is in flight.
SLOW = textwrap.dedent("""\
    import time

    import torch
    from torch import nn


    class Slow(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            time.sleep(0.4)
            return torch.sigmoid(self.fc(x))
""")
UNITS = ["pkg.a.First", "pkg.a.Second", "pkg.b.Slow", "pkg.c.Last"]


@pytest.fixture()
def repo(tmp_path) -> Path:
    pkg = tmp_path / "src" / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text(FAST.format(name="First", k=1) + "\n\n" + FAST.format(name="Second", k=2).split(
        "from torch import nn\n", 1)[1])
    (pkg / "b.py").write_text(SLOW)
    (pkg / "c.py").write_text(FAST.format(name="Last", k=3))
    return tmp_path / "src"


def start(src: Path, out: Path, *flags: str) -> subprocess.Popen:
    return subprocess.Popen([str(MSAGENT), "migrate", str(src), "-o", str(out), "--json", *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "NO_COLOR": "1"})


def journal(out: Path) -> list[dict]:
    path = out / JOURNAL
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return records


def wait_for_records(proc: subprocess.Popen, out: Path, count: int, limit: float = 240) -> None:
    deadline = time.monotonic() + limit
    while len(journal(out)) < count:
        assert proc.poll() is None, f"the run ended before {count} unit(s) finished: {proc.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline, "no unit finished in time"
        time.sleep(0.05)


def children(pid: int) -> list[int]:
    """Direct children of pid (the worker), read from /proc so the test can end what it started."""
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


def finish(proc: subprocess.Popen) -> tuple[int, dict]:
    stdout, stderr = proc.communicate(timeout=300)
    assert stdout, stderr[-3000:]
    return proc.returncode, json.loads(stdout)


def statuses(report: dict) -> dict[str, str]:
    return {f"{u['file']}::{u['name']}": u["status"] for u in report["units"]}


def test_sigkill_then_resume_runs_no_finished_unit_again(repo, tmp_path):
    out = tmp_path / "out"
    first = start(repo, out)
    wait_for_records(first, out, 1)
    workers = children(first.pid)
    first.send_signal(signal.SIGKILL)
    first.wait()
    for pid in workers:  # the orphaned worker would finish its unit and exit on EOF; do not wait for it
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    killed = journal(out)
    done_first = [r["unit"] for r in killed]
    assert 1 <= len(done_first) < len(UNITS), "the kill must land in the middle of the run"
    assert not (out / "msagent-report.json").exists()  # SIGKILL leaves no chance to write one

    code, report = finish(start(repo, out))
    assert code == 0
    assert set(statuses(report).values()) == {"verified-by-rules"} and len(report["units"]) == len(UNITS)
    after = journal(out)
    assert after[: len(killed)] == killed  # the first run's records are untouched
    resumed = [r["unit"] for r in after[len(killed):]]
    assert sorted(done_first + resumed) == sorted(UNITS)  # every unit ran exactly once over the two runs
    by_key = {f"{u['file']}::{u['name']}": u for u in report["units"]}
    for rec in killed:  # a reused record is the first run's, to the measured second
        r = rec["record"]
        assert by_key[f"{r['file']}::{r['name']}"] == r

    code, fresh = finish(start(repo, out, "--fresh"))
    assert code == 0 and statuses(fresh) == statuses(report)
    assert sorted(r["unit"] for r in journal(out)) == sorted(UNITS)  # the journal was started over


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_cleanly_with_a_partial_report(repo, tmp_path, sig):
    out = tmp_path / "out"
    proc = start(repo, out)
    wait_for_records(proc, out, 1)
    workers = children(proc.pid)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr[-3000:]
    assert stdout == ""  # --json prints a whole document or nothing
    assert "interrupted" in stderr
    report = json.loads((out / "msagent-report.json").read_text())
    done = {r["unit"] for r in journal(out)}
    assert 1 <= len(done) < len(UNITS)
    assert len(report["units"]) == len(UNITS)
    interrupted = [u for u in report["units"] if u["reason"].startswith("interrupted")]
    assert interrupted and all(u["status"] == "not-exercised" for u in interrupted)
    assert len(interrupted) == len(UNITS) - len(done)
    assert any(e.startswith("interrupted") for e in report["errors"])
    assert "interrupted" in (out / "msagent-report.md").read_text()
    assert workers and not [pid for pid in workers if Path(f"/proc/{pid}").exists()]  # the worker was stopped too


def test_an_error_raised_while_an_interrupt_unwinds_counts_as_the_interrupt():
    from agent.pipeline import was_interrupted

    def printer():
        try:
            raise KeyboardInterrupt  # SIGTERM arriving inside LibCST's printer
        finally:
            {}["end_node"]  # its `finally` then fails on half-recorded state

    with pytest.raises(KeyError) as info:
        printer()
    assert was_interrupted(info.value)
    assert not was_interrupted(KeyError("x"))
