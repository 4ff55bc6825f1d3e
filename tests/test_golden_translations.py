"""Golden translations: the rules' output for every Python file of the bundled example and of the
eval corpus (evals/cases/*/repo), byte for byte, with the packaged KB on device cpu.

Each input has one stored output, tests/golden/<examples|evals>/<case>/<path>.golden. A change to
the rules, or to the KB (mapping_kb/), that changes a translation shows here as a diff. When the
change is intended, regenerate and review the diff of tests/golden/:

    MSAGENT_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden_translations.py

The files are translated as `msagent migrate` translates them: the repository's .py files as the
walk finds them, with the repository's nn.Module subclasses known and the KB's nearest-candidate hints
on the markers (the verification after it, and what it retranslates, is not covered here)."""
from __future__ import annotations

import ast
import difflib
import os
from functools import lru_cache
from pathlib import Path

import pytest

from agent.kb.retrieve import nearest_candidate
from agent.kb.store import kb_root, load_kb
from agent.rules.engine import translate_source
from agent.scan.files import walk_repo
from agent.scan.units import module_classes

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("MSAGENT_UPDATE_GOLDEN") == "1"
DEVICE = "cpu"


def repos() -> dict[str, Path]:
    """`examples/textvision`, `evals/lenet_cnn`, ... -> the repository folder."""
    found = {f"examples/{p.name}": p for p in sorted((ROOT / "examples").iterdir()) if p.is_dir()}
    found.update({f"evals/{p.parent.name}": p for p in sorted((ROOT / "evals" / "cases").glob("*/repo"))})
    return found


def python_files(repo: Path) -> list[str]:
    return [f.rel for f in walk_repo(repo) if f.kind == "python"]


INPUTS = [(case, rel) for case, repo in repos().items() for rel in python_files(repo)]


@lru_cache(maxsize=1)
def kb():
    return load_kb(str(kb_root()))  # the packaged KB alone: no user layer


@lru_cache(maxsize=None)
def repo_classes(case: str) -> frozenset[str]:
    repo = repos()[case]
    trees = {rel: ast.parse((repo / rel).read_text(encoding="utf-8")) for rel in python_files(repo)}
    return frozenset(module_classes(trees))


@lru_cache(maxsize=1)
def nearest():
    return nearest_candidate(kb())


def golden_path(case: str, rel: str) -> Path:
    return GOLDEN / case / f"{rel}.golden"


@pytest.mark.parametrize(("case", "rel"), INPUTS, ids=[f"{c}/{r}" for c, r in INPUTS])
def test_translation_matches_golden(case, rel):
    source = (repos()[case] / rel).read_text(encoding="utf-8")
    code = translate_source(source, kb(), DEVICE, module_classes=set(repo_classes(case)), nearest=nearest()).code
    path = golden_path(case, rel)
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_bytes() != code.encode("utf-8"):
            path.write_bytes(code.encode("utf-8"))
        return
    assert path.is_file(), f"{path}: no golden output; create it with MSAGENT_UPDATE_GOLDEN=1"
    expected = path.read_bytes().decode("utf-8")
    if code != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), code.splitlines(True),
                                            f"golden/{case}/{rel}", "translated now"))
        pytest.fail(f"{case}/{rel}: the translation changed (MSAGENT_UPDATE_GOLDEN=1 regenerates):\n{diff}")


def test_no_stray_goldens():
    """A golden without an input (a file or case removed or renamed) is removed by an update."""
    wanted = {golden_path(case, rel) for case, rel in INPUTS}
    stray = sorted(p for p in GOLDEN.rglob("*.golden") if p not in wanted)
    if UPDATE:
        for p in stray:
            p.unlink()
        return
    assert not stray, f"goldens without an input (MSAGENT_UPDATE_GOLDEN=1 removes them): {stray}"


def test_inputs_cover_the_example_and_the_corpus():
    cases = {case for case, _ in INPUTS}
    assert "examples/textvision" in cases
    assert len([c for c in cases if c.startswith("evals/")]) == len(list((ROOT / "evals" / "cases").glob("*/repo")))
