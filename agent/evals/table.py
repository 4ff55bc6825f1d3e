"""How an eval result reads to a person: the table grouped by difficulty (terminal or
Markdown), and what changed since an earlier `--json` result."""
from __future__ import annotations

import sys
from collections import defaultdict

from agent.evals.score import SUMMED, rates, summarize

DIFFICULTY_ORDER = ("easy", "medium", "hard")
COLUMNS = ("case", "category", "API calls converted", "units verified", "expected verified", "mis-converts",
           "rounds", "LLM tokens", "seconds", "errors")
SHORT = ("case", "category", "API conv", "units ok", "expected ok", "mis-conv", "rounds", "tokens", "s", "err")
# (field, direction): +1 higher is better, -1 lower is better, 0 timing (reported, never a verdict).
COMPARED = (("expected_verified", 1), ("units_verified", 1), ("verified_rate", 1), ("api_converted", 1),
            ("conversion_rate", 1), ("missing_reported", 1), ("mis_converts", -1), ("errors", -1),
            ("llm_tokens", -1), ("seconds", 0))


def _pct(num: int, den: int) -> str:
    return f"{num}/{den} {100 * num / den:.0f}%" if den else f"{num}/0"


def cells(rec: dict, name: str, category: str = "") -> list[str]:
    errors = rec["errors"] if isinstance(rec["errors"], int) else len(rec["errors"])
    return [name, category, _pct(rec["api_converted"], rec["api_calls"]), _pct(rec["units_verified"], rec["units"]),
            _pct(rec["expected_verified"], rec["expected_total"]), f"{rec['mis_converts']}/{rec['trap_lines']}",
            str(rec["rounds"]), str(rec["llm_tokens"]), f"{rec['seconds']:.1f}", str(errors)]


def groups(doc: dict) -> list[tuple[str, list[dict], dict]]:
    """(difficulty, its cases, their subtotal) in easy → medium → hard → other order."""
    by: dict[str, list[dict]] = defaultdict(list)
    for c in doc["cases"]:
        by[c["difficulty"] or "unknown"].append(c)
    order = [d for d in DIFFICULTY_ORDER if d in by] + sorted(set(by) - set(DIFFICULTY_ORDER))
    out = []
    for d in order:
        sub = rates({k: sum(c.get(k, 0) for c in by[d]) for k in SUMMED})
        sub["errors"] = sum(len(c["errors"]) for c in by[d])
        out.append((d, by[d], sub))
    return out


def _total(doc: dict) -> dict:
    total = dict(doc["summary"])
    total["errors"] = sum(len(c["errors"]) for c in doc["cases"])
    return total


def not_verified(doc: dict) -> list[tuple[str, dict]]:
    return [(c["name"], e) for c in doc["cases"] for e in c["expected"] if not e["status"].startswith("verified")]


