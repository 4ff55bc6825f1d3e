"""The repair prompt, rendered from a real failure: a translation with one deliberate mistake is verified
in the worker (real torch, real MindSpore), and the prompt built from that result must carry what a
model needs to fix it: the failure text, the first diverging submodule, and the KB entries.
"""
from __future__ import annotations

import importlib.util
import textwrap

import pytest

from agent.config import MigrateSettings
from agent.kb.store import load_kb
from agent.llm.settings import LLMSettings
from agent.pipeline import translate_repo
from agent.repair.classify import classify
from agent.repair.llm_repair import LLMRepair, needs_llm_reason
from agent.repair.loop import UnitRunner
from tests.support.kb_variants import kb_without

pytestmark = pytest.mark.skipif(not (importlib.util.find_spec("torch") and importlib.util.find_spec("mindspore")),
                                reason="needs torch and mindspore installed")

BLOCK = textwrap.dedent('''\
    import torch.nn as nn


    class Block(nn.Module):
        def __init__(self, dim=8):
            super().__init__()
            self.fc = nn.Linear(dim, dim)
            self.norm = nn.LayerNorm(dim)
            self.act = nn.Tanh()

        def forward(self, x):
            return self.act(self.norm(self.fc(x)))
''')

PAIR = textwrap.dedent('''\
    import torch


    def pairwise(x, y):
        return torch.einsum("bid,bjd->bij", x, y)
''')


@pytest.fixture
def runner(tmp_path, worker):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    (src / "block.py").write_text(BLOCK)
    (src / "pair.py").write_text(PAIR)
    # An endpoint nobody listens on: these tests render prompts and never send one.
    settings = MigrateSettings(llm=LLMSettings(base_url="http://127.0.0.1:9/v1", model="unused"))
    kb = load_kb(str(kb_without(tmp_path, "torch.einsum", "builtin")))  # einsum left with no CPU target
    translated = translate_repo(src, out, kb, settings)
    r = UnitRunner(src, out, kb, settings, translated, verifier=worker)
    yield r
    r.close()


def unit_named(runner, name):
    return next(u for u in runner.translated.units if u.name == name)


def test_repair_prompt_from_a_wrong_layernorm_epsilon(runner):
    good = runner.translated.outputs["block.py"]
    assert "epsilon=1e-5" in good
    # The classic slip: MindSpore's LayerNorm epsilon left at a value torch does not use.
    runner._apply({"block.py": good.replace("epsilon=1e-5", "epsilon=1e-1")})
    unit = unit_named(runner, "Block")
    result = runner.verify(unit)
    assert result["status"] == "failed" and result["failure"] == "value"
    assert result["divergence"]["path"] == "norm"

    report = classify(result, unit, runner.translated.sources["block.py"], runner.kb, "cpu")
    assert report.divergence["torch_api"] == "torch.nn.LayerNorm"
    assert report.torch_apis[0] == "torch.nn.LayerNorm"  # the diverging layer leads the KB context

    messages = LLMRepair(runner.workspace).messages(unit, result, runner.translated.outputs["block.py"])
    system, user = messages[0]["content"], messages[1]["content"]
    assert "torch" in system and "construct" in system
    assert "Failure kind: value" in user
    assert result["reason"].split(":")[0] in user  # the verifier's own words ("seed 0, inputs ...")
    assert "- path: norm" in user and "- class: LayerNorm" in user
    assert "- PyTorch API: torch.nn.LayerNorm" in user
    assert "_MsLayerNorm" in user  # the mapping the draft uses: the KB entry's helper over mindspore.nn.LayerNorm
    assert "torch.nn.LayerNorm(" in user  # the KB entry, written with its signature
    assert "epsilon=1e-1" in user  # the draft to repair
    assert "nn.LayerNorm(dim)" in user  # the torch original
    assert "max abs error" in user


def test_draft_prompt_for_a_file_the_rules_left_in_torch(runner):
    """pairwise() uses torch.einsum, which (in this KB, without its helper target) has no CPU mapping: the file keeps a marked, unbound torch reference
    (torch is not imported), so running it fails with a NameError and the unit needs a draft."""
    unit = unit_named(runner, "pairwise")
    draft = runner.translated.outputs["pair.py"]
    assert "import torch" not in draft and "torch.einsum(" in draft
    result = runner.verify(unit)
    assert result["status"] == "failed" and "NameError: name 'torch'" in result["reason"]
    assert "left unconverted" in needs_llm_reason(result)

    user = LLMRepair(runner.workspace).messages(unit, result, draft)[1]["content"]
    assert "could not translate all of `pairwise`" in user
    assert "torch.einsum" in user and "no mapping verified on this device for torch.einsum" in user
    assert "matmul" in user  # the einsum entry's note: how to rewrite it on CPU
