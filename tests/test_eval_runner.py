"""The eval harness runs for real: `msagent eval --json --case X` on three small cases of the
corpus (real migration, real worker with torch and MindSpore), scored against case.toml.

Kept small (three cases, one warm worker) so it runs in the normal suite and the harness
cannot rot; the full corpus is `make eval`. The Ray test is marked slow.
"""
from __future__ import annotations

import copy
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from agent.evals.run import evaluate, main
from agent.evals.score import SUMMARY_FIELDS, find_cases, load_case, mis_converts, score_case, unit_key
from agent.evals.table import compare_runs, print_table, render_markdown
from agent.report.schema import STATUSES, Report, UnitRecord

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "evals" / "cases"
# Small and quick: one CNN, one repo with trap lines (user methods named like tensor methods), one MLP.
PICKED = ["lenet_cnn", "trap_user_methods", "mlp_classifier"]


@pytest.fixture(scope="module")
def eval_run() -> tuple[int, dict]:
    cmd = [sys.executable, "-m", "agent.cli.main", "eval", str(CASES), "--json"]
    for name in PICKED:
        cmd += ["--case", name]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)  # stdout is exactly one JSON document


def test_json_has_one_scored_record_per_case(eval_run):
    _, doc = eval_run
    assert [c["name"] for c in doc["cases"]] == PICKED
    for c in doc["cases"]:
        spec = tomllib.loads((CASES / c["name"] / "case.toml").read_text())
        assert c["category"] == spec["category"] and c["difficulty"] == spec["difficulty"]
        assert set(SUMMARY_FIELDS) <= c.keys()
        assert c["expected_total"] == len(spec["expect"]["verify"])
        assert [e["unit"] for e in c["expected"]] == spec["expect"]["verify"]
        assert c["expected_verified"] == sum(e["status"].startswith("verified") for e in c["expected"])
        assert c["trap_lines"] == len(spec["expect"].get("unchanged", []))
        assert c["mis_converts"] == len(c["mis_convert_lines"])
        assert not c["errors"], c["errors"]
        assert c["files"] > 0 and c["api_calls"] > 0 and c["units"] > 0 and c["seconds"] > 0
        for e in c["expected"]:
            assert e["status"] in (*STATUSES, "absent")
            assert e["status"].startswith("verified") or e["reason"], e  # a failure always says why
        for f in c["failing"]:
            assert not f["status"].startswith("verified") and f["reason"]


def test_summary_sums_cases_and_recomputes_rates(eval_run):
    code, doc = eval_run
    s, cases = doc["summary"], doc["cases"]
    assert s["cases_total"] == 3
    for key in ("files", "api_calls", "api_converted", "api_marked", "units", "units_verified",
                "expected_verified", "expected_total", "mis_converts", "rounds", "llm_tokens"):
        assert s[key] == sum(c[key] for c in cases), key
    assert s["conversion_rate"] == round(s["api_converted"] / s["api_calls"], 4)
    assert s["verified_rate"] == round(s["units_verified"] / s["units"], 4)
    everything_passed = s["expected_verified"] == s["expected_total"] and s["mis_converts"] == 0
    assert code == (0 if everything_passed else 1)


def test_the_trap_case_keeps_its_trap_lines(eval_run):
    """The scorer really reads the migrated files: an unchanged trap line is not counted."""
    _, doc = eval_run
    trap = next(c for c in doc["cases"] if c["name"] == "trap_user_methods")
    assert trap["trap_lines"] > 0
    assert trap["mis_converts"] == 0, trap["mis_convert_lines"]


def test_table_and_markdown_show_every_case(eval_run, capsys):
    _, doc = eval_run
    print_table(doc)
    text = capsys.readouterr().out
    md = render_markdown(doc)
    for name in PICKED:
        assert name in text and name in md
    assert "easy" in text and "all (3)" in text


def test_compare_names_what_got_worse(eval_run):
    _, new = eval_run
    old = copy.deepcopy(new)
    lenet = next(c for c in old["cases"] if c["name"] == "lenet_cnn")
    lenet["mis_converts"] += 2  # the earlier run was worse on traps in this case
    old["cases"].append({**lenet, "name": "retired_case", "mis_converts": 5})
    same = compare_runs(new, new)
    assert same["verdict"] == "same" and not same["cases"]
    cmp = compare_runs(old, new)
    assert cmp["cases"]["lenet_cnn"]["changes"]["mis_converts"]["verdict"] == "better"
    assert cmp["only_in_old"] == ["retired_case"] and cmp["common_cases"] == 3
    now = new["summary"]["mis_converts"]
    assert cmp["summary"]["mis_converts"] == {"old": now + 2, "new": now, "verdict": "better"}  # retired_case left out
    back = compare_runs(new, old)
    assert back["cases"]["lenet_cnn"]["verdict"] == "worse" and back["added"] == ["retired_case"]


