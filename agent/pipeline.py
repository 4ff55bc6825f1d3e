"""One migration, start to end: scan → rules → write → verify/repair per unit → report."""
from __future__ import annotations

import ast
import hashlib
import json
import queue
import threading
import time
from pathlib import Path

import libcst as cst

from agent import __version__
from agent.config import MigrateSettings, UsageError
from agent.kb.retrieve import nearest_candidate
from agent.kb.store import KB, load_kb
from agent.repair.translated import Translated
from agent.report.markdown import render
from agent.report.schema import FileRecord, MarkerRecord, Report, UnitRecord
from agent.rules.engine import translate_source
from agent.scan.files import SourceFile, module_name, shown, walk_repo
from agent.scan.units import Unit, find_units, module_class_keys
from agent.write.atomic import copy_file, write_text
from agent.write.journal import Journal
from agent.scan.names import parse_python
from agent.scan.star_imports import star_inherited


def check_paths(src: Path, out: Path) -> tuple[Path, Path]:
    if not src.exists():
        raise UsageError(f"{src}: no such directory")
    if not src.is_dir():
        raise UsageError(f"{src}: not a directory (msagent migrate takes a repository folder)")
    s, o = src.resolve(), out.resolve()
    if o == s or o.is_relative_to(s):
        raise UsageError(f"output {out} is inside the source {src}: msagent never writes into the source tree")
    if s.is_relative_to(o):
        raise UsageError(f"the source {src} is inside the output {out}: choose an output folder beside it")
    try:
        o.mkdir(parents=True, exist_ok=True)
        probe = o / ".msagent-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"output {out} is not writable: {exc.strerror or exc}") from exc
    return s, o


def translate_repo(src: Path, out: Path, kb: KB, settings: MigrateSettings, on_file=None) -> Translated:
    """Rules over every Python file; other files copied byte for byte."""
    result = Translated()
    files = walk_repo(src)
    trees: dict[str, ast.Module] = {}
    for f in files:
        if f.kind != "python":
            continue
        try:
            text = f.path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            result.files.append(_copied_through(f, out, f"{f.rel}: not UTF-8 text (byte {exc.start})"))
            continue
        except OSError as exc:
            result.files.append(FileRecord(path=f.rel, status="error", error=f"{f.rel}: unreadable: {exc.strerror}"))
            continue
        try:
            trees[f.rel] = parse_python(text, filename=f.rel)
        except (SyntaxError, ValueError) as exc:  # ValueError: null bytes on older Pythons
            where = f"{f.rel}:{exc.lineno}" if getattr(exc, "lineno", None) else f.rel
            why = getattr(exc, "msg", None) or str(exc)
            result.files.append(_copied_through(f, out, f"{where}: syntax error: {why}"))
            continue
        except RecursionError:  # `1 + 1 + ...` thousands of terms long: Python's parser gives up
            result.files.append(_copied_through(f, out, f"{f.rel}: too deeply nested to parse (deeper than "
                                                        "Python's recursion limit)"))
            continue
        except Exception as exc:  # MemoryError and the like: this file's failure, not the run's
            result.files.append(_copied_through(f, out, f"{f.rel}: cannot parse: {_why(exc)}"))
            continue
        result.sources[f.rel] = text
    result.inherited = star_inherited(trees)
    class_keys = module_class_keys(trees, result.inherited)
    repo_modules = {name for _, name in class_keys}
    nearest = nearest_candidate(kb)
    result.module_classes, result.nearest = repo_modules, nearest
    for f in files:
        if on_file:
            on_file(f.rel)
        try:  # one bad file never sinks the run: whatever it raises becomes its record's error
            if f.kind == "python" and f.rel in result.sources:
                record = _translate_file(f, result, out, kb, settings, repo_modules, nearest)
                result.files.append(record)
                try:
                    own = {name for rel, name in class_keys if rel == f.rel}
                    result.units += find_units(f.rel, module_name(f.rel), trees[f.rel], own,
                                               result.inherited.get(f.rel))
                except Exception as exc:
                    if was_interrupted(exc):
                        raise
                    record.status = "error"
                    record.error = (f"{f.rel}: unit discovery crashed: {_why(exc)}; the file is translated, "
                                    "its units are not verified")
            elif f.kind == "notebook":
                result.files.append(_translate_notebook(f, out, kb, settings, repo_modules, nearest))
            elif f.kind == "other":
                copy_file(f.path, out / f.out_rel)
                result.files.append(FileRecord(path=f.rel, status="copied", error=f.reason))
            elif f.kind == "error":  # found unfit by the walk (a name that is not UTF-8): copied, not translated
                result.files.append(_copied_through(f, out, f"{f.rel}: {f.reason}"))
            elif f.kind == "skipped":
                result.files.append(FileRecord(path=f.rel, status="skipped", error=f.reason))
        except Exception as exc:
            if was_interrupted(exc):
                raise
            result.outputs.pop(f.rel, None)
            if isinstance(exc, OSError):  # reading SRC or writing OUT failed (the rules' own errors are caught inside)
                result.files.append(FileRecord(path=f.rel, status="error",
                                               error=f"{f.rel}: not written to OUT: {exc.strerror or _why(exc)}"))
            else:
                result.files.append(_copied_through(f, out, f"{f.rel}: rules crashed: {_why(exc)}"))
    return result


