"""What the bot says about a PR: the check run's verdict and the Markdown of its one comment.

Only the units in the Python files the PR changes decide the verdict: a unit elsewhere in the
repo that never verified is not this PR's doing. The whole report still goes into the comment,
folded, for anyone who wants it.
"""
from __future__ import annotations

from dataclasses import dataclass

from agent.bot.github import MARKER
from agent.report.markdown import render
from agent.report.schema import Report, UnitRecord
from agent.report.textsafe import md_cell, md_inline

COMMENT_LIMIT = 65000  # GitHub refuses comment bodies over 65536 characters


@dataclass
class Verdict:
    conclusion: str  # success | failure | neutral (GitHub check-run conclusions)
    title: str
    units: list[UnitRecord]  # the units in the changed files


def judge(report: Report, changed: list[str]) -> Verdict:
    """success: every unit in the changed files verified; failure: one failed or the run had
    errors; neutral: nothing to verify, or some units could not be exercised."""
    wanted = set(changed)
    units = [u for u in report.units if u.file in wanted]
    failed = [u for u in units if u.status == "failed"]
    unproven = [u for u in units if u.status == "not-exercised"]
    verified = len(units) - len(failed) - len(unproven)
    if report.errors or failed:
        why = f"{len(failed)} of {len(units)} changed units failed verification" if failed else "the migration reported errors"
        return Verdict("failure", why, units)
    if not units:
        return Verdict("neutral", "no torch units in the changed Python files", units)
    if unproven:
        return Verdict("neutral", f"{verified} of {len(units)} changed units verified, {len(unproven)} not exercised",
                       units)
    return Verdict("success", f"all {len(units)} changed units verified on MindSpore", units)


def changed_rate(report: Report, changed: list[str]) -> tuple[int, int]:
    """(converted, total) torch API call sites in the changed files."""
    files = [f for f in report.files if f.path in set(changed)]
    return sum(f.api_converted for f in files), sum(f.api_calls for f in files)


def summary_markdown(report: Report, changed: list[str], verdict: Verdict, head_sha: str, scope: str = "all") -> str:
    """The short part: used as the check run's summary and as the top of the comment. `scope`
    says what was migrated: "all" the whole repository, "changed" the changed files and their imports."""
    converted, calls = changed_rate(report, changed)
    rate = f"{converted}/{calls} ({converted / calls:.0%})" if calls else "no torch calls"
    where = "whole repository" if scope == "all" else "checked (the changed files and the repo files they import)"
    lines = [
        f"**{verdict.conclusion}**: {verdict.title} (head `{head_sha[:7]}`).",
        "",
        f"- changed Python files: {len(changed)}; torch API call sites converted there: {rate}",
        f"- {where}: {report.summary.units_verified}/{report.summary.units} units verified, "
        f"conversion rate {report.summary.conversion_rate:.0%}",
    ]
    if verdict.units:
        lines += ["", "| unit | kind | status | level | max abs | reason |", "|---|---|---|---|---|---|"]
        for u in verdict.units:
            max_abs = "" if u.max_abs is None else f"{u.max_abs:.1e}"
            level = (u.level_reached or "-") + (f" (failed {u.level_failed})" if u.level_failed else "")
            lines.append(f"| {md_inline(f'{u.file}::{u.name}', table=True)} | {md_cell(u.kind, 40)} | "
                         f"{md_cell(u.status, 40)} | {md_cell(level, 40)} | {max_abs} | {md_cell(u.reason, 200)} |")
    notes = [(f.path, m.line, m.reason) for f in report.files if f.path in set(changed) for m in f.markers]
    notes += [(f.path, None, f.error) for f in report.files if f.path in set(changed) and f.error]
    if notes:
        lines += ["", "Needs a hand:", ""]
        lines += [f"- {md_inline(p if line is None else f'{p}:{line}')}: {md_cell(why, 300)}"
                  for p, line, why in notes[:50]]
        if len(notes) > 50:
            lines.append(f"- … {len(notes) - 50} more")
    if report.errors:
        lines += ["", "Errors:", "", *[f"- {md_cell(e, 500)}" for e in report.errors[:20]]]
    return "\n".join(lines)


def published(report: Report, where: str) -> Report:
    """The report as the bot shows it: it names the bot's temp folders; say what was migrated instead."""
    return report.model_copy(update={"source": where, "output": "(not published)"})


def comment_markdown(report: Report, changed: list[str], verdict: Verdict, head_sha: str, where: str,
                     scope: str = "all") -> str:
    """The PR comment: the marker the bot finds it by, the summary, the full report folded."""
    shown = published(report, where)
    head = (f"{MARKER}\n## msagent: PyTorch → MindSpore\n\n"
            f"{summary_markdown(report, changed, verdict, head_sha, scope)}\n")
    full = render(shown)
    room = COMMENT_LIMIT - len(head) - 200
    if len(full) > room:
        full = full[:room] + "\n\n… (cut to fit a GitHub comment)\n"
    return f"{head}\n<details><summary>Full report</summary>\n\n{full}\n</details>\n"


def message_markdown(head_sha: str, title: str, detail: str) -> str:
    """A comment for a run that produced no report (nothing to check, or the bot could not run)."""
    return f"{MARKER}\n## msagent: PyTorch → MindSpore\n\n**{title}** (head `{head_sha[:7]}`).\n\n{detail}\n"