def _short(text: str, n: int = 140) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def print_table(doc: dict, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or (Console() if sys.stdout.isatty() else Console(width=150))
    table = Table(title="msagent eval", show_lines=False)
    for col in SHORT:
        table.add_column(col, justify="left" if col in ("case", "category") else "right", no_wrap=True)
    for difficulty, cases, sub in groups(doc):
        for c in cases:
            table.add_row(*cells(c, c["name"], c["category"]))
        table.add_row(*cells(sub, f"{difficulty} ({len(cases)})"), style="bold", end_section=True)
    s = doc["summary"]
    table.add_row(*cells(_total(doc), f"all ({s['cases_total']})"), style="bold reverse")
    console.print(table)
    console.print(f"API conversion rate {s['conversion_rate']:.1%} (call sites the rules rewrote; not proof), "
                  f"verified-unit rate {s['verified_rate']:.1%} (units whose outputs matched PyTorch), "
                  f"expected units verified {s['expected_verified']}/{s['expected_total']}, "
                  f"mis-converts {s['mis_converts']}/{s['trap_lines']} trap lines.")
    missing = not_verified(doc)
    if missing:
        console.print("\n[bold]Expected units not verified[/bold]")
        for case, e in missing:
            console.print(f"  {case}: {e['unit']} [{e['status']}] {_short(e['reason'])}", markup=False)
    for c in doc["cases"]:
        for line in c["mis_convert_lines"]:
            console.print(f"  mis-convert {c['name']}/{line['file']}: {line['line'].strip()} ({line['why']})",
                          markup=False)
        for err in c["errors"]:
            console.print(f"  error {c['name']}: {_short(err)}", markup=False)


def render_markdown(doc: dict, top_markers: int = 15) -> str:
    """The same table as Markdown, with the expected units that did not verify and why."""
    def row(values: list[str], bold: bool = False) -> str:
        return "| " + " | ".join(f"**{v}**" if bold and v else v for v in values) + " |"

    lines = [row(list(COLUMNS)), "|" + "---|" * len(COLUMNS)]
    for difficulty, cases, sub in groups(doc):
        lines += [row(cells(c, c["name"], c["category"])) for c in cases]
        lines.append(row(cells(sub, f"{difficulty} ({len(cases)})"), bold=True))
    lines.append(row(cells(_total(doc), f"all ({doc['summary']['cases_total']})"), bold=True))
    missing = not_verified(doc)
    if missing:
        lines += ["", "Expected units that did not verify:", ""]
        lines += [f"- `{case}`: `{e['unit']}` ({e['status']}): {_short(e['reason'], 200)}" for case, e in missing]
    bad = [(c["name"], x) for c in doc["cases"] for x in c["mis_convert_lines"]]
    if bad:
        lines += ["", "Mis-converts (trap lines that did not come out verbatim):", ""]
        lines += [f"- `{case}/{x['file']}`: `{x['line'].strip()}` ({x['why']})" for case, x in bad]
    marked: dict[str, int] = {}
    for c in doc["cases"]:
        for reason, n in c.get("marked", {}).items():
            marked[reason] = marked.get(reason, 0) + n
    if marked:
        top = sorted(marked.items(), key=lambda kv: (-kv[1], kv[0]))[:top_markers]
        lines += ["", f"Most frequent markers (what the rules left unconverted), top {len(top)}:", ""]
        lines += [f"- {n} × {_short(reason, 160)}" for reason, n in top]
    errs = [(c["name"], e) for c in doc["cases"] for e in c["errors"]]
    if errs:
        lines += ["", "Errors:", ""] + [f"- `{case}`: {_short(e, 200)}" for case, e in errs]
    return "\n".join(lines) + "\n"


# -- comparison with an earlier run ---------------------------------------------------------------
def _value(rec: dict, field: str):
    value = rec.get(field)
    return len(value) if isinstance(value, list) else value


def _changes(old: dict, new: dict) -> dict:
    out = {}
    for field, direction in COMPARED:
        a, b = _value(old, field), _value(new, field)
        if a is None or b is None or a == b:
            continue
        if direction == 0:
            if abs(b - a) <= max(1.0, 0.25 * a):  # timing noise is not a change
                continue
            verdict = "slower" if b > a else "faster"
        else:
            verdict = "better" if (b - a) * direction > 0 else "worse"
        out[field] = {"old": a, "new": b, "verdict": verdict}
    return out


def _verdict(changes: dict, gained: list, lost: list) -> str:
    verdicts = {c["verdict"] for c in changes.values()} | ({"better"} if gained else set()) | (
        {"worse"} if lost else set())
    if "better" in verdicts and "worse" in verdicts:
        return "mixed"
    return "better" if "better" in verdicts else "worse" if "worse" in verdicts else "same"


def compare_runs(old: dict, new: dict) -> dict:
    """Per case and for the summary: which numbers moved, and whether that is better or worse."""
    old_cases = {c["name"]: c for c in old["cases"]}
    new_cases = {c["name"]: c for c in new["cases"]}
    cases = {}
    for name in new_cases.keys() & old_cases.keys():
        a, b = old_cases[name], new_cases[name]
        was = {e["unit"] for e in a.get("expected", []) if e["status"].startswith("verified")}
        now = {e["unit"] for e in b.get("expected", []) if e["status"].startswith("verified")}
        changes = _changes(a, b)
        gained, lost = sorted(now - was), sorted(was - now)
        if changes or gained or lost:
            cases[name] = {"verdict": _verdict(changes, gained, lost), "changes": changes,
                           "units_gained": gained, "units_lost": lost}
    # The summaries are compared over the cases both runs have, so a `--case` subset compares fairly.
    common = sorted(new_cases.keys() & old_cases.keys())
    old_summary, new_summary = (
        dict(summarize([run[n] for n in common]), errors=sum(len(run[n].get("errors", [])) for n in common))
        for run in (old_cases, new_cases))
    summary = _changes(old_summary, new_summary)
    return {"verdict": _verdict(summary, [], []), "common_cases": len(common), "summary": summary,
            "cases": dict(sorted(cases.items())), "added": sorted(new_cases.keys() - old_cases.keys()),
            "only_in_old": sorted(old_cases.keys() - new_cases.keys())}


def print_compare(cmp: dict, console=None) -> None:
    from rich.console import Console

    console = console or (Console() if sys.stdout.isatty() else Console(width=150))
    console.print(f"\n[bold]Compared with the earlier run, over the {cmp['common_cases']} cases both have: "
                  f"{cmp['verdict']}[/bold]")

    def moves(changes: dict) -> str:
        return ", ".join(f"{k} {v['old']} → {v['new']} ({v['verdict']})" for k, v in changes.items())

    if cmp["summary"]:
        console.print(f"  summary: {moves(cmp['summary'])}", markup=False)
    for name, c in cmp["cases"].items():
        extra = "".join([f"; newly verified: {', '.join(c['units_gained'])}" if c["units_gained"] else "",
                         f"; no longer verified: {', '.join(c['units_lost'])}" if c["units_lost"] else ""])
        console.print(f"  {name} [{c['verdict']}]: {moves(c['changes'])}{extra}", markup=False)
    if cmp["added"]:
        console.print(f"  new cases: {', '.join(cmp['added'])}", markup=False)
    if cmp["only_in_old"]:
        console.print(f"  {len(cmp['only_in_old'])} cases of the earlier run were not run this time", markup=False)
    if not cmp["summary"] and not cmp["cases"]:
        console.print("  no change")