def _why(exc: BaseException) -> str:
    """`Type: message` for a report: one line, at most 300 characters, valid UTF-8."""
    msg = " ".join(shown(str(exc)).split())
    msg = msg[:300] + "..." if len(msg) > 300 else msg
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def _copied_through(f: SourceFile, out: Path, error: str) -> FileRecord:
    """An error record for a file left as it was: the original goes to OUT unchanged, and the
    record says so (or why it could not)."""
    try:
        copy_file(f.path, out / f.out_rel)
    except OSError as exc:
        return FileRecord(path=f.rel, status="error", error=f"{error}; not copied: {exc.strerror or _why(exc)}")
    return FileRecord(path=f.rel, status="error", error=f"{error}; copied unchanged")


def _translate_notebook(f: SourceFile, out: Path, kb: KB, settings: MigrateSettings, repo_modules: set[str],
                        nearest) -> FileRecord:
    from agent.rules.notebooks import NotebookError, translate_notebook

    try:
        text = f.path.read_bytes().decode("utf-8")
        r = translate_notebook(text, kb, settings.device, module_classes=repo_modules, nearest=nearest)
    except (UnicodeDecodeError, NotebookError) as exc:
        why = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc)
        return _copied_through(f, out, f"{f.rel}: {why}")
    except RecursionError:
        return _copied_through(f, out, f"{f.rel}: too deeply nested to translate (beyond the rules' recursion limit)")
    except Exception as exc:  # a rules bug must not lose the notebook
        if was_interrupted(exc):
            raise
        return _copied_through(f, out, f"{f.rel}: rules crashed: {_why(exc)}")
    if r.changed:
        write_text(out / f.rel, r.text)
    else:
        copy_file(f.path, out / f.rel)
    note = f"{r.kept_cells} of {r.code_cells} code cells kept unchanged" if r.kept_cells else ""
    return FileRecord(path=f.rel, status="translated" if r.changed else "unchanged", error=note,
                      api_calls=r.api_calls, api_converted=r.api_converted,
                      markers=[MarkerRecord(line=m.line, reason=f"cell {m.cell}: {m.reason}") for m in r.markers])


def _translate_file(f: SourceFile, acc: Translated, out: Path, kb: KB, settings: MigrateSettings,
                    repo_modules: set[str], nearest) -> FileRecord:
    text = acc.sources[f.rel]
    try:
        r = translate_source(text, kb, settings.device, module_classes=repo_modules, nearest=nearest,
                             inherited=acc.inherited.get(f.rel))
    except cst.ParserSyntaxError as exc:
        return _copied_through(f, out, f"{f.rel}:{exc.raw_line}: cannot parse: {exc.message}")
    except RecursionError:  # translate_source already retried on a deep stack
        return _copied_through(f, out, f"{f.rel}: too deeply nested to translate (beyond the rules' recursion limit)")
    except Exception as exc:  # a rules bug must not lose the file: copy it and say why
        if was_interrupted(exc):
            raise
        return _copied_through(f, out, f"{f.rel}: rules crashed: {_why(exc)}")
    write_text(out / f.rel, r.code)
    acc.outputs[f.rel] = r.code
    return FileRecord(path=f.rel, status="translated" if r.code != text else "unchanged",
                      api_calls=r.api_calls, api_converted=r.api_converted,
                      markers=[MarkerRecord(line=m.line, reason=m.reason) for m in r.markers])


