"""The LLM repair loop end to end: real pipeline, real worker running torch and MindSpore, real openai
client against the scripted local server.

The repo holds one module that contracts with torch.einsum, which has no CPU kernel in MindSpore
2.10 under any namespace. The KB used here is the shipped one minus its einsum helper target (a
KB without that entry's CPU fallback) and its CPU verdicts for einsum (as if probed only on GPU), so the rules emit `ops.einsum`, verification fails on the
missing kernel, the KB alternative (`mint.einsum`) fails too, and only a rewrite with matmul fixes it.
"""
from __future__ import annotations

import importlib.util
import json
import textwrap
from pathlib import Path

import pytest

from agent.config import MigrateSettings
from agent.llm.settings import LLMSettings
from agent.pipeline import migrate
from agent.repair import learn
from agent.repair.llm_repair import CACHE_FILE
from tests.support.kb_variants import kb_without
from tests.support.openai_server import Reply, ScriptedOpenAI, Status

# Checked without importing: both frameworks load in the worker, never in the test process.
pytestmark = pytest.mark.skipif(not (importlib.util.find_spec("torch") and importlib.util.find_spec("mindspore")),
                                reason="needs torch and mindspore installed")

ROOT = Path(__file__).resolve().parents[1]

MIX = textwrap.dedent('''\
    import torch
    import torch.nn as nn


    class Mix(nn.Module):
        """Pairwise scores between the tokens of x and their projection."""

        def __init__(self, dim=8):
            super().__init__()
            self.proj = nn.Linear(dim, dim)

        def forward(self, x):
            y = self.proj(x)
            return torch.einsum("bid,bjd->bij", x, y)
''')

SPEC = textwrap.dedent('''\
    [verify."mix.Mix"]
    inputs = [[{shape = [2, 5, 8], dtype = "float32"}], [{shape = [1, 3, 8], dtype = "float32"}]]
''')


def draft(contraction: str) -> str:
    """A reply holding a whole MindSpore module whose forward ends in `contraction`."""
    return textwrap.dedent(f'''\
        Here is the corrected module.

        ```python
        from mindspore import nn, ops


        class Mix(nn.Cell):
            def __init__(self, dim=8):
                super().__init__()
                self.proj = nn.Dense(dim, dim)

            def construct(self, x):
                y = self.proj(x)
                return {contraction}
        ```
        ''')


# y @ x^T instead of x @ y^T: same shape, transposed scores, so verification reports a value mismatch.
WRONG = draft("ops.matmul(y, ops.transpose(x, (0, 2, 1)))")
RIGHT = draft("ops.matmul(x, ops.transpose(y, (0, 2, 1)))")


@pytest.fixture(scope="module")
def gpu_probed_kb(tmp_path_factory) -> Path:
    # without the shipped contraction helper, and with the CPU verdicts gone
    return kb_without(tmp_path_factory.mktemp("kb"), "torch.einsum", "builtin", drop_cpu_verdicts=True)


@pytest.fixture
def repo(tmp_path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "mix.py").write_text(MIX)
    (src / "msagent.toml").write_text(SPEC)
    return src


def settings(server: ScriptedOpenAI, kb: Path, **over) -> MigrateSettings:
    llm = LLMSettings(base_url=server.base_url, model="scripted", backoff_s=0.0, retry_after_cap_s=0.0,
                      **over.pop("llm", {}))
    return MigrateSettings(kb_root=str(kb), llm=llm, rounds=over.pop("rounds", 5), **over)


def unit_record(report, name="Mix"):
    return next(u for u in report.units if u.name == name)


def llm_repairs(record) -> list[dict]:
    return [r for r in record.repairs if r["by"] == "llm"]


