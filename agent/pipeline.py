"""One migration, start to end: scan → rules → write → verify/repair per unit → report."""
from __future__ import annotations

import ast
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from agent import __version__
from agent.config import MigrateSettings
from agent.kb.store import KB, load_kb
from agent.report.markdown import render
from agent.report.schema import FileRecord, MarkerRecord, Report, UnitRecord
from agent.rules.engine import translate_source
from agent.scan.files import SourceFile, module_name, walk_repo
from agent.scan.units import Unit, find_units, module_classes
from agent.write.atomic import copy_file, write_text
from agent.write.journal import Journal


class UsageError(Exception):
    """Bad paths or settings: exit code 2."""


@dataclass
class Translated:
    files: list[FileRecord] = field(default_factory=list)
    units: list[Unit] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # rel -> torch source
    outputs: dict[str, str] = field(default_factory=dict)  # rel -> MindSpore source


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


def nearest_candidate(kb: KB) -> Callable[[str], str | None]:
    try:
        from agent.kb import retrieve
    except ImportError:
        return lambda text: None

    def nearest(text: str) -> str | None:
        try:
            hits = retrieve.search(kb, text, k=1)
        except Exception:
            return None
        return hits[0].api if hits else None

    return nearest


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
            result.files.append(FileRecord(path=f.rel, status="error", error=f"{f.rel}: not UTF-8 text "
                                           f"(byte {exc.start}): copied unchanged"))
            copy_file(f.path, out / f.rel)
            continue
        except OSError as exc:
            result.files.append(FileRecord(path=f.rel, status="error", error=f"{f.rel}: unreadable: {exc.strerror}"))
            continue
        try:
            trees[f.rel] = ast.parse(text, filename=f.rel)
        except SyntaxError as exc:
            result.files.append(FileRecord(path=f.rel, status="error",
                                           error=f"{f.rel}:{exc.lineno}: syntax error: {exc.msg}; copied unchanged"))
            copy_file(f.path, out / f.rel)
            continue
        result.sources[f.rel] = text
    repo_modules = module_classes(trees)
    nearest = nearest_candidate(kb)
    for f in files:
        if on_file:
            on_file(f.rel)
        if f.kind == "python" and f.rel in result.sources:
            result.files.append(_translate_file(f, result, out, kb, settings, repo_modules, nearest))
            result.units += find_units(f.rel, module_name(f.rel), trees[f.rel], repo_modules)
        elif f.kind in ("other", "notebook"):
            copy_file(f.path, out / f.rel)
            result.files.append(FileRecord(path=f.rel, status="copied", error=f.reason))
        elif f.kind == "skipped":
            result.files.append(FileRecord(path=f.rel, status="skipped", error=f.reason))
    return result


def _translate_file(f: SourceFile, acc: Translated, out: Path, kb: KB, settings: MigrateSettings,
                    repo_modules: set[str], nearest) -> FileRecord:
    text = acc.sources[f.rel]
    try:
        r = translate_source(text, kb, settings.device, module_classes=repo_modules, nearest=nearest)
    except cst.ParserSyntaxError as exc:
        copy_file(f.path, out / f.rel)
        return FileRecord(path=f.rel, status="error", error=f"{f.rel}:{exc.raw_line}: cannot parse: {exc.message}")
    except Exception as exc:  # a rules bug must not lose the file: copy it and say why
        copy_file(f.path, out / f.rel)
        return FileRecord(path=f.rel, status="error", error=f"{f.rel}: rules failed: {type(exc).__name__}: {exc}")
    write_text(out / f.rel, r.code)
    acc.outputs[f.rel] = r.code
    return FileRecord(path=f.rel, status="translated" if r.code != text else "unchanged",
                      api_calls=r.api_calls, api_converted=r.api_converted,
                      markers=[MarkerRecord(line=m.line, reason=m.reason) for m in r.markers])


def fingerprint(t: Translated, settings: MigrateSettings) -> str:
    h = hashlib.sha256()
    for rel in sorted(t.sources):
        h.update(rel.encode() + b"\0" + t.sources[rel].encode() + b"\0" + t.outputs.get(rel, "").encode())
    h.update(settings.model_dump_json(exclude={"fresh", "llm"}).encode())
    h.update(__version__.encode())
    return h.hexdigest()


def migrate(src: Path, out: Path, settings: MigrateSettings, progress=None, worker=None) -> Report:
    """Migrate SRC into OUT and verify every unit. Writes the reports; returns the Report."""
    from agent.repair.loop import UnitRunner  # imported here: keeps `agent.pipeline` light to import

    start = time.perf_counter()
    src, out = check_paths(src, out)
    kb = load_kb(settings.kb_root)
    report = Report(tool_version=__version__, source=str(src), output=str(out), device=settings.device,
                    level=settings.level)
    translated = translate_repo(src, out, kb, settings, on_file=progress.file if progress else None)
    report.files = translated.files
    journal = Journal(out, fingerprint(translated, settings), fresh=settings.fresh)
    try:
        if settings.verify and translated.units:
            runner = UnitRunner(src, out, kb, settings, translated, worker=worker)
            try:
                report.sandbox = runner.isolation
                for unit in translated.units:
                    if progress:
                        progress.unit(unit.key)
                    record = journal.get(unit.key)
                    if record is None:
                        record = runner.run(unit).model_dump()
                        journal.record(unit.key, record)
                    report.units.append(UnitRecord(**record))
            finally:
                runner.close()
        elif translated.units:
            report.units = [UnitRecord(file=u.file, name=u.name, kind=u.kind, status="not-exercised",
                                       reason="verification turned off") for u in translated.units]
    finally:
        report.finish(time.perf_counter() - start)
        write_reports(report, out)
    return report


def write_reports(report: Report, out: Path) -> None:
    write_text(out / "msagent-report.json", json.dumps(report.model_dump(), indent=2) + "\n")
    write_text(out / "msagent-report.md", render(report))
