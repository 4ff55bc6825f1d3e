"""Score one eval case: what its migration report says, checked against the case's case.toml.

A case is `evals/cases/<name>/` with `repo/` (the PyTorch code) and `case.toml`:
category, difficulty, `[expect] verify = ["module.Unit", ...]` (units that must verify),
`[[expect.unchanged]] file/line` (trap lines that must come out verbatim: a torch-looking
call on a non-torch object) and `[[expect.missing]] unit/dependency` (units that cannot be
exercised because a dependency is not installed, and must be reported so).

Two numbers are kept apart on purpose: the API conversion rate (call sites the rules
rewrote) says nothing about correctness; the verified-unit rate (units executed next to
the PyTorch original with matching outputs) does.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from agent.scan.files import module_name

SUMMARY_FIELDS = ("files", "api_calls", "api_converted", "api_marked", "units", "units_verified",
                  "conversion_rate", "verified_rate", "seconds")
# Fields summed over cases; the rates are recomputed from the sums, never averaged.
SUMMED = ("files", "api_calls", "api_converted", "api_marked", "units", "units_verified", "seconds",
          "expected_verified", "expected_total", "mis_converts", "trap_lines", "missing_reported",
          "missing_total", "rounds", "llm_tokens")


class CaseError(ValueError):
    """A case folder or case.toml that cannot be read, or a --case name that does not exist."""


@dataclass(frozen=True)
class Case:
    name: str
    path: Path
    category: str = ""
    difficulty: str = ""
    description: str = ""
    verify: tuple[str, ...] = ()
    unchanged: tuple[tuple[str, str], ...] = ()  # (file, exact line)
    missing: dict[str, str] = field(default_factory=dict)  # unit -> dependency

    @property
    def repo(self) -> Path:
        return self.path / "repo"


def load_case(path: Path) -> Case:
    try:
        data = tomllib.loads((path / "case.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CaseError(f"{path / 'case.toml'}: {exc}") from exc
    if not (path / "repo").is_dir():
        raise CaseError(f"{path}: no repo/ folder")
    expect = data.get("expect", {})
    return Case(
        name=path.name, path=path, category=data.get("category", ""), difficulty=data.get("difficulty", ""),
        description=data.get("description", ""), verify=tuple(expect.get("verify", [])),
        unchanged=tuple((u["file"], u["line"]) for u in expect.get("unchanged", [])),
        missing={m["unit"]: m["dependency"] for m in expect.get("missing", [])},
    )


def find_cases(root: Path, only: list[str] | None = None) -> list[Case]:
    """Every case under ROOT (a folder holding case.toml is a case), sorted; ONLY picks by name."""
    if (root / "case.toml").is_file():  # ROOT is itself one case
        found = {root.name: root}
    else:
        found = {p.name: p for p in sorted(root.iterdir()) if (p / "case.toml").is_file()}
    if only:
        unknown = [n for n in only if n not in found]
        if unknown:
            raise CaseError(f"no such case under {root}: {', '.join(unknown)}")
        found = {n: found[n] for n in only}
    if not found:
        raise CaseError(f"{root}: no eval cases (folders with a case.toml)")
    return [load_case(p) for p in found.values()]


def unit_key(file: str, name: str) -> str:
    """The dotted name case.toml uses: report file `a/b.py` + name `C` -> `a.b.C`."""
    module = module_name(file)
    return f"{module}.{name}" if module else name


def mis_converts(case: Case, out: Path) -> list[dict]:
    """Trap lines that did not come out byte-identical in OUT: each one is a mis-convert.
    (The rules put their markers on a line of their own, so a marker never changes a kept line.)"""
    found: list[dict] = []
    lines_by_file: dict[str, set[str] | None] = {}
    for file, line in case.unchanged:
        if file not in lines_by_file:
            try:
                lines_by_file[file] = set((out / file).read_text().splitlines())
            except (OSError, UnicodeDecodeError):
                lines_by_file[file] = None
        lines = lines_by_file[file]
        if lines is None:
            found.append({"file": file, "line": line, "why": "file missing from the output"})
        elif line not in lines:
            found.append({"file": file, "line": line, "why": "line rewritten"})
    return found


def _base(case: Case) -> dict:
    return {"name": case.name, "category": case.category, "difficulty": case.difficulty,
            **{k: 0 for k in SUMMARY_FIELDS}, "conversion_rate": 0.0, "verified_rate": 0.0,
            "expected_verified": 0, "expected_total": len(case.verify), "expected": [],
            "mis_converts": 0, "trap_lines": len(case.unchanged), "mis_convert_lines": [],
            "missing_reported": 0, "missing_total": len(case.missing), "rounds": 0, "llm_tokens": 0,
            "failing": [], "marked": {}, "errors": []}


def score_case(case: Case, report: dict, out: Path, seconds: float) -> dict:
    """One case's score from its report (Report.model_dump()) and its output tree."""
    result = _base(case)
    result.update({k: report["summary"][k] for k in SUMMARY_FIELDS})
    result["seconds"] = round(seconds, 3)
    units = {unit_key(u["file"], u["name"]): u for u in report["units"]}
    for key in case.verify:
        u = units.get(key)
        status = u["status"] if u else "absent"
        reason = u["reason"] if u else "the unit was not found in the report"
        reached = (u or {}).get("level_reached")
        result["expected"].append({"unit": key, "status": status, "reason": reason, "level_reached": reached,
                                   "level_failed": (u or {}).get("level_failed")})
        result["expected_verified"] += status.startswith("verified")
    result["verified_by_level"] = dict(report["summary"].get("verified_by_level") or {})
    result["expected_by_level"] = _by_level([e["level_reached"] for e in result["expected"]])
    for key, dependency in case.missing.items():
        u = units.get(key)
        if u and u["status"] == "not-exercised" and dependency in u["reason"]:
            result["missing_reported"] += 1
    result["rounds"] = sum(u["rounds"] for u in report["units"])
    result["llm_tokens"] = sum(u["llm_tokens"] for u in report["units"])
    result["failing"] = [{"unit": k, "status": u["status"], "failure": u.get("failure"), "reason": u["reason"]}
                         for k, u in units.items() if not u["status"].startswith("verified")]
    result["marked"] = marker_counts(report["files"])
    bad = mis_converts(case, out)
    result["mis_converts"], result["mis_convert_lines"] = len(bad), bad
    result["errors"] = list(report.get("errors", [])) + [
        f["error"] for f in report["files"] if f["status"] == "error" and f.get("error")]
    return rates(result)


