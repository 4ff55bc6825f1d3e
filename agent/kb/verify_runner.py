"""`msagent kb verify`: run every probe in one warm worker and record the verdicts per device.

Verdicts land in mapping_kb/verdicts/<device>.json. A probe verdict replaces a seed verdict;
where they disagree the seed's claim is kept in the detail, so the difference stays visible.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from agent.kb.store import KB
from agent.sandbox.config import WorkerConfig
from agent.sandbox.pool import Worker
from agent.write.atomic import write_text

OP = "agent.kb.probe:run_entries"
BATCH = 25


def probe_targets(kb: KB, apis: list[str] | None) -> list[str]:
    if apis:
        missing = [a for a in apis if kb.get(a) is None]
        if missing:
            raise KeyError(f"no KB entry for {', '.join(missing)}")
        return [kb.get(a).api for a in apis if kb.get(a).probe is not None]
    return [e.api for e in kb.entries if e.probe is not None and e.targets]


def run(kb: KB, apis: list[str], device: str, worker: Worker, kb_root: str | None = None, on_batch=None) -> dict:
    """api -> {target api: verdict}; a batch that crashes the worker is rerun one entry at a time."""
    results: dict[str, dict] = {}
    for i in range(0, len(apis), BATCH):
        batch = apis[i:i + BATCH]
        reply = worker.call(OP, {"apis": batch, "device": device, "kb_root": kb_root}, timeout=60 + 10 * len(batch))
        if reply.get("ok"):
            results.update(reply["result"])
        else:
            for api in batch:
                one = worker.call(OP, {"apis": [api], "device": device, "kb_root": kb_root}, timeout=60)
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


def merge(root: Path, device: str, fresh: dict) -> dict:
    """Write the new verdicts over the recorded ones; returns counts of what changed."""
    path = root / "verdicts" / f"{device}.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    verdicts = data.setdefault("verdicts", {})
    changed = {"recorded": 0, "disagree_with_seed": 0}
    for api, targets in fresh.items():
        slot = verdicts.setdefault(api, {})
        for tapi, v in targets.items():
            old = slot.get(tapi)
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
    root = root or kb.root
    names = probe_targets(kb, apis)
    start = time.perf_counter()
    with Worker(WorkerConfig(preload=["torch", "mindspore"])) as worker:
        fresh = run(kb, names, device, worker, kb_root=str(kb.root) if kb.root else None, on_batch=on_batch)
    seconds = time.perf_counter() - start
    counts = merge(root, device, fresh)
    statuses: dict[str, int] = {}
    for targets in fresh.values():
        for v in targets.values():
            statuses[v["status"]] = statuses.get(v["status"], 0) + 1
    return {"entries": len(names), "targets": statuses, "seconds": round(seconds, 1), **counts}
