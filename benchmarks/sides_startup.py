"""The two verification sides: a cold start of both templates (torch and MindSpore, in parallel,
sandboxed) and the cost of one session (fork a fresh child, one call, kill and wipe it) on each.

Prints `sides_startup_s: X s`, `torch_session_ms: X ms` and `mindspore_session_ms: X ms`.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.verify.judge import Verifier  # noqa: E402


def session_ms(side, n: int = 20) -> float:
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        with side.session(timeout=60) as s:
            s.call("ping")
        samples.append(time.perf_counter() - t)
    return 1000 * statistics.median(samples)


def main() -> None:
    verifier = Verifier.for_paths([Path(tempfile.gettempdir())])
    t = time.perf_counter()
    verifier.start()
    started = time.perf_counter() - t
    try:
        torch_ms = session_ms(verifier.ref)
        ms_ms = session_ms(verifier.cand)
    finally:
        verifier.close()
    print(f"sides_startup_s: {started:.2f} s")
    print(f"torch_session_ms: {torch_ms:.0f} ms")
    print(f"mindspore_session_ms: {ms_ms:.0f} ms")


if __name__ == "__main__":
    main()
