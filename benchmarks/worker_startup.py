"""Worker cost: a cold start with torch and MindSpore preloaded, and one no-op round trip.

Prints `worker_startup_s: X s` and `worker_call_overhead_ms: X ms`.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.sandbox.pool import Worker, WorkerConfig  # noqa: E402


def main(calls: int = 500) -> None:
    worker = Worker(WorkerConfig(preload=["torch", "mindspore"]))
    try:
        started = time.perf_counter()
        worker.start()
        startup = time.perf_counter() - started
        missing = set(["torch", "mindspore"]) - set(worker.ready_info.get("preloaded", []))
        if missing:
            raise SystemExit(f"preload failed: {worker.ready_info.get('preload_errors')}")
        for _ in range(20):  # warm the op's import
            worker.call("agent.sandbox.ops:noop")
        samples = []
        for _ in range(calls):
            t = time.perf_counter()
            worker.call("agent.sandbox.ops:noop")
            samples.append(time.perf_counter() - t)
    finally:
        worker.close()
    print(f"worker_startup_s: {startup:.2f} s")
    print(f"worker_call_overhead_ms: {statistics.median(samples) * 1000:.3f} ms")


if __name__ == "__main__":
    main()
