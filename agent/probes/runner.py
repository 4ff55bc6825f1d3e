"""`msagent kb verify`: run every probe in one warm worker and record the verdicts per device.

Verdicts land in verdicts/<device>.json of the user's KB layer (`store.user_kb_root()`), or of
the packaged mapping_kb/ when the CLI is asked to (`msagent kb verify --into-package`, a checkout's
`make kb-verify`). A probe verdict replaces a seed verdict; where they disagree the seed's claim
is kept in the detail, so the difference stays visible.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from agent.kb.store import KB
from agent.verify.devices import device as declared
from agent.sandbox.config import BUILTIN_OPERATIONS, WorkerConfig
from agent.sandbox.pool import Worker
from agent.write.atomic import write_text

OP = "probes.run_entries"  # registered on the probe worker below
BATCH = 25


def probe_targets(kb: KB, apis: list[str] | None) -> list[str]:
    if apis:
        missing = [a for a in apis if kb.get(a) is None]
        if missing:
            raise KeyError(f"no KB entry for {', '.join(missing)}")
        return [kb.get(a).api for a in apis if kb.get(a).probe is not None]
    return [e.api for e in kb.entries if e.probe is not None and e.targets]


def run(kb: KB, apis: list[str], device: str, worker: Worker, kb_root: str | None = None, on_batch=None,
        kb_user: str | None = None) -> dict:
    """api -> {target api: verdict}; a batch that crashes the worker is rerun one entry at a time."""
    results: dict[str, dict] = {}
    where = {"kb_root": kb_root, "kb_user": kb_user}
    for i in range(0, len(apis), BATCH):
        batch = apis[i:i + BATCH]
        reply = worker.call(OP, {"apis": batch, "device": device, **where}, timeout=60 + 10 * len(batch))
        if reply.get("ok"):
            results.update(reply["result"])
        else:
            for api in batch:
                one = worker.call(OP, {"apis": [api], "device": device, **where}, timeout=60)
                if one.get("ok"):
                    results.update(one["result"])
                else:
                    entry = kb.get(api)
                    results[api] = {t.api: {"status": "raised", "detail": f"{one.get('kind')}: {one.get('error')}",
                                            "source": "probe", "date": time.strftime("%Y-%m-%d")}
                                    for t in entry.targets}
        if on_batch:
            on_batch(min(i + BATCH, len(apis)), len(apis))
    return results


def merge(root: Path, device: str, fresh: dict, base: Path | None = None) -> dict:
    """Write the new verdicts over the ones recorded in `root`; returns counts of what changed.
    `base`: the packaged KB under a user layer, whose seed verdicts the new ones are compared with."""
    path = root / declared(device).verdict_file
    data = json.loads(path.read_text()) if path.is_file() else {}
    base_file = base / declared(device).verdict_file if base is not None else None
    seeds = json.loads(base_file.read_text()).get("verdicts", {}) if base_file and base_file.is_file() else {}
    verdicts = data.setdefault("verdicts", {})
    changed = {"recorded": 0, "disagree_with_seed": 0}
    for api, targets in fresh.items():
        slot = verdicts.setdefault(api, {})
        for tapi, v in targets.items():
            old = slot.get(tapi) or seeds.get(api, {}).get(tapi)
            if old and old.get("source") == "seed" and old.get("status") != v["status"]:
                v["detail"] = f"{v['detail']} (seed table said {old['status']}: {old.get('detail', '')})".strip()
                changed["disagree_with_seed"] += 1
            slot[tapi] = v
            changed["recorded"] += 1
    data["device"] = device
    data["updated"] = time.strftime("%Y-%m-%d %H:%M:%S")
    write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
    return changed


def verify(kb: KB, apis: list[str] | None, device: str = "cpu", root: Path | None = None, on_batch=None) -> dict:
    """Probe `apis` (default: every entry with a probe) and record the verdicts in `root`: by
    default the user's layer the KB was loaded with, else the KB's own folder."""
    root = Path(root or kb.user or kb.root)
    names = probe_targets(kb, apis)
    start = time.perf_counter()
    user = str(kb.user) if kb.user is not None and kb.user.is_dir() else None
    # the worker hides $HOME, where the user's layer usually lives: that one folder stays visible, read-only
    config = WorkerConfig(preload=["torch", "mindspore"], visible_paths=[user] if user else [],
                          operations={**BUILTIN_OPERATIONS, OP: "agent.probes.probe:run_entries"})
    with Worker(config) as worker:
        fresh = run(kb, names, device, worker, kb_root=str(kb.root) if kb.root else None, on_batch=on_batch,
                    kb_user=user)
    seconds = time.perf_counter() - start
    base = kb.root if kb.root is not None and Path(kb.root).resolve() != root.resolve() else None
    counts = merge(root, device, fresh, base=base)
    statuses: dict[str, int] = {}
    for targets in fresh.values():
        for v in targets.values():
            statuses[v["status"]] = statuses.get(v["status"], 0) + 1
    return {"entries": len(names), "targets": statuses, "seconds": round(seconds, 1), **counts}
