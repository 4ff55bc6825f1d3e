"""The rules' throughput beside PaConvert's (the torch -> Paddle converter), in one run, one core each,
on the same tree: timm 1.0.31's source (~141k lines), as the goal is stated.

Prints `rules_timm_lines_per_s`, `paconvert_timm_lines_per_s` (formatting off),
`rules_over_paconvert` and `libcst_parse_timm_lines_per_s` (LibCST's parser alone on the same files:
the rules parse every file that imports torch with it, so this bounds their throughput). The first
run fetches what it needs into .bench/ (not committed): timm's wheel (`pip download --no-deps`,
unzipped) and a virtual environment holding PaConvert and its pinned dependencies, kept apart from
msagent's own. PaConvert converts in a subprocess of that environment;
both are timed as wall clock over the whole tree, best of PASSES, pinned to one core where the
machine allows (`os.sched_setaffinity`).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BENCH = ROOT / ".bench"
TIMM = "timm==1.0.31"
PACONVERT = ["paconvert==3.3.1", "astor==0.8.1", "black==22.8.0", "isort==5.11.5"]
PASSES = 3

_PACONVERT_RUN = """
import logging, sys, tempfile, time
from paconvert.converter import Converter
best = None
for _ in range(int(sys.argv[2])):
    with tempfile.TemporaryDirectory() as out:
        converter = Converter(log_dir="disable", no_format=True)
        start = time.perf_counter()
        converter.run(sys.argv[1], out)
        took = time.perf_counter() - start
    best = took if best is None else min(best, took)
print("SECONDS", best, flush=True)
"""


def _pip(python: str, *args: str) -> None:
    subprocess.run([python, "-m", "pip", "-q", "--disable-pip-version-check", *args], check=True)


def timm_tree() -> Path:
    tree = BENCH / "timm-src" / "timm"
    if not tree.is_dir():
        wheels = BENCH / "wheels"
        _pip(sys.executable, "download", "--no-deps", TIMM, "-d", str(wheels))
        wheel = next(wheels.glob("timm-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            z.extractall(BENCH / "timm-src")
    return tree


def paconvert_python() -> str:
    venv = BENCH / "paconvert-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        _pip(str(python), "install", *PACONVERT)
    return str(python)


def _one_core() -> None:
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    except (AttributeError, OSError):
        pass


def rules_seconds(tree: Path) -> float:
    from benchmarks.rules_throughput import one_pass
    from agent.kb.store import load_kb
    from agent.pipeline import nearest_candidate

    sources = [p.read_text() for p in sorted(tree.rglob("*.py")) if "__pycache__" not in p.parts]
    kb = load_kb()
    nearest = nearest_candidate(kb)
    one_pass(sources[:3], kb, nearest)
    return min(one_pass(sources, kb, nearest)[0] for _ in range(PASSES))


def parse_seconds(tree: Path) -> float:
    """LibCST's parser alone over the same files (best of PASSES): the floor under the rules' time."""
    import libcst as cst

    sources = [p.read_text() for p in sorted(tree.rglob("*.py")) if "__pycache__" not in p.parts]
    best = None
    for _ in range(PASSES):
        start = time.perf_counter()
        for text in sources:
            cst.parse_module(text)
        took = time.perf_counter() - start
        best = took if best is None else min(best, took)
    return best


def main() -> None:
    tree = timm_tree()
    python = paconvert_python()
    _one_core()  # inherited by the PaConvert subprocess
    lines = sum(p.read_text().count("\n") + 1 for p in tree.rglob("*.py") if "__pycache__" not in p.parts)
    out = subprocess.run([python, "-c", _PACONVERT_RUN, str(tree), str(PASSES)], check=True, capture_output=True,
                         text=True).stdout  # PaConvert prints its own report too
    theirs = float(next(line for line in out.splitlines() if line.startswith("SECONDS ")).split()[1])
    ours = rules_seconds(tree)
    parse = parse_seconds(tree)
    print(f"rules_timm_lines_per_s: {lines / ours:.0f} lines/s")
    print(f"libcst_parse_timm_lines_per_s: {lines / parse:.0f} lines/s (the parser alone, the same files)")
    print(f"paconvert_timm_lines_per_s: {lines / theirs:.0f} lines/s")
    print(f"rules_over_paconvert: {theirs / ours:.2f} x")
    print(f"timm_lines: {lines} lines")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"beside_paconvert_seconds: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