def test_unit_keys_follow_module_paths():
    assert unit_key("model.py", "Net") == "model.Net"
    assert unit_key("pkg/sub/layers.py", "Block") == "pkg.sub.layers.Block"
    assert unit_key("pkg/__init__.py", "f") == "pkg.f"


def _tiny_case(root: Path, name: str, trap: str) -> Path:
    case = root / name
    (case / "repo").mkdir(parents=True)
    (case / "repo" / "ops.py").write_text(
        "import torch\n\n\ndef double(x):\n    return torch.mul(x, 2)\n\n\n"
        f"def trap(table):\n{trap}\n")
    (case / "case.toml").write_text(
        'category = "misc"\ndifficulty = "easy"\ndescription = "tiny"\n\n[expect]\nverify = ["ops.double"]\n\n'
        f'[[expect.unchanged]]\nfile = "ops.py"\nline = {json.dumps(trap)}\n')
    return case


def test_mis_convert_is_a_trap_line_missing_from_the_output(tmp_path):
    case = load_case(_tiny_case(tmp_path, "tiny", "    return table.view('a')"))
    out = tmp_path / "out"
    out.mkdir()
    (out / "ops.py").write_text((case.repo / "ops.py").read_text())
    assert mis_converts(case, out) == []
    (out / "ops.py").write_text((case.repo / "ops.py").read_text().replace("table.view('a')", "table.reshape('a')"))
    assert [m["why"] for m in mis_converts(case, out)] == ["line rewritten"]
    (out / "ops.py").unlink()
    assert [m["why"] for m in mis_converts(case, out)] == ["file missing from the output"]
    report = {"summary": {k: 0 for k in SUMMARY_FIELDS}, "units": [], "files": [], "errors": []}
    scored = score_case(case, report, out, 1.0)
    assert scored["expected"] == [{"unit": "ops.double", "status": "absent",
                                   "reason": "the unit was not found in the report", "level_reached": None,
                                   "level_failed": None}]


def test_missing_dependency_counts_only_when_reported_as_not_exercised(tmp_path):
    case_dir = _tiny_case(tmp_path, "dep", "    return table.view('a')")
    with (case_dir / "case.toml").open("a") as fh:
        fh.write('\n[[expect.missing]]\nunit = "ops.backbone"\ndependency = "torchvision"\n')
    case = load_case(case_dir)

    def scored(status: str, reason: str) -> dict:
        report = Report(units=[UnitRecord(file="ops.py", name="double", kind="function", status="verified-by-rules"),
                               UnitRecord(file="ops.py", name="backbone", kind="module", status=status,
                                          reason=reason)]).finish(1.0)
        return score_case(case, report.model_dump(), case.repo, 1.0)

    good = scored("not-exercised", "needs torchvision, which is not installed")
    assert good["missing_reported"] == 1 and good["expected_verified"] == 1 and good["mis_converts"] == 0
    assert scored("failed", "import failed: No module named 'torchvision'")["missing_reported"] == 0
    assert scored("not-exercised", "no inputs found")["missing_reported"] == 0


def test_a_broken_case_is_recorded_and_the_run_goes_on(tmp_path):
    _tiny_case(tmp_path, "a_good", "    return table.view('a')")
    _tiny_case(tmp_path, "b_broken", "    return table.view('b')")
    cases = find_cases(tmp_path)
    (tmp_path / "b_broken" / "repo" / "ops.py").unlink()
    (tmp_path / "b_broken" / "repo").rmdir()  # gone after loading: migrate refuses the missing source
    doc = evaluate(cases, out=tmp_path / "out")
    good, broken = doc["cases"]
    assert not good["errors"] and good["files"] == 1 and good["mis_converts"] == 0
    assert (tmp_path / "out" / "a_good" / "msagent-report.json").is_file()  # --out keeps the trees
    assert broken["errors"] and "no such directory" in broken["errors"][0]
    assert doc["summary"]["cases_total"] == 2 and doc["summary"]["cases_with_errors"] == 1


def test_usage_errors_exit_2(tmp_path, capsys):
    assert main(CASES, only=["no_such_case"]) == 2
    (tmp_path / "old.json").write_text("{not json")
    assert main(CASES, only=["lenet_cnn"], compare=tmp_path / "old.json") == 2
    assert "no such case" in capsys.readouterr().err


@pytest.mark.slow
def test_ray_run_matches_the_local_run(eval_run):
    pytest.importorskip("ray")
    from agent.evals.distributed import run_ray

    _, local = eval_run
    picked = PICKED[:2]
    results = run_ray([load_case(CASES / n) for n in picked], "local", jobs=2, quiet=True)
    keys = ("files", "api_calls", "api_converted", "units", "units_verified", "expected", "mis_converts",
            "mis_convert_lines", "errors")
    for remote, name in zip(results, picked):
        here = next(c for c in local["cases"] if c["name"] == name)
        assert {k: remote[k] for k in keys} == {k: here[k] for k in keys}
