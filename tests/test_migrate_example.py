"""The bundled example, migrated through the real CLI: every model unit verified by execution.

One migration (module-scoped) feeds the parity checks of every unit; torch and MindSpore run for
real in the sandboxed worker.
"""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "textvision"
MSAGENT = [sys.executable, "-m", "agent.cli.main"]
MODEL_UNITS = ["ResidualBlock", "MLPHead", "AttentionBlock", "TextEncoder", "TextVisionNet"]


def tree_digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def run_cli(*args: str, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([*MSAGENT, *args], capture_output=True, text=True, env=env, cwd=ROOT, **kw)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    before = tree_digest(EXAMPLE)
    proc = run_cli("migrate", str(EXAMPLE), "-o", str(out), "--json", timeout=900)
    return {"proc": proc, "out": out, "before": before, "report": json.loads(proc.stdout)}


def test_exit_zero_and_json_only_on_stdout(migrated):
    proc = migrated["proc"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("\n") == 1  # one JSON document, nothing else


def test_source_tree_untouched(migrated):
    assert tree_digest(EXAMPLE) == migrated["before"]


def test_output_mirrors_source(migrated):
    out = migrated["out"]
    for rel in migrated["before"]:
        assert (out / rel).is_file(), rel
    # non-Python files are copied byte for byte
    for rel in ("configs/default.yaml", "README.md"):
        assert (out / rel).read_bytes() == (EXAMPLE / rel).read_bytes()
    py = (out / "tvnet" / "blocks.py").read_text()
    assert "import torch" not in py and "nn.Cell" in py and "def construct" in py


def test_report_contract_fields(migrated):
    r = migrated["report"]
    assert r["schema_version"]
    for k in ("files", "api_calls", "api_converted", "api_marked", "units", "units_verified", "conversion_rate",
              "verified_rate", "seconds"):
        assert k in r["summary"], k
    for u in r["units"]:
        for k in ("file", "name", "kind", "status", "reason", "level", "trials", "max_abs", "max_rel", "rounds",
                  "llm_tokens", "seconds", "weight_map"):
            assert k in u, k
    for f in r["files"]:
        for k in ("path", "status", "api_calls", "api_converted", "markers"):
            assert k in f, k
    on_disk = json.loads((migrated["out"] / "msagent-report.json").read_text())
    assert on_disk["summary"]["units"] == r["summary"]["units"]
    assert (migrated["out"] / "msagent-report.md").read_text().startswith("# msagent migration report")


@pytest.mark.parametrize("name", MODEL_UNITS)
def test_unit_parity(migrated, name):
    unit = next(u for u in migrated["report"]["units"] if u["name"] == name)
    assert unit["status"] == "verified-by-rules", unit["reason"]
    assert unit["trials"] >= 6  # 3 seeds x 2 input sizes
    assert unit["max_abs"] is not None and unit["max_abs"] < 1e-3


def test_batchnorm_weights_go_through_the_kb_name_map(migrated):
    unit = next(u for u in migrated["report"]["units"] if u["name"] == "ResidualBlock")
    wm = unit["weight_map"]
    assert wm["bn1.weight"]["ms"] == "bn1.gamma"
    assert wm["bn1.running_var"]["ms"] == "bn1.moving_variance"
