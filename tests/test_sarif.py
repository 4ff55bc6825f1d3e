"""`msagent migrate --sarif`: a SARIF 2.1.0 log that validates against the official schema
(tests/data/sarif-schema-2.1.0.json), with failed units and marked call sites at their lines
in the source repository and nothing for the units that verified."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import jsonschema
import pytest

from agent import __version__
from agent.report.sarif import build
from agent.report.schema import FileRecord, MarkerRecord, Report, UnitRecord

ROOT = Path(__file__).resolve().parents[1]
MSAGENT = ROOT / ".venv" / "bin" / "msagent"
SCHEMA = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))

GOOD = """\
import torch
from torch import nn


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x)
"""
# proj_size has no MindSpore nn.LSTM equivalent: the rules mark the call and leave it in torch, so
# building the cell fails (no LLM is configured to draft a replacement)
BAD = """\
import torch
from torch import nn


class Padded(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(3, 8, proj_size=2)

    def forward(self, x):
        return torch.relu(self.rnn(x)[0])
"""


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def validate(log: dict) -> None:
    cls = jsonschema.validators.validator_for(SCHEMA)  # the draft the schema's $schema names (draft-04)
    cls.check_schema(SCHEMA)
    cls(SCHEMA).validate(log)


def env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("MSAGENT_LLM")}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("sarif")
    src = base / "src"
    src.mkdir()
    (src / "good.py").write_text(GOOD)
    (src / "bad.py").write_text(BAD)
    sarif = base / "ci" / "results" / "msagent.sarif"  # missing folders are created
    proc = subprocess.run([str(MSAGENT), "migrate", str(src), "-o", str(base / "out"), "--sarif", str(sarif), "-q"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT, env=env())
    assert proc.returncode == 1, proc.stderr[-2000:]  # one unit failed
    return src, sarif, json.loads(sarif.read_text(encoding="utf-8"))


def results(log: dict, rule: str) -> list[dict]:
    return [r for r in log["runs"][0]["results"] if r["ruleId"] == rule]


def test_log_validates_against_the_official_schema(run):
    src, sarif, log = run
    validate(log)
    assert log["version"] == "2.1.0"
    assert os.listdir(sarif.parent) == ["msagent.sarif"]  # written through a temp file, none left behind
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "msagent" and driver["version"] == __version__
    ids = [rule["id"] for rule in driver["rules"]]
    for r in log["runs"][0]["results"]:
        assert ids[r["ruleIndex"]] == r["ruleId"]
    assert log["runs"][0]["originalUriBaseIds"]["SRCROOT"]["uri"] == src.resolve().as_uri() + "/"


def test_failed_unit_is_an_error_at_its_line_in_the_source(run):
    _, _, log = run
    [failed] = results(log, "unit-failed")
    assert failed["level"] == "error"
    where = failed["locations"][0]["physicalLocation"]
    assert where["artifactLocation"] == {"uri": "bad.py", "uriBaseId": "SRCROOT"}
    assert where["region"]["startLine"] == line_of(BAD, "class Padded")
    assert failed["message"]["text"].startswith("bad.py::Padded failed verification")


def test_marked_call_site_appears_with_its_line(run):
    _, _, log = run
    marked = results(log, "call-site-marked")
    conv = [r for r in marked if "proj_size" in r["message"]["text"]]
    assert len(conv) == 1 and conv[0]["level"] == "warning"
    where = conv[0]["locations"][0]["physicalLocation"]
    assert where["artifactLocation"] == {"uri": "bad.py", "uriBaseId": "SRCROOT"}
    assert where["region"]["startLine"] == line_of(BAD, "nn.LSTM(")


def test_verified_unit_gives_no_result(run):
    _, _, log = run
    text = json.dumps(log["runs"][0]["results"])
    assert "good.py" not in text and "Tiny" not in text


def test_unwritable_sarif_path_is_a_usage_error_after_the_reports(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.py").write_text(GOOD)
    taken = tmp_path / "taken"
    taken.mkdir()  # a folder where the file should go: os.replace cannot put a file there
    proc = subprocess.run([str(MSAGENT), "migrate", str(src), "-o", str(tmp_path / "out"), "--no-verify", "-q",
                           "--sarif", str(taken)], capture_output=True, text=True, timeout=300, cwd=ROOT, env=env())
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"msagent: cannot write the SARIF log {taken}")
    assert (tmp_path / "out" / "msagent-report.json").is_file() and list(taken.iterdir()) == []


NESTED = """\
from torch import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.GELU()

    def forward(self, x):
        return self.act(self.fc(x))


class Stack(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([Block() for _ in range(2)])

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x
"""


def test_localized_failure_points_at_the_diverging_layer(tmp_path, monkeypatch):
    """Built from a report: the layer path is followed through the repo's own classes; messages
    from user code are redacted and truncated; a marker without a usable line has no region."""
    monkeypatch.setenv("MSAGENT_TEST_TOKEN", "s3cr3t-value-0123")
    (tmp_path / "stack.py").write_text(NESTED)
    units = [
        UnitRecord(file="stack.py", name="Stack", kind="module", status="failed", failure="value",
                   reason="max abs 0.2 with s3cr3t-value-0123 " + "x" * 5000,
                   divergence={"path": "blocks.1.act", "torch_class": "GELU", "ms_class": "ReLU"}),
        UnitRecord(file="stack.py", name="Block", kind="module", status="not-exercised", reason="interrupted"),
        UnitRecord(file="stack.py", name="Gone", kind="function", status="failed", reason="no such def"),
    ]
    files = [FileRecord(path="stack.py", status="translated", markers=[MarkerRecord(line=0, reason="whole file")]),
             FileRecord(path="nb.ipynb", status="translated", markers=[MarkerRecord(line=3, reason="cell 2: x")])]
    log = build(Report(source=str(tmp_path), units=units, files=files, errors=["boom"]), tmp_path)
    validate(log)
    run_ = log["runs"][0]
    by_unit = {r.get("properties", {}).get("unit"): r for r in run_["results"]}
    stack = by_unit["stack.py::Stack"]
    assert stack["locations"][0]["physicalLocation"]["region"]["startLine"] == line_of(NESTED, "self.act =")
    text = stack["message"]["text"]
    assert "blocks.1.act (GELU in torch, ReLU in MindSpore)" in text
    assert "s3cr3t" not in text and "[redacted]" in text and len(text) <= 1000
    block = by_unit["stack.py::Block"]
    assert block["ruleId"] == "unit-unproven" and block["level"] == "warning"
    assert block["locations"][0]["physicalLocation"]["region"]["startLine"] == line_of(NESTED, "class Block")
    assert "region" not in by_unit["stack.py::Gone"]["locations"][0]["physicalLocation"]
    for r in results(log, "call-site-marked"):  # line 0, and a line inside a notebook cell: file only
        assert "region" not in r["locations"][0]["physicalLocation"]
    assert run_["invocations"][0]["executionSuccessful"] is False
