"""Repair without an LLM: a KB alternative alone turns a CPU failure into parity, through the real pipeline.

The KB is the shipped one with one stale verdict: it claims `mint.nn.functional.gelu` matched on
CPU (as a KB probed with another MindSpore build might), so the rules prefer it. MindSpore 2.10 has
no CPU kernel for it (GeluExt), verification fails, and the KB's legacy alternative `ops.gelu` is
what the repair loop must find.
"""
from __future__ import annotations

import importlib.util
import json
import shutil
import textwrap
from pathlib import Path

import pytest

from agent.config import MigrateSettings
from agent.kb.store import load_kb
from agent.pipeline import migrate
from agent.repair import learn
from agent.repair.classify import classify
from agent.repair.llm_repair import needs_llm_reason

pytestmark = pytest.mark.skipif(not (importlib.util.find_spec("torch") and importlib.util.find_spec("mindspore")),
                                reason="needs torch and mindspore installed")

ROOT = Path(__file__).resolve().parents[1]
GELU = "torch.nn.functional.gelu"
MINT_GELU = "mindspore.mint.nn.functional.gelu"

HEAD = textwrap.dedent('''\
    import torch.nn as nn
    import torch.nn.functional as F


    class Head(nn.Module):
        def __init__(self, dim=8):
            super().__init__()
            self.fc = nn.Linear(dim, dim)

        def forward(self, x):
            return F.gelu(self.fc(x))
''')


@pytest.fixture(scope="module")
def stale_kb(tmp_path_factory) -> Path:
    kb = tmp_path_factory.mktemp("kb") / "mapping_kb"
    shutil.copytree(ROOT / "mapping_kb", kb)
    cpu = kb / "verdicts" / "cpu.json"
    data = json.loads(cpu.read_text())
    data["verdicts"][GELU] = {MINT_GELU: {"status": "matched", "source": "probe", "detail": "max abs diff 0",
                                          "ms_version": "2.9.0"}}
    cpu.write_text(json.dumps(data))
    return kb


def test_kb_alternative_reaches_parity_without_an_llm(tmp_path, stale_kb, worker):
    src = tmp_path / "src"
    src.mkdir()
    (src / "head.py").write_text(HEAD)
    out = tmp_path / "out"
    report = migrate(src, out, MigrateSettings(kb_root=str(stale_kb), rounds=3), verifier=worker)
    (head,) = report.units
    assert head.status == "verified-after-repair", head.model_dump()
    assert head.rounds >= 1 and head.llm_tokens == 0
    assert all(r["by"] == "kb-alternative" for r in head.repairs)
    assert head.repairs[-1]["status"] == "verified"
    assert f"{GELU}: use mindspore.ops.gelu" in head.repairs[-1]["change"]
    assert head.max_abs is not None and head.max_abs <= 1e-4
    written = (out / "head.py").read_text()
    assert "ops.gelu" in written and "mint" not in written


def test_the_failure_report_names_the_api_whose_alternative_reaches_parity(tmp_path, stale_kb, worker):
    """What a repairer sees: the missing kernel, the unit's torch APIs, the gelu entry; its alternative fixes it."""
    from agent.pipeline import translate_repo
    from agent.repair.loop import UnitRunner
    from agent.repair.strategies import KBAlternatives

    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    (src / "head.py").write_text(HEAD)
    settings = MigrateSettings(kb_root=str(stale_kb))
    kb = load_kb(str(stale_kb))
    translated = translate_repo(src, out, kb, settings)
    assert "mint.nn.functional.gelu" in translated.outputs["head.py"]
    runner = UnitRunner(src, out, kb, settings, translated, verifier=worker)
    (unit,) = translated.units
    result = runner.verify(unit)
    assert result["status"] == "failed" and "GeluExt" in result["reason"]

    report = classify(result, unit, translated.sources["head.py"], kb, "cpu", draft=translated.outputs["head.py"])
    assert report.kind == "missing-kernel"
    assert "GeluExt" in report.message and "C++ Call Stack" not in report.message
    assert report.torch_apis[:2] == ["torch.nn.Linear", GELU]
    assert [e.api for e in report.kb_entries[:2]] == ["torch.nn.Linear", GELU]
    assert "LLM repair is needed" in needs_llm_reason(result)

    # The KB's own alternative for the API the report names: retranslate with it, verify for real.
    entry = report.kb_entries[1]
    current = kb.target_for(entry, "cpu")
    assert current.api == MINT_GELU  # the stale verdict made the rules prefer it
    (alt, *_) = kb.alternatives(entry, "cpu", exclude=current)
    assert alt.api == "mindspore.ops.gelu"
    files = KBAlternatives(runner.workspace)._retranslate({entry.api: alt})
    runner._apply(files)
    fixed = runner.verify(unit)
    assert fixed["status"] == "verified", fixed["reason"]
    assert fixed["max_abs"] <= 1e-4

    # Learning from it: the KB has the mapping, so the candidate is a verdict for `msagent kb verify`, no entry.
    cand = learn.candidate_from_alternative(entry, alt, unit, "cpu")
    path = learn.record_candidates(out, [cand], evidence=f"Head verified, max abs {fixed['max_abs']}")
    accepted = learn.accept(path, tmp_path / "kb")
    assert accepted.accepted == [] and "msagent kb verify" in accepted.skipped[0][1]
