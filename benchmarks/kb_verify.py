"""Time `msagent kb verify` over every probe in one warm worker, on a copy of the KB.

Prints `kb_verify_s: X s` (worker start included) and `kb_probe_entries: N entries`."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from agent.kb.store import kb_root, load_kb
from agent.probes.runner import verify


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "mapping_kb"
        shutil.copytree(kb_root(), copy)
        kb = load_kb(str(copy))
        summary = verify(kb, None, "cpu", root=copy)
    print(f"kb_verify_s: {summary['seconds']:.1f} s")
    print(f"kb_probe_entries: {summary['entries']} entries")
    for status, n in sorted(summary["targets"].items()):
        print(f"kb_targets_{status}: {n} targets")


if __name__ == "__main__":
    main()
