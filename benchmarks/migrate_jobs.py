"""`msagent migrate --jobs`: a generated repository of small nn.Module units (Linear, Conv1d/Conv2d and
activation mixes, several per file) migrated twice from scratch through the CLI, with `--jobs 1` and with
`--jobs 2`. The two reports must list the same units with the same statuses in the same order.

    python benchmarks/migrate_jobs.py [--files 50] [--per-file 4] [--keep DIR]

Prints `migrate_jobs1_s`, `migrate_jobs2_s`, `migrate_jobs2_speedup` (jobs-1 seconds over jobs-2 seconds),
`units_per_minute` (of the --jobs 2 run), `migrate_jobs_units` and `migrate_jobs_verified`; and
`migrate_jobs1_cores_busy` (the machine's busy CPU seconds during the --jobs 1 run over its wall time: run
it alone) with the speedup that leaves a second lane on this machine, `migrate_jobs2_speedup_bound` (the
cores over that).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ACTS = ["nn.ReLU()", "nn.GELU()", "nn.Tanh()", "nn.Sigmoid()", "nn.SiLU()", "nn.LeakyReLU(0.1)", "nn.ELU()"]
FUNCS = ["torch.relu", "torch.tanh", "torch.sigmoid", "F.gelu", "F.silu"]
HEAD = "import torch\nimport torch.nn.functional as F\nfrom torch import nn\n\n\n"


def unit_source(n: int) -> str:
    """The n-th generated unit: one of four shapes, sizes and activations varying with n."""
    name, act, fn = f"Unit{n}", ACTS[n % len(ACTS)], FUNCS[n % len(FUNCS)]
    d, h = 4 + n % 5, 8 + n % 7
    kind = n % 4
    if kind == 0:  # an MLP
        return (f"class {name}(nn.Module):\n"
                f"    def __init__(self):\n"
                f"        super().__init__()\n"
                f"        self.fc1 = nn.Linear({d}, {h})\n"
                f"        self.act = {act}\n"
                f"        self.fc2 = nn.Linear({h}, {d})\n\n"
                f"    def forward(self, x):\n"
                f"        return self.fc2(self.act(self.fc1(x)))\n")
    if kind == 1:  # a 2-d convolution block
        return (f"class {name}(nn.Module):\n"
                f"    def __init__(self):\n"
                f"        super().__init__()\n"
                f"        self.conv = nn.Conv2d(3, {d}, 3, padding=1)\n"
                f"        self.act = {act}\n\n"
                f"    def forward(self, x):\n"
                f"        return self.act(self.conv(x))\n")
    if kind == 2:  # a residual Linear with a functional activation
        return (f"class {name}(nn.Module):\n"
                f"    def __init__(self):\n"
                f"        super().__init__()\n"
                f"        self.fc = nn.Linear({h}, {h})\n\n"
                f"    def forward(self, x):\n"
                f"        return x + {fn}(self.fc(x))\n")
    return (f"class {name}(nn.Module):\n"  # a 1-d convolution and a Linear head
            f"    def __init__(self):\n"
            f"        super().__init__()\n"
            f"        self.conv = nn.Conv1d({d}, {h}, 3, padding=1)\n"
            f"        self.act = {act}\n\n"
            f"    def forward(self, x):\n"
            f"        return self.act(self.conv(x)).mean(dim=-1)\n")


def build_repo(root: Path, files: int, per_file: int) -> int:
    pkg = root / "models"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    n = 0
    for f in range(files):
        units = []
        for _ in range(per_file):
            units.append(unit_source(n))
            n += 1
        (pkg / f"block{f:03d}.py").write_text(HEAD + "\n\n".join(units))
    return n


def _busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (/proc/stat): the sandboxed sides live in their own pid
    namespaces, out of reach of this process's child accounting; on an otherwise idle machine it is the run's."""
    with open("/proc/stat") as fh:
        fields = [int(v) for v in fh.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def migrate(src: Path, out: Path, jobs: int) -> tuple[float, dict, float]:
    """(wall seconds, report, CPU seconds the machine was busy meanwhile)."""
    cmd = [sys.executable, "-m", "agent.cli.main", "migrate", str(src), "-o", str(out), "--fresh", "--json",
           "--jobs", str(jobs)]
    busy = _busy_seconds()
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
    seconds = time.perf_counter() - start
    busy = _busy_seconds() - busy
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        sys.exit(f"msagent migrate --jobs {jobs} failed (exit code {proc.returncode}):\n{proc.stderr[-3000:]}")
    return seconds, json.loads(proc.stdout), busy


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=50)
    ap.add_argument("--per-file", type=int, default=4)
    ap.add_argument("--keep", type=Path, help="build the repo and the outputs here instead of a temp dir")
    args = ap.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="msagent-bench-jobs-"))
    try:
        if base.exists() and args.keep:
            shutil.rmtree(base)
        units = build_repo(base / "src", args.files, args.per_file)
        t1, r1, cpu1 = migrate(base / "src", base / "out1", 1)
        t2, r2, _ = migrate(base / "src", base / "out2", 2)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    listed1 = [(u["file"], u["name"], u["status"]) for u in r1["units"]]
    listed2 = [(u["file"], u["name"], u["status"]) for u in r2["units"]]
    if listed1 != listed2 or len(listed1) != units:
        sys.exit(f"the --jobs 1 and --jobs 2 reports differ ({len(listed1)} and {len(listed2)} of {units} units)")
    verified = r2["summary"]["units_verified"]
    print(f"migrate_jobs_units: {units} units")
    print(f"migrate_jobs_verified: {verified} units")
    print(f"migrate_jobs1_s: {t1:.1f} s")
    print(f"migrate_jobs2_s: {t2:.1f} s")
    print(f"migrate_jobs2_speedup: {t1 / t2:.2f} x")
    print(f"units_per_minute: {units / t2 * 60:.0f} units/min")
    # one lane's two sides and the judge overlap by design: the cores the --jobs 1 run keeps busy bound what a
    # second lane can add on this machine (all its cores over that)
    cores = len(os.sched_getaffinity(0))
    print(f"migrate_jobs1_cores_busy: {cpu1 / t1:.2f} of {cores} cores")
    print(f"migrate_jobs2_speedup_bound: {cores / max(cpu1 / t1, 1.0):.2f} x")


if __name__ == "__main__":
    main()