def test_llm_repairs_einsum_over_two_rounds_and_a_rerun_costs_nothing(repo, tmp_path, gpu_probed_kb, worker):
    out = tmp_path / "out"
    with ScriptedOpenAI([Reply(WRONG, 300, 120), Reply(RIGHT, 400, 110)]) as server:
        report = migrate(repo, out, settings(server, gpu_probed_kb), verifier=worker)
        mix = unit_record(report)
        assert mix.status == "verified-after-repair", mix.model_dump()
        assert mix.max_abs is not None and mix.max_abs <= 1e-4
        # The rules' ops.einsum and the KB's mint alternative both fail on CPU before the LLM is asked.
        assert [r["by"] for r in mix.repairs][-2:] == ["llm", "llm"]
        first, second = llm_repairs(mix)
        assert first["status"] == "failed" and second["status"] == "verified"
        assert mix.rounds == len(mix.repairs)
        assert mix.llm_tokens == 300 + 120 + 400 + 110
        assert "ops.matmul(x, ops.transpose(y" in (out / "mix.py").read_text()

        # Round two shows the model its own wrong draft and the mismatch that draft produced.
        assert len(server.requests) == 2
        prompt = server.last_prompt()
        assert "ops.matmul(y, ops.transpose(x" in prompt
        assert "Failure kind: value" in prompt
        assert "torch.einsum" in prompt  # the KB entry of the API the unit calls
        saved = json.loads((out / "msagent-report.json").read_text())
        assert saved["units"][0]["llm_tokens"] == mix.llm_tokens
        assert (out / CACHE_FILE).is_file()

        # The same migration again: every reply comes from the cache, no HTTP request at all.
        again = migrate(repo, out, settings(server, gpu_probed_kb, fresh=True), verifier=worker)
        assert len(server.requests) == 2
        mix2 = unit_record(again)
        assert mix2.status == "verified-after-repair"
        assert mix2.rounds == mix.rounds
        assert mix2.llm_tokens == 0  # cached replies cost nothing

    # What the accepted draft taught: einsum became a composition, a pattern to read, not a KB mapping.
    candidates = learn.load_candidates(out / learn.CANDIDATES_FILE)
    (pattern,) = [c for c in candidates if c["entry"]["api"] == "torch.einsum"]
    assert pattern["kind"] == "pattern" and pattern["proven"]
    assert "mindspore.ops.matmul" in pattern["entry"]["notes"]
    result = learn.accept(out / learn.CANDIDATES_FILE, tmp_path / "kb")
    assert result.accepted == [] and "composition" in result.skipped[0][1]


def test_rate_limit_server_error_and_refused_replies(repo, tmp_path, gpu_probed_kb, worker):
    leaky = RIGHT.replace("from mindspore import nn, ops", "import torch\nfrom mindspore import nn, ops")
    script = [Status(429, retry_after=0), Reply("Use matmul with a transpose instead of einsum.", 50, 10),
              Status(500), Reply(leaky, 70, 30), Reply(RIGHT, 60, 20)]
    with ScriptedOpenAI(script) as server:
        report = migrate(repo, tmp_path / "out", settings(server, gpu_probed_kb), verifier=worker)
        mix = unit_record(report)
        assert mix.status == "verified-after-repair", mix.model_dump()
        no_code, uses_torch, fixed = llm_repairs(mix)
        assert "reply refused: no code block" in no_code["change"]
        assert "reply refused: the code uses torch" in uses_torch["change"] and "import torch" in uses_torch["change"]
        assert fixed["status"] == "verified"
        assert len(server.requests) == 5  # 429 and 500 were retried, each a request of its own
        # Each refusal is fed back, so the next round is a new request (not a cache hit of the last one).
        assert "previous answer was refused: the code uses torch" in server.last_prompt()
        assert mix.llm_tokens == 50 + 10 + 70 + 30 + 60 + 20


def test_unreachable_llm_counts_one_round_with_the_reason(repo, tmp_path, gpu_probed_kb, worker):
    with ScriptedOpenAI(default=Status(503)) as server:
        report = migrate(repo, tmp_path / "out", settings(server, gpu_probed_kb, llm={"max_retries": 1}),
                         verifier=worker)
        mix = unit_record(report)
        assert mix.status == "failed"
        (only,) = llm_repairs(mix)
        assert "no reply" in only["change"] and "503" in only["change"]
        assert len(server.requests) == 2  # the first try and one retry, then the repairer stops asking


GATE = textwrap.dedent('''\
    import torch.nn as nn


    class PairGate(nn.Module):
        def __init__(self, dim, groups):
            super().__init__()
            assert dim % groups == 0 and groups > 1
            self.groups = groups
            self.proj = nn.Linear(dim // groups, dim // groups)

        def forward(self, x, y):
            b = x.shape[0]
            xs = x.reshape(b, self.groups, -1)
            return self.proj(xs) * y.reshape(b, self.groups, -1).sigmoid()
''')

