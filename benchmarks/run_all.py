"""`make bench`: run every benchmark script in benchmarks/ in turn (each in its own process,
so one's imports and memory do not colour the next) and print their figures, one per line
as `name: value unit`. A script that fails is named on stderr and makes the exit code 1;
the others still run. Every `benchmarks/*.py` not starting with `_` is a benchmark: a new script
is registered by being there (migrate_jobs.py, the `--jobs 2` speedup, takes a few minutes).
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIGURE = re.compile(r"^[a-z0-9_]+: \S+( \S+)?$")


def scripts() -> list[Path]:
    return sorted(p for p in HERE.glob("*.py") if p.name != Path(__file__).name and not p.name.startswith("_"))


def main() -> int:
    failed = []
    for script in scripts():
        proc = subprocess.run([sys.executable, str(script)], cwd=HERE.parent, capture_output=True, text=True)
        for line in proc.stdout.splitlines():
            if FIGURE.match(line.strip()):
                print(line.strip(), flush=True)
        if proc.returncode != 0:
            failed.append(script.name)
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            print(f"benchmark {script.name} failed (exit code {proc.returncode}):\n{tail}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
