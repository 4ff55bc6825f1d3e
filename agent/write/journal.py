"""The run journal in OUT: one JSON line per finished unit, so a killed run resumes where it stopped.

A record is reused only when the repo fingerprint (sources, translations, settings) is the same,
so a resumed run gives the report a fresh run would.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

JOURNAL = ".msagent/journal.jsonl"


class Journal:
    def __init__(self, out: Path, fingerprint: str, fresh: bool = False):
        self.path = out / JOURNAL
        self.fingerprint = fingerprint
        self.done: dict[str, dict] = {}
        if fresh:
            self.path.unlink(missing_ok=True)
        elif self.path.is_file():
            for line in self.path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a kill
                if rec.get("fingerprint") == fingerprint:
                    self.done[rec["unit"]] = rec["record"]

    def get(self, key: str) -> dict | None:
        return self.done.get(key)

    def record(self, key: str, record: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"unit": key, "fingerprint": self.fingerprint, "record": record}) + "\n"
        with open(self.path, "a") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self.done[key] = record