SPEC_REPLY = textwrap.dedent('''\
    ```json
    {"init": "PairGate(8, 2)",
     "inputs": [[{"shape": [2, 8], "dtype": "float32"}, {"shape": [2, 8], "dtype": "float32"}],
                [{"shape": [3, 8], "dtype": "float32"}, {"shape": [3, 8], "dtype": "float32"}]]}
    ```
''')


def test_llm_proposes_the_spec_no_default_could_find(tmp_path, worker):
    from agent.kb.store import load_kb
    from agent.pipeline import translate_repo
    from agent.repair.llm_repair import needs_llm_reason, propose_spec
    from agent.repair.loop import UnitRunner

    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    (src / "gate.py").write_text(GATE)
    with ScriptedOpenAI([Reply(SPEC_REPLY, 80, 40)]) as server:
        s = MigrateSettings(llm=LLMSettings(base_url=server.base_url, model="scripted", backoff_s=0.0))
        kb = load_kb()
        translated = translate_repo(src, out, kb, s)
        runner = UnitRunner(src, out, kb, s, translated, verifier=worker)
        (unit,) = translated.units
        first = runner.verify(unit)
        assert first["status"] == "not-exercised" and "no spec ran" in first["reason"]
        assert "needs a spec" in needs_llm_reason(first)

        spec = propose_spec(runner.workspace, unit, first)
        assert spec == {"source": "llm", "init": "PairGate(8, 2)",
                        "inputs": [[{"shape": [2, 8], "dtype": "float32"}] * 2, [{"shape": [3, 8], "dtype": "float32"}] * 2]}
        assert "mat1 and mat2 shapes cannot be multiplied" in server.last_prompt()  # what defaults tried
        # What the loop does with it: the spec goes first and the torch side decides whether it is valid.
        runner.specs[unit.key] = [spec, *runner.specs.get(unit.key, [])]
        second = runner.verify(unit)
        assert second["status"] == "verified", second["reason"]
        assert second["spec"]["source"] == "llm"


SILU = textwrap.dedent('''\
    import torch.nn as nn
    import torch.nn.functional as F


    class Swish(nn.Module):
        def forward(self, x):
            return F.silu(x, inplace=False)
''')

SILU_MS = textwrap.dedent('''\
    from mindspore import nn, ops


    class Swish(nn.Cell):
        def construct(self, x):
            return ops.silu(x)
''')


def test_a_proven_one_to_one_mapping_is_accepted_into_learned_yaml(tmp_path):
    from agent.kb.store import KB, load_entries
    from agent.scan.units import Unit

    unit = Unit("act.py", "act", "Swish", "module", 5)
    (cand,) = learn.candidates_from_draft(KB([]), "cpu", unit, SILU, SILU_MS)
    assert cand["kind"] == "new-entry" and not cand["proven"]
    entry = cand["entry"]
    assert entry["api"] == "torch.nn.functional.silu"
    assert entry["targets"] == [{"namespace": "legacy", "api": "mindspore.ops.silu",
                                 "notes": "learned from act.Swish (llm repair)"}]
    # The probe comes from the unit's own call: the keyword literal kept, the tensor replaced.
    assert entry["probe"]["cases"][0]["code"] == "torch.nn.functional.silu(t0, inplace=False)"

    path = learn.record_candidates(tmp_path / "out", [cand], evidence="act.Swish verified")
    kb_dir = tmp_path / "kb"
    kb_dir.mkdir()
    (kb_dir / "nn.yaml").write_text("- api: torch.nn.ReLU\n  kind: class\n")
    result = learn.accept(path, kb_dir)
    assert result.accepted == ["torch.nn.functional.silu"]
    learned = {e.api: e for e in load_entries(kb_dir)}
    assert learned["torch.nn.functional.silu"].targets[0].api == "mindspore.ops.silu"
    # Accepting the same file again adds nothing: the name is now taken.
    again = learn.accept(path, kb_dir)
    assert again.accepted == [] and "learned.yaml" in again.skipped[0][1]
