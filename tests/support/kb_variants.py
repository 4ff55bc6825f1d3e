"""Copies of the shipped KB with one thing taken away, for tests that need an API the rules cannot convert."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def kb_without(dest: Path, api: str, namespace: str, *, drop_cpu_verdicts: bool = False) -> Path:
    """mapping_kb copied to `dest`, with `api`'s targets of `namespace` removed (and, if asked, every CPU
    verdict for `api`, as if it had only been probed elsewhere)."""
    kb = dest / "mapping_kb"
    shutil.copytree(ROOT / "mapping_kb", kb)
    for f in kb.glob("*.yaml"):
        entries = yaml.safe_load(f.read_text())
        hit = next((e for e in entries if e.get("api") == api), None)
        if hit is not None:
            hit["targets"] = [t for t in hit.get("targets", []) if t.get("namespace") != namespace]
            f.write_text(yaml.safe_dump(entries, sort_keys=False, allow_unicode=True))
    if drop_cpu_verdicts:
        cpu = kb / "verdicts" / "cpu.json"
        data = json.loads(cpu.read_text())
        data["verdicts"].pop(api, None)
        cpu.write_text(json.dumps(data))
    return kb