def _by_level(reached: list) -> dict[str, int]:
    from agent.report.schema import LEVEL_ORDER

    out = {}
    for level in LEVEL_ORDER:
        n = sum(1 for r in reached if r in LEVEL_ORDER and LEVEL_ORDER.index(r) >= LEVEL_ORDER.index(level))
        if n or level == "forward":
            out[level] = n
    return out


def _sum_levels(results: list[dict], key: str) -> dict[str, int]:
    total: dict[str, int] = {}
    for r in results:
        for level, n in (r.get(key) or {}).items():
            total[level] = total.get(level, 0) + n
    return total


def marker_counts(files: list[dict]) -> dict[str, int]:
    """How often each marker reason occurs (its nearest-candidate hint dropped), most frequent first."""
    counts: dict[str, int] = {}
    for f in files:
        for m in f["markers"]:
            reason = m["reason"].split(" (nearest KB candidate")[0]
            counts[reason] = counts.get(reason, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def failed_case(case: Case, error: str, seconds: float) -> dict:
    """A case that could not be run at all: nothing verified, the error recorded."""
    result = _base(case)
    result["seconds"] = round(seconds, 3)
    result["errors"] = [error]
    result["expected"] = [{"unit": k, "status": "absent", "reason": "the case did not run"} for k in case.verify]
    result["expected_rate"] = 0.0
    return result


def rates(d: dict) -> dict:
    """The rates of a summed record, computed the way Report.finish computes them."""
    d["conversion_rate"] = round(d["api_converted"] / d["api_calls"], 4) if d["api_calls"] else 1.0
    d["verified_rate"] = round(d["units_verified"] / d["units"], 4) if d["units"] else 0.0
    d["expected_rate"] = round(d["expected_verified"] / d["expected_total"], 4) if d["expected_total"] else 0.0
    return d


def summarize(results: list[dict], wall_seconds: float | None = None) -> dict:
    """The summary fields summed over cases, rates recomputed from the sums."""
    total = {k: sum(r.get(k, 0) for r in results) for k in SUMMED}
    total["seconds"] = round(total["seconds"], 3)
    total["cases_total"] = len(results)
    total["cases_with_errors"] = sum(bool(r["errors"]) for r in results)
    total["verified_by_level"] = _sum_levels(results, "verified_by_level")
    total["expected_by_level"] = _sum_levels(results, "expected_by_level")
    if wall_seconds is not None:
        total["wall_seconds"] = round(wall_seconds, 3)
    return rates(total)


def passed(summary: dict) -> bool:
    """The eval's verdict for the exit code: every expected unit verified, no mis-convert, no error."""
    return (summary["expected_verified"] == summary["expected_total"] and summary["mis_converts"] == 0
            and summary["cases_with_errors"] == 0)
