"""End to end: `msagent eval evals/cases --json` over the whole corpus as a user runs it, with
its warm verification worker. Wall seconds, and peak memory two ways: the peak of the
summed RSS of the CLI and every process below it (sampled from /proc every 0.25 s), and each
process's own high-water mark: the CLI's (VmHWM) and the worker's (the largest VmHWM below
the CLI, or getrusage(RUSAGE_CHILDREN) when that is larger).

    python benchmarks/eval_e2e.py [--keep RESULT.json] [--case NAME ...]

Prints `eval_e2e_s`, `eval_peak_rss_mb`, `eval_cli_peak_rss_mb`, `eval_worker_peak_rss_mb`, `eval_verified_rate`,
`eval_expected_verified_rate`.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = os.sysconf("SC_PAGE_SIZE")


def _parents() -> dict[int, int]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            out[int(entry)] = int(stat.rpartition(")")[2].split()[1])  # the name may hold spaces
    return out


def _hwm(pid: int) -> int:
    """The process's own resident high-water mark (VmHWM), in bytes."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def tree_rss(root: int, hwm: dict[int, int]) -> int:
    """Bytes resident in ROOT and all its descendants right now; updates HWM per pid."""
    parents = _parents()
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    total = 0
    for pid in tree:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError):
            continue
        hwm[pid] = max(hwm.get(pid, 0), _hwm(pid))
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", type=Path, help="also write the eval's JSON result here")
    ap.add_argument("--case", action="append", default=[], help="only these cases")
    args = ap.parse_args()
    cmd = [sys.executable, "-m", "agent.cli.main", "eval", str(ROOT / "evals" / "cases"), "--json"]
    for name in args.case:
        cmd += ["--case", name]
    peak = 0
    hwm: dict[int, int] = {}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(proc.pid, hwm))
            done.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = proc.communicate()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"msagent eval failed with exit code {proc.returncode}")
    doc = json.loads(stdout)
    if args.keep:
        args.keep.write_text(json.dumps(doc, indent=1) + "\n")
    cli = hwm.pop(proc.pid, 0)
    # The largest process below the CLI is the worker; getrusage covers its last moments when the
    # sandbox waited for it, the samples cover it when it was killed instead.
    worker = max(max(hwm.values(), default=0), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
    s = doc["summary"]
    print(f"eval_e2e_s: {seconds:.1f} s")
    print(f"eval_cases: {s['cases_total']} cases")
    print(f"eval_peak_rss_mb: {peak / 2**20:.0f} MB")
    print(f"eval_cli_peak_rss_mb: {cli / 2**20:.0f} MB")
    print(f"eval_worker_peak_rss_mb: {worker / 2**20:.0f} MB")
    print(f"eval_conversion_rate: {s['conversion_rate']:.3f} ratio")
    print(f"eval_verified_rate: {s['verified_rate']:.3f} ratio")
    print(f"eval_expected_verified_rate: {s['expected_rate']:.3f} ratio")


if __name__ == "__main__":
    main()
