"""Counts over the KB (`msagent kb stats`) and a readable view of one entry (`msagent kb show`)."""
from __future__ import annotations

from collections import Counter

from agent.kb.schema import Entry, Target
from agent.kb.store import KB


def stats(kb: KB) -> dict:
    """The `msagent kb stats --json` contract: entries, with_rules, with_probes, verified, by_namespace.

    `verified` counts, per device, entries with at least one target whose verdict was recorded by
    running its probe here and matched torch; seed verdicts are reported apart, as `seed_matched`.
    """
    verified: Counter = Counter()
    seed_matched: Counter = Counter()
    by_namespace: Counter = Counter()
    devices: set[str] = set()
    for e in kb.entries:
        for ns in {t.namespace for t in e.targets}:
            by_namespace[ns] += 1
        seen_probe, seen_seed = set(), set()
        for t in e.targets:
            for device, v in t.verdicts.items():
                devices.add(device)
                if v.status == "matched":
                    (seen_probe if v.source == "probe" else seen_seed).add(device)
        verified.update(seen_probe)
        seed_matched.update(seen_seed)
    return {
        "entries": len(kb.entries),
        "with_rules": sum(1 for e in kb.entries if e.has_rule),
        "with_probes": sum(1 for e in kb.entries if e.probe is not None),
        "verified": {d: verified.get(d, 0) for d in sorted(devices | set(verified))},
        "by_namespace": dict(sorted(by_namespace.items())),
        "seed_matched": {d: seed_matched.get(d, 0) for d in sorted(devices | set(seed_matched))},
    }


def _target_lines(t: Target, preferred: dict[str, Target | None]) -> list[str]:
    chosen = [d for d, p in preferred.items() if p is t]
    head = f"  [{t.namespace}] {t.api}" + (f"   (chosen on {', '.join(chosen)})" if chosen else "")
    lines = [head]
    for label, mapping in (("args", t.args), ("values", t.values), ("defaults", t.defaults),
                           ("defaults from", t.defaults_from), ("unsupported", t.unsupported),
                           ("param_map", t.param_map), ("weight_transforms", t.weight_transforms)):
        if mapping:
            lines.append(f"    {label}: " + ", ".join(f"{k} -> {v}" for k, v in mapping.items()))
    if t.pack_varargs:
        lines.append(f"    pack varargs into: {t.pack_varargs}")
    if t.positional is not None:
        lines.append(f"    positional: {', '.join(t.positional) or '(none)'}")
    if t.assign_result:
        lines.append("    in-place: rewritten as an assignment of the result")
    if t.notes:
        lines.append(f"    notes: {t.notes}")
    for device, v in sorted(t.verdicts.items()):
        detail = f": {v.detail}" if v.detail else ""
        lines.append(f"    {device}: {v.status} ({v.source}, mindspore {v.ms_version or '?'}){detail}")
    return lines


def show(kb: KB, api: str) -> str:
    """One entry as text: names, signature, each target with its rewrite rules and verdicts, notes, probe."""
    entry: Entry | None = kb.get(api)
    if entry is None:
        return f"no KB entry for {api}"
    devices = sorted({d for t in entry.targets for d in t.verdicts} | {"cpu"})
    preferred = {d: kb.target_for(entry, d) for d in devices}
    lines = [f"{entry.api}  ({entry.kind})"]
    if entry.aliases:
        lines.append(f"aliases: {', '.join(entry.aliases)}")
    if entry.signature:
        lines.append(f"signature: {entry.signature}")
    lines.append("targets:" if entry.targets else "targets: none (no rule; see notes)")
    for t in entry.targets:
        lines += _target_lines(t, preferred)
    if entry.notes:
        lines.append(f"notes: {entry.notes}")
    if entry.probe is not None:
        lines.append("probe:")
        if entry.probe.setup:
            lines += [f"  {s}" for s in entry.probe.setup.splitlines()]
        for c in entry.probe.cases:
            lines.append(f"  [{c.style}] {c.code}" + (f"  then {entry.probe.call}" if entry.probe.call else ""))
    if entry.sources:
        lines.append(f"sources: {', '.join(entry.sources)}")
    return "\n".join(lines)
