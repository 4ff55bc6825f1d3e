"""`msagent eval DIR`: migrate every case with one warm verification worker (or N with
--jobs, or one per Ray actor with --ray), score each case, print the table or one JSON
document. A case that fails to run is recorded with its error; the run goes on.

Exit code: 0 when every expected unit verified with no mis-convert and no error, 1
otherwise, 2 for usage errors (unknown case, unreadable --compare file, Ray missing).
"""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from agent.evals.score import Case, CaseError, failed_case, find_cases, passed, score_case, summarize


class EvalSetupError(RuntimeError):
    """The run cannot start (no worker, no Ray): exit code 2."""


def progress_note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def eval_verifier(cases_root: Path, out_root: Path):
    """A verifier (torch and MindSpore sides, the pipeline's sandbox and timeouts) over these folders."""
    from agent.config import MigrateSettings
    from agent.verify.judge import Verifier

    out_root.mkdir(parents=True, exist_ok=True)
    return Verifier.for_paths([cases_root, out_root], timeout_s=MigrateSettings().unit_timeout_s)


def run_case(case: Case, verifier, out: Path) -> dict:
    """Migrate CASE into OUT with VERIFIER and score it; any failure becomes the case's error."""
    from agent.config import load_settings
    from agent.pipeline import migrate

    start = time.perf_counter()
    try:
        if out.exists():
            shutil.rmtree(out)  # a stale tree would score the previous run's files
        settings = load_settings(case.repo, {"fresh": True})
        report = migrate(case.repo, out, settings, verifier=verifier)
        return score_case(case, report.model_dump(), out, time.perf_counter() - start)
    except Exception as exc:  # one broken case must not stop the suite
        return failed_case(case, f"{type(exc).__name__}: {exc}", time.perf_counter() - start)


def case_line(result: dict) -> str:
    err = f", error: {result['errors'][0][:80]}" if result["errors"] else ""
    return (f"  {result['name']}: {result['expected_verified']}/{result['expected_total']} expected units verified, "
            f"{result['mis_converts']} mis-converts, {result['seconds']:.1f} s{err}")


def run_local(cases: list[Case], out_root: Path, jobs: int = 1, quiet: bool = False) -> list[dict]:
    """Run CASES on JOBS warm local workers (cases in threads, one worker per case at a time)."""
    from agent.sandbox.pool import WorkerPool, WorkerStartError

    jobs = max(1, min(jobs, len(cases)))
    pool = WorkerPool(jobs, factory=lambda: eval_verifier(cases[0].path.parent, out_root))
    try:
        pool.start()
    except WorkerStartError as exc:
        pool.close()
        raise EvalSetupError(f"the verification worker did not start: {exc}") from exc

    def one(case: Case) -> dict:
        with pool.worker() as w:
            result = run_case(case, w, out_root / case.name)
        if not quiet:
            progress_note(case_line(result))
        return result

    try:
        if jobs == 1:
            return [one(c) for c in cases]
        with ThreadPoolExecutor(max_workers=jobs) as ex:
            return list(ex.map(one, cases))  # map keeps the cases' order
    finally:
        pool.close()


def evaluate(cases: list[Case], jobs: int = 1, ray: str | None = None, out: Path | None = None,
             quiet: bool = True) -> dict:
    """Run and score CASES; returns {"cases": [...], "summary": {...}}."""
    start = time.perf_counter()
    out_root = out.resolve() if out else Path(tempfile.mkdtemp(prefix="msagent-eval-"))
    out_root.mkdir(parents=True, exist_ok=True)
    try:
        if ray:
            from agent.evals.distributed import run_ray

            results = run_ray(cases, ray, jobs=jobs, out_root=out if out else None, quiet=quiet)
        else:
            results = run_local(cases, out_root, jobs=jobs, quiet=quiet)
    finally:
        if out is None:
            shutil.rmtree(out_root, ignore_errors=True)
    return {"cases": results, "summary": summarize(results, time.perf_counter() - start)}


def _load_old(path: Path) -> dict:
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CaseError(f"--compare {path}: cannot read an earlier result ({exc})") from exc
    if not isinstance(old, dict) or not isinstance(old.get("cases"), list) or "summary" not in old:
        raise CaseError(f"--compare {path}: not an `msagent eval --json` document")
    return old


def main(cases: Path, as_json: bool = False, compare: Path | None = None, jobs: int = 1, ray: str | None = None,
         only: list[str] | None = None, out: Path | None = None) -> int:
    """The `msagent eval` command; returns the exit code."""
    from agent.evals.table import compare_runs, print_compare, print_table

    try:
        if jobs < 1:
            raise CaseError("--jobs must be at least 1")
        found = find_cases(cases, only)
        old = _load_old(compare) if compare else None
    except CaseError as exc:
        progress_note(f"msagent: {exc}")
        return 2
    if not as_json:
        progress_note(f"msagent eval: {len(found)} cases from {cases}")
    try:
        doc = evaluate(found, jobs=jobs, ray=ray, out=out, quiet=as_json and not sys.stderr.isatty())
    except EvalSetupError as exc:
        progress_note(f"msagent: {exc}")
        return 2
    if old is not None:
        doc["compare"] = compare_runs(old, doc)
    if as_json:
        sys.stdout.write(json.dumps(doc) + "\n")
    else:
        print_table(doc)
        if old is not None:
            print_compare(doc["compare"])
    return 0 if passed(doc["summary"]) else 1
