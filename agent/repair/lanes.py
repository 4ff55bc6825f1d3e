"""Verification lanes: the verifier of each lane, the cores it runs on, and the first lane's head start.

The first lane's verifier starts while the rules translate: its two sides import torch and MindSpore
(about 2 s) on the cores the rules leave idle, so the first unit is verified sooner.

    head = HeadStart.begin(src, out, settings)   # before the rules run
    verifier = head.take(lane_cpus(0, lanes))    # once the files with units are known
    head.discard()                               # always: closes it unless taken
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

from agent.config import MigrateSettings
from agent.verify.judge import Verifier


def verifier_for(src: Path, out: Path, settings: MigrateSettings, cpus: list[int] | None = None) -> Verifier:
    """The torch side sees SRC, the MindSpore side sees OUT; nothing else of this machine. CPUS: the
    cores its processes may use (one lane of several)."""
    return Verifier.for_repo(src, out, timeout_s=settings.unit_timeout_s, device=settings.device, cpus=cpus)


def lane_cpus(lane: int, lanes: int) -> list[int] | None:
    """The cores of LANE when LANES verify at once: this process's cores dealt out round-robin (one
    lane: all of them, unpinned). With more lanes than cores, lanes share a core."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if lanes <= 1 or len(cores) < 2:
        return None
    return cores[lane::lanes] if lanes <= len(cores) else [cores[lane % len(cores)]]


class HeadStart:
    def __init__(self, verifier: Verifier, cpus: list[int] | None):
        self.verifier, self.cpus = verifier, cpus
        self.error: BaseException | None = None
        self._taken = False
        self._thread = threading.Thread(target=self._start, name="msagent-head-start", daemon=True)
        self._thread.start()

    @classmethod
    def begin(cls, src: Path, out: Path, settings: MigrateSettings) -> "HeadStart":
        from agent.scan.files import walk_repo

        # the most lanes a run of this repo gets: one per Python file up to --jobs (take() checks)
        lanes = max(1, min(settings.jobs, sum(f.kind == "python" for f in walk_repo(src))))
        cpus = lane_cpus(0, lanes)
        # the candidate side hides OUT/.msagent (journal, logs) only if it exists when the side starts
        (out / ".msagent").mkdir(parents=True, exist_ok=True)
        return cls(verifier_for(src, out, settings, cpus), cpus)

    def _start(self) -> None:
        try:
            self.verifier.start()
        except BaseException as exc:  # noqa: BLE001 - take() declines it; the lane's own start then says why
            self.error = exc

    def take(self, cpus: list[int] | None) -> Verifier | None:
        """The started verifier if it runs on CPUS; None otherwise (the caller starts its own)."""
        self._thread.join()
        if self.error is not None or cpus != self.cpus:
            return None
        self._taken = True
        return self.verifier

    def discard(self) -> None:
        """Close the verifier unless a lane took it."""
        if self._taken:
            return
        self._taken = True
        self._thread.join()
        try:
            self.verifier.close()
        except Exception:  # noqa: BLE001 - a side that never started has nothing to close
            pass
