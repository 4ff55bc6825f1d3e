"""The human-readable summary of a report, for the terminal, the PR bot and msagent-report.md.

Every string that came from the migrated code (file and unit names, reasons, errors, paths)
goes through agent.report.textsafe: it is redacted and escaped for where it lands."""
from __future__ import annotations

from agent.report.schema import Report
from agent.report.textsafe import md_cell, md_inline


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.1e}"


def render(report: Report) -> str:
    s = report.summary
    lines = [
        "# msagent migration report",
        "",
        f"Source {md_inline(report.source, 300)} → {md_inline(report.output, 300)}"
        f" on **{md_cell(report.device, 40)}**, level {md_inline(report.level, 40)}.",
        "",
        f"- units verified: **{s.units_verified}/{s.units}** ({s.verified_rate:.0%})",
        f"- torch API call sites converted: **{s.api_converted}/{s.api_calls}** ({s.conversion_rate:.0%}),"
        f" {s.api_marked} marked with `# msagent:`",
        f"- files: {s.files}; time: {s.seconds:.1f} s",
    ]
    if report.sandbox:
        off = [k for k, v in report.sandbox.items() if v is False]
        if off:
            lines.append(f"- sandbox: not applied here: {md_cell(', '.join(off), 300)}")
    if report.notes:
        lines += ["", "## Notes", "", *[f"- {md_cell(n, 500)}" for n in report.notes]]
    if len(s.verified_by_level) > 1:
        lines.insert(7, "- verified per level: " + ", ".join(f"{k} {v}" for k, v in s.verified_by_level.items()))
    lines += ["", "## Units", "", "| unit | kind | status | level | max abs | rounds | reason |",
              "|---|---|---|---|---|---|---|"]
    for u in report.units:
        level = u.level_reached or "-"
        if u.level_failed:
            level += f" (failed {u.level_failed})"
        lines.append(f"| {md_inline(f'{u.file}::{u.name}', table=True)} | {md_cell(u.kind, 40)}"
                     f" | {md_cell(u.status, 40)} | {md_cell(level, 40)} | {_num(u.max_abs)} | {u.rounds}"
                     f" | {md_cell(u.reason)} |")
    chosen = [u for u in report.units if u.spec and u.spec.get("source") not in (None, "user", "repo")]
    if chosen:  # the arguments are msagent's choice (or the file's own, scaled), not the repo's configuration
        lines += ["", "## Arguments msagent chose or scaled", ""]
        lines += [f"- {md_inline(f'{u.file}::{u.name}')} ({md_cell(u.spec.get('source'), 20)}):"
                  f" {md_inline(u.spec.get('init') or '(called as it is)', 200)}"
                  + (f"; scaled: {md_cell(u.spec['scaled'], 300)}" if u.spec.get("scaled") else "")
                  for u in chosen]
    noted = [u for u in report.units if u.notes]
    if noted:  # what a check chose or could not do, beside its verdict
        lines += ["", "## Notes on units", ""]
        lines += [f"- {md_inline(f'{u.file}::{u.name}')}: {md_cell('; '.join(u.notes), 500)}" for u in noted]
    if report.deferred:
        lines += ["", "## Not units at this level", ""]
        lines += [f"- {md_inline(f'{u.file}::{u.name}')}: {md_cell(u.reason, 300)}" for u in report.deferred]
    marked = [f for f in report.files if f.markers or f.error]
    if marked:
        lines += ["", "## Files needing attention", ""]
        for f in marked:
            if f.error:
                lines.append(f"- {md_inline(f.path)}: {md_cell(f.error, 500)}")
            for m in f.markers[:20]:
                lines.append(f"- {md_inline(f'{f.path}:{m.line}')}: {md_cell(m.reason, 300)}")
            if len(f.markers) > 20:
                lines.append(f"- {md_inline(f.path)}: … {len(f.markers) - 20} more markers")
    if report.errors:
        lines += ["", "## Errors", "", *[f"- {md_cell(e, 1000)}" for e in report.errors]]
    return "\n".join(lines) + "\n"
