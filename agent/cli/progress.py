"""Progress on stderr: a rich spinner when stderr is a terminal and NO_COLOR is unset, else silence."""
from __future__ import annotations

import os
import sys


class Progress:
    def __init__(self, enabled: bool = True):
        self.enabled = enabled and sys.stderr.isatty() and not os.environ.get("NO_COLOR")
        self._status = None

    def __enter__(self) -> "Progress":
        if self.enabled:
            from rich.console import Console

            self._status = Console(stderr=True).status("msagent: starting")
            self._status.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._status is not None:
            self._status.__exit__(*exc)

    def file(self, rel: str) -> None:
        if self._status is not None:
            self._status.update(f"msagent: translating {rel}")

    def unit(self, key: str) -> None:
        if self._status is not None:
            self._status.update(f"msagent: verifying {key}")
