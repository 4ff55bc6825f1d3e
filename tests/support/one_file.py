"""Migrate a small repo (one file, or a few) on the shared worker: the report (and the translated text)."""
from __future__ import annotations

from pathlib import Path

from agent.config import MigrateSettings
from agent.pipeline import migrate
from agent.report.schema import Report


def migrate_one_file(tmp_path: Path, name: str, source: str, worker) -> tuple[Report, str]:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / name).write_text(source)
    report = migrate(src, tmp_path / "out", MigrateSettings(), verifier=worker)
    return report, (tmp_path / "out" / name).read_text()


def migrate_files(tmp_path: Path, files: dict[str, str], worker) -> Report:
    """Migrate a repo of FILES (relative path -> text) on the shared worker: the report."""
    src = tmp_path / "src"
    for rel, text in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    return migrate(src, tmp_path / "out", MigrateSettings(), verifier=worker)


def assert_verified(report: Report, names, level: str | None = "grad") -> dict:
    """Each unit of NAMES verified by the rules, up to LEVEL when one is given; the units by name."""
    units = {u.name: u for u in report.units}
    for name in names:
        unit = units[name]
        assert unit.status == "verified-by-rules", (name, unit.status, unit.reason)
        if level is not None:
            assert unit.level_reached == level, (name, unit.levels)
    return units


def load_source(tmp_path: Path, name: str, source: str):
    """SOURCE imported as a module from a file of its own (inspect and the usage reader need the file)."""
    import importlib.util

    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
