"""One warm verifier for the whole test session, and `verify_unit` over it for tests that check
single units of fixture trees. Its sides see the system temp folder (every tmp_path) and the
fixtures, nothing else of this machine."""
from __future__ import annotations

import atexit
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_SHARED = []


def shared():
    from agent.verify.judge import Verifier

    if not _SHARED:
        v = Verifier.for_paths([Path(tempfile.gettempdir()), ROOT / "tests" / "fixtures"])
        v.start()
        atexit.register(v.close)
        _SHARED.append(v)
    return _SHARED[0]


def verify_unit(pt_root, ms_root, unit: dict, specs=None, seeds=(0, 1, 2), kb_root=None, level="forward",
                device="cpu") -> dict:
    from agent.kb.store import load_kb

    unit = {"kind": "module", "file": unit["module"].replace(".", "/") + ".py", **unit}
    return shared().verify(pt_root, ms_root, unit, specs or [], kb=load_kb(str(kb_root) if kb_root else None),
                           device=device, seeds=seeds, level=level)
