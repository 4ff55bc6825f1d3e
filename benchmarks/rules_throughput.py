"""Rules throughput: source lines per second through `translate_source` over the whole corpus
(every .py file of evals/cases/*/repo and examples/), KB loaded once, nearest-candidate
lookups for markers on as in a migration. The best of a few passes, so a busy machine
shows less.

Prints `rules_lines_per_s: X lines/s` and `rules_corpus_lines: N lines`.

RULES_BENCH_TREE=/path measures every .py file under that folder instead (the goal is stated on
timm 1.0.31's source: `pip download --no-deps timm==1.0.31`, unzip, point this at `timm/`); run it
under `taskset -c 0` for one core.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.kb.store import load_kb  # noqa: E402
from agent.pipeline import nearest_candidate  # noqa: E402
from agent.rules.engine import translate_source  # noqa: E402


def corpus() -> list[str]:
    tree = os.environ.get("RULES_BENCH_TREE")
    if tree:
        paths = sorted(Path(tree).rglob("*.py"))
    else:
        paths = sorted(ROOT.glob("evals/cases/*/repo/**/*.py")) + sorted((ROOT / "examples").rglob("*.py"))
    return [p.read_text() for p in paths if "__pycache__" not in p.parts]


def one_pass(sources: list[str], kb, nearest) -> tuple[float, int]:
    lines = 0
    start = time.perf_counter()
    for text in sources:
        try:
            translate_source(text, kb, "cpu", nearest=nearest)
        except Exception:  # a file the rules cannot parse is not throughput
            continue
        lines += text.count("\n") + 1
    return time.perf_counter() - start, lines


def main(passes: int = 5) -> None:
    sources = corpus()
    kb = load_kb()
    nearest = nearest_candidate(kb)
    one_pass(sources[:3], kb, nearest)  # warm: retrieval index, libcst caches
    best, lines = min(one_pass(sources, kb, nearest) for _ in range(passes))
    print(f"rules_lines_per_s: {lines / best:.0f} lines/s")
    print(f"rules_corpus_lines: {lines} lines")


if __name__ == "__main__":
    main()
