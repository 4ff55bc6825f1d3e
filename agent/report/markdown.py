"""The human-readable summary of a report, for the terminal, the PR bot and msagent-report.md."""
from __future__ import annotations

from agent.report.schema import Report


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.1e}"


def render(report: Report) -> str:
    s = report.summary
    lines = [
        "# msagent migration report",
        "",
        f"Source `{report.source}` → `{report.output}` on **{report.device}**, level `{report.level}`.",
        "",
        f"- units verified: **{s.units_verified}/{s.units}** ({s.verified_rate:.0%})",
        f"- torch API call sites converted: **{s.api_converted}/{s.api_calls}** ({s.conversion_rate:.0%}),"
        f" {s.api_marked} marked with `# msagent:`",
        f"- files: {s.files}; time: {s.seconds:.1f} s",
    ]
    if report.sandbox:
        off = [k for k, v in report.sandbox.items() if v is False]
        if off:
            lines.append(f"- sandbox: not applied here: {', '.join(off)}")
    lines += ["", "## Units", "", "| unit | kind | status | max abs | rounds | reason |", "|---|---|---|---|---|---|"]
    for u in report.units:
        reason = (u.reason or "").replace("|", "\\|").replace("\n", " ")[:160]
        lines.append(f"| `{u.file}::{u.name}` | {u.kind} | {u.status} | {_num(u.max_abs)} | {u.rounds} | {reason} |")
    if report.deferred:
        lines += ["", "## Not units at this level", ""]
        lines += [f"- `{u.file}::{u.name}`: {u.reason}" for u in report.deferred]
    marked = [f for f in report.files if f.markers or f.error]
    if marked:
        lines += ["", "## Files needing attention", ""]
        for f in marked:
            if f.error:
                lines.append(f"- `{f.path}`: {f.error}")
            for m in f.markers[:20]:
                lines.append(f"- `{f.path}:{m.line}`: {m.reason}")
            if len(f.markers) > 20:
                lines.append(f"- `{f.path}`: … {len(f.markers) - 20} more markers")
    if report.errors:
        lines += ["", "## Errors", "", *[f"- {e}" for e in report.errors]]
    return "\n".join(lines) + "\n"
