"""The run journal in OUT: one JSON line per finished unit, so a killed run resumes where it stopped.

A record is reused only when the repo fingerprint (sources, translations, settings) is the same,
so a resumed run gives the report a fresh run would. A record also keeps the OUT files a repair
it accepted rewrote, so the resumed run can put them back after translating OUT afresh.
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
        self._files: dict[str, dict[str, str]] = {}
        self._torn = False  # the last line was cut short: the next record must start on a new line
        if fresh:
            self.path.unlink(missing_ok=True)
        elif self.path.is_file():
            text = self.path.read_bytes().decode("utf-8", errors="replace")
            self._torn = bool(text) and not text.endswith("\n")
            for line in text.splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a kill
                if (isinstance(rec, dict) and rec.get("fingerprint") == fingerprint and isinstance(rec.get("unit"), str)
                        and isinstance(rec.get("record"), dict)):
                    self.done[rec["unit"]] = rec["record"]
                    self._files[rec["unit"]] = rec.get("files") or {}

    def get(self, key: str) -> dict | None:
        return self.done.get(key)

    def files(self, key: str) -> dict[str, str]:
        """OUT files (rel path -> text) that the unit's accepted repair wrote."""
        return self._files.get(key, {})

    def record(self, key: str, record: dict, files: dict[str, str] | None = None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"unit": key, "fingerprint": self.fingerprint, "record": record,
                           "files": files or {}}) + "\n"
        with open(self.path, "a") as f:
            f.write("\n" + line if self._torn else line)
            self._torn = False
            f.flush()
            os.fsync(f.fileno())
        self.done[key] = record
        self._files[key] = files or {}