def fingerprint(t: Translated, settings: MigrateSettings) -> str:
    h = hashlib.sha256()
    for rel in sorted(t.sources):
        h.update(rel.encode() + b"\0" + t.sources[rel].encode() + b"\0" + t.outputs.get(rel, "").encode())
    h.update(settings.model_dump_json(exclude={"fresh", "llm", "jobs"}).encode())  # --jobs: the same results
    h.update(__version__.encode())
    return h.hexdigest()


def was_interrupted(exc: BaseException) -> bool:
    """A KeyboardInterrupt (Ctrl-C, or SIGTERM turned into one), or an error raised while one was
    unwinding: cleanup code it interrupts (a `finally` in LibCST's printer) may raise its own."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, KeyboardInterrupt):
            return True
        exc, seen = exc.__context__, seen + 1
    return False


def migrate(src: Path, out: Path, settings: MigrateSettings, progress=None, verifier=None,
            ray: str | None = None) -> Report:
    """Migrate SRC into OUT and verify every unit. Writes the reports; returns the Report.
    With RAY (a cluster address, or `local`), the units are verified on Ray actors (agent.repair.ray_lanes).

    A KeyboardInterrupt still writes the (partial) reports, then propagates: units not reached are
    listed as not exercised, and the journal lets the next run resume after the last finished unit.
    """
    start = time.perf_counter()
    src, out = check_paths(src, out)
    head = None
    if settings.verify and verifier is None and ray is None:
        from agent.repair.lanes import HeadStart

        head = HeadStart.begin(src, out, settings)  # the sides start while the rest loads and the rules run
    try:
        from agent.repair.loop import UnitRunner  # imported here: keeps `agent.pipeline` light to import

        kb = load_kb(settings.kb_root)
    except BaseException:
        if head is not None:
            head.discard()
        raise
    report = Report(tool_version=__version__, source=str(src), output=str(out), device=settings.device,
                    level=settings.level, notes=list(settings.ignored_repo_settings))
    translated = Translated()
    journal = None
    try:
        translated = translate_repo(src, out, kb, settings, on_file=progress.file if progress else None)
        report.files = translated.files
        report.deferred = [UnitRecord(file=u.file, name=u.name, kind=u.kind, status="not-exercised",
                                      reason=u.skip_reason) for u in translated.units if u.skip_reason]
        translated.units = [u for u in translated.units if not u.skip_reason]
        report.errors += [f.error for f in translated.files if f.status == "error"]
        journal = Journal(out, fingerprint(translated, settings), fresh=settings.fresh)
        if settings.verify and translated.units:
            _verify_units(UnitRunner, src, out, kb, settings, translated, journal, report, progress, verifier,
                          ray, head)
        elif translated.units:
            report.units = [UnitRecord(file=u.file, name=u.name, kind=u.kind, status="not-exercised",
                                       reason="verification turned off") for u in translated.units]
    except BaseException as exc:
        if not was_interrupted(exc):
            raise
        done = {(u.file, u.name): u for u in report.units}
        # what reached the journal file is what finished: a signal can land between a line's write and
        # this thread's bookkeeping (it is delivered to whichever thread the kernel picks), so reread it
        on_disk = Journal(out, journal.fingerprint).done if journal is not None else {}
        for u in translated.units:
            entry = on_disk.get(u.key)
            if entry is not None:
                done[(u.file, u.name)] = UnitRecord(**entry)
        listed = [done.pop((u.file, u.name), None) or UnitRecord(
            file=u.file, name=u.name, kind=u.kind, status="not-exercised",
            reason="interrupted before this unit finished; rerun to resume") for u in translated.units]
        report.units = listed + list(done.values())  # in the order found, whichever lanes finished what
        report.errors.append("interrupted: the report is partial; the same command resumes the run")
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise KeyboardInterrupt from exc
    finally:
        if head is not None:
            head.discard()
        report.finish(time.perf_counter() - start)
        write_reports(report, out)
    return report


def _verify_units(runner_cls, src, out, kb, settings, translated: Translated, journal: Journal, report: Report,
                  progress, verifier, ray: str | None = None, head=None) -> None:
    """Verify every unit: those the journal holds are reused, the others run on `settings.jobs` lanes
    (a runner and a verifier each, in threads), one file's units on one lane in their order, so a file's
    held sessions stay warm. Results are journaled and reported here, in this thread, as they come;
    the report lists units in the order they were found, whatever the number of lanes."""
    from agent.repair.loop import run_unit
    from agent.sandbox.process import DeviceUnavailable, WorkerStartError

    units = translated.units
    todo = [i for i, u in enumerate(units) if journal.get(u.key) is None]
    files = list(dict.fromkeys(units[i].file for i in todo))  # in the order found
    if ray is not None:  # the lanes are Ray actors: journal, report and progress stay here
        from agent.repair.ray_lanes import verify_on_ray

        finished = _reuse_journal(units, out, translated, journal, report, progress)
        verify_on_ray(ray, src, out, kb, settings, translated, todo, journal, report, progress, finished)
        return
    jobs = 1 if verifier is not None else max(1, min(settings.jobs, len(files)))
    verifiers, runners = [], []
    try:
        try:
            if verifier is None:
                from agent.repair.lanes import lane_cpus, verifier_for

                started = head.take(lane_cpus(0, jobs)) if head is not None else None  # see lanes.HeadStart
                verifiers = [(k == 0 and started) or verifier_for(src, out, settings, lane_cpus(k, jobs))
                             for k in range(jobs)]
            # the first lane's verifier starts here; the others start in their lanes while it works
            runners.append(runner_cls(src, out, kb, settings, translated, verifier=verifier or verifiers[0]))
        except DeviceUnavailable as exc:
            raise UsageError(f"--device {settings.device}: {exc}") from None
        except WorkerStartError as exc:  # no torch/MindSpore here, or the sandbox cannot start: say so, keep the rest
            first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "worker did not start"
            report.errors.append("verification worker did not start (are torch and mindspore installed? "
                                 f"pip install 'msagent[frameworks]' -c constraints.txt): {first}")
            report.units = [UnitRecord(file=u.file, name=u.name, kind=u.kind, status="not-exercised",
                                       reason="the verification worker did not start") for u in units]
            return
        report.sandbox = runners[0].isolation
        if report.sandbox.get("unsandboxed"):  # --allow-unsandboxed on a host without the sandbox
            from agent.sandbox.isolation import UNSANDBOXED_NOTE

            report.notes.append(UNSANDBOXED_NOTE)
        finished = _reuse_journal(units, out, translated, journal, report, progress)
        if len(verifiers) <= 1:  # one lane: this thread, where Ctrl-C lands inside the unit it stops
            for i in todo:
                if progress:
                    progress.unit(units[i].key)
                record, files = run_unit(runners[0], units[i])
                journal.record(units[i].key, record, files=files)
                finished(i, record)
        else:
            _run_lanes(runners, verifiers, units, todo, journal, report, progress, finished)
    finally:
        for runner in runners:
            runner.close()
        for v in verifiers:
            try:
                v.close()
            except Exception:  # its sides were already killed (an interrupt): make sure, quietly
                _kill_sides(v)


def _reuse_journal(units: list[Unit], out: Path, translated: Translated, journal: Journal, report: Report,
                   progress):
    """Report the units the journal holds (the OUT files their accepted repairs wrote go back, in the
    order written); return `finished(i, record)`, which reports unit i in the order found."""
    if progress and hasattr(progress, "units"):
        progress.units(len(units))
    records: dict[int, UnitRecord] = {}

    def finished(i: int, record: dict) -> None:
        records[i] = UnitRecord(**record)
        report.units = [records[j] for j in sorted(records)]
        if progress and hasattr(progress, "done"):
            progress.done(records[i])

    keys = {u.key for u in units}
    for key in journal.done:
        if key in keys:
            for rel, text in journal.files(key).items():
                write_text(out / rel, text)
                translated.outputs[rel] = text
    for i, unit in enumerate(units):
        entry = journal.get(unit.key)
        if entry is not None:
            if progress:
                progress.unit(unit.key)
            finished(i, entry)
    return finished


def _kill_sides(verifier) -> None:
    for side in (getattr(verifier, "ref", None), getattr(verifier, "cand", None)):
        try:
            if side is not None:
                side.close()
        except Exception:
            pass


def _run_lanes(runners: list, verifiers: list, units, todo: list[int], journal: Journal, report: Report, progress,
               finished) -> None:
    """A thread per verifier takes the next file's units and runs them in order; this thread journals
    and reports each result as it comes (and alone receives Ctrl-C and SIGTERM). `runners` holds the
    first lane's runner (its verifier started) and gets the others' as their verifiers come up; a
    verifier that does not start leaves its files to the other lanes."""
    from agent.repair.loop import Cancelled

    groups: queue.Queue = queue.Queue()
    by_file: dict[str, list[int]] = {}
    for i in todo:
        by_file.setdefault(units[i].file, []).append(i)
    for group in by_file.values():
        groups.put(group)
    results: queue.Queue = queue.Queue()
    first = runners[0]
    stop = first.state.stop

    def lane(n: int) -> None:
        try:
            runner = first if n == 0 else _start_lane(n, first, verifiers, report)
            if runner is None:
                return
            if n:
                runners.append(runner)
            _run_groups(runner, groups, results, units, progress, stop)
        except Cancelled:
            return
        except BaseException as exc:  # a bug, not a verdict: the run stops and this thread raises it
            results.put((None, None, None, exc))

    threads = _start_threads(lane, len(verifiers))
    try:
        _collect(results, threads, len(todo), units, journal, finished)
    except BaseException:
        stop.set()  # lanes start nothing new; killing the sides ends what they are waiting on
        for v in verifiers:
            _kill_sides(v)
        raise
    finally:
        stop.set()
        deadline = time.monotonic() + 10
        for t in threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))


def _start_lane(n: int, first, verifiers: list, report: Report):
    """Lane n's runner once its verifier started; None when it did not start (a note says so) or the run
    was stopped meanwhile."""
    stop = first.state.stop
    try:
        verifiers[n].start()
        if stop.is_set():
            return None
        return first.lane(verifiers[n])
    except Exception as exc:  # the other lanes verify its files
        if not stop.is_set():  # (an interrupt closes the sides a lane may still be starting)
            why = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
            report.notes.append(f"verification lane {n + 1} of {len(verifiers)} did not start ({why}); "
                                "the other lanes verified its files")
        return None


def _run_groups(runner, groups: queue.Queue, results: queue.Queue, units, progress, stop) -> None:
    """One lane's work: the next file's units in order, each result put on `results`, until no file is
    left or the run stops."""
    from agent.repair.loop import run_unit

    while not stop.is_set():
        try:
            group = groups.get_nowait()
        except queue.Empty:
            return
        for i in group:
            if stop.is_set():
                return
            if progress:
                progress.unit(units[i].key)
            record, files = run_unit(runner, units[i])
            results.put((i, record, files, None))


def _start_threads(lane, count: int) -> list[threading.Thread]:
    from agent.rules.walk import DEEP_STACK_BYTES

    # lanes translate too (retranslations, repairs): the rules' deep-stack retry may raise the recursion
    # limit process-wide while another lane runs, so every lane gets the retry's stack size
    size = threading.stack_size(DEEP_STACK_BYTES)
    try:
        threads = [threading.Thread(target=lane, args=(n,), name=f"msagent-lane-{n}", daemon=True)
                   for n in range(count)]
        for t in threads:
            t.start()
    finally:
        threading.stack_size(size)
    return threads


def _collect(results: queue.Queue, threads: list, pending: int, units, journal: Journal, finished) -> None:
    """Journal and report the lanes' results as they come, until `pending` are in; a lane's error is
    raised here."""
    while pending:
        try:
            i, record, files, error = results.get(timeout=0.5)
        except queue.Empty:
            if not any(t.is_alive() for t in threads) and results.empty():
                raise RuntimeError("verification lanes ended with units left") from None
            continue
        if error is not None:
            raise error
        journal.record(units[i].key, record, files=files)
        finished(i, record)
        pending -= 1


def write_reports(report: Report, out: Path) -> None:
    write_text(out / "msagent-report.json", json.dumps(report.model_dump(), indent=2) + "\n")
    write_text(out / "msagent-report.md", render(report))
