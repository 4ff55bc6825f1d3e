"""Progress on stderr. On a terminal: a rich bar with units done of total, rate and ETA (NO_COLOR
drops the colour, not the bar). Elsewhere (CI logs, pipes): one plain line per finished unit, so
a log moves while the run does: `msagent: [3/12] models.py::Net verified-by-rules (grad) 1.2 s`.
Safe to call from several threads (`--jobs`): each line is written whole, the count never skips."""
from __future__ import annotations

import os
import sys
import threading


class Progress:
    def __init__(self, enabled: bool = True, stream=None):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.terminal = enabled and self.stream.isatty()
        self._bar = self._task = None
        self._total = 0
        self._done = 0
        self._lock = threading.Lock()

    def __enter__(self) -> "Progress":
        if self.terminal:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeRemainingColumn

            console = Console(stderr=True, no_color=bool(os.environ.get("NO_COLOR")))
            self._bar = Bar(TextColumn("msagent: {task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeRemainingColumn(),
                            console=console, transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task("translating", total=None)
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def file(self, rel: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, description=f"translating {rel}")

    def units(self, total: int) -> None:
        self._total = total
        if self._bar is not None:
            self._bar.update(self._task, total=total, completed=0, description="verifying")

    def unit(self, key: str) -> None:
        """A unit started (several may be in flight with --jobs: the bar names the latest)."""
        if self._bar is not None:
            with self._lock:
                self._bar.update(self._task, description=f"verifying {key}")

    def done(self, record) -> None:
        """One unit finished (its UnitRecord)."""
        with self._lock:
            self._done += 1
            if self._bar is not None:
                self._bar.update(self._task, advance=1)
            elif self.enabled:
                level = f" ({record.level_reached})" if record.level_reached else ""
                self.stream.write(f"msagent: [{self._done}/{self._total}] {record.file}::{record.name} "
                                  f"{record.status}{level} {record.seconds:.1f} s\n")
                self.stream.flush()
