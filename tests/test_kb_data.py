"""The mapping KB as shipped: it loads, names are unique, targets exist in MindSpore, probes parse."""
import ast
import importlib
import json
from pathlib import Path

import pytest
import yaml

from agent.kb.schema import Entry
from agent.kb.store import kb_root, load_entries, load_kb

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "tools" / "kb_src"


@pytest.fixture(scope="module")
def entries() -> list[Entry]:
    return load_entries(kb_root())


def resolve(dotted: str):
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for p in parts[i:]:
            obj = getattr(obj, p)
        return obj
    raise ImportError(dotted)


def test_is_large_enough():
    # how fast it loads is a benchmark figure (benchmarks/kb_load.py), not a test
    load_kb.cache_clear()
    kb = load_kb()
    assert len(kb.entries) >= 900
    with_rules_and_probes = [e for e in kb.entries if e.targets and e.probe]
    assert len(with_rules_and_probes) >= 300


def test_names_are_unique_and_qualified(entries):
    seen: dict[str, str] = {}
    for e in entries:
        for n in e.names:
            assert n not in seen, f"{n} named by both {seen[n]} and {e.api}"
            assert n.startswith(("torch", "torchvision", "torchaudio", "torchtext", "einops", "timm")), n
            assert "." in n, n
            seen[n] = e.api
        if e.kind == "method":  # Tensor methods, and nn.Module methods for the structural rules
            assert e.api.startswith(("torch.Tensor.", "torch.nn.Module.")), e.api


def test_signatures_and_templates_parse(entries):
    for e in entries:
        if e.signature is not None:
            ast.parse(f"def f{e.signature}: pass")
        for t in e.targets:
            for template in [*t.values.values(), *t.defaults.values(), *t.defaults_from.values()]:
                ast.parse(template.replace("{v}", "v").replace("{", "").replace("}", ""), mode="eval")


def test_every_probe_parses(entries):
    for e in entries:
        if e.probe is None:
            continue
        ast.parse(e.probe.setup)
        assert e.probe.cases, e.api
        for case in e.probe.cases:
            ast.parse(case.code, mode="eval")
        if e.probe.call:
            ast.parse(e.probe.call, mode="eval")
        if e.kind == "class" and e.targets and not e.api.startswith("torch.optim."):
            assert e.probe.call, f"{e.api}: a class probe needs `call`"


def test_legacy_and_mint_targets_exist_in_mindspore(entries):
    pytest.importorskip("mindspore")
    missing = []
    for e in entries:
        for t in e.targets:
            if t.namespace in ("legacy", "mint"):
                try:
                    resolve(t.api)
                except (ImportError, AttributeError):
                    missing.append(f"{e.api} -> {t.api}")
    assert not missing, missing


def test_weight_transform_ids_are_documented(entries):
    readme = (kb_root() / "README.md").read_text()
    for e in entries:
        for t in e.targets:
            for tid in t.weight_transforms.values():
                assert f"`{tid}`" in readme, f"transform {tid} ({e.api}) missing from mapping_kb/README.md"


def test_seed_verdicts_are_marked_seed():
    data = json.loads((kb_root() / "verdicts" / "cpu.json").read_text())
    assert data["verdicts"]
    for api, per_target in data["verdicts"].items():
        for tapi, v in per_target.items():
            assert v["source"] in ("seed", "probe")
            assert v["status"] in ("matched", "differs", "raised", "untested")
    kb = load_kb()
    conv = kb.get("torch.nn.Conv2d")
    assert {t.api: t.verdicts["cpu"].status for t in conv.targets} == {
        "mindspore.nn.Conv2d": "matched", "builtins._MsPaddedConv2d": "matched", "mindspore.mint.nn.Conv2d": "raised"}
    assert kb.target_for(conv, "cpu").api == "mindspore.nn.Conv2d"


def test_generated_output_matches_curated_source():
    """mapping_kb/ was rebuilt after the last edit of tools/kb_src/."""
    kb = load_kb()
    for f in sorted(SRC.glob("*.yaml")):
        for raw in yaml.safe_load(f.read_text()):
            built = kb.get(raw["api"])
            assert built is not None and built.api == raw["api"], f"{raw['api']} from {f.name} not in mapping_kb"
            src = Entry(**raw)
            assert [t.api for t in built.targets] == [t.api for t in src.targets], raw["api"]
            for b, s in zip(built.targets, src.targets):
                assert {k: v for k, v in b.args.items() if k not in s.unsupported} == \
                    {k: v for k, v in s.args.items()}, raw["api"]
                assert (b.values, b.defaults, b.defaults_from, b.param_map) == \
                    (s.values, s.defaults, s.defaults_from, s.param_map), raw["api"]
            assert built.probe == src.probe, raw["api"]


def test_curated_rules_for_known_traps():
    kb = load_kb()
    bn = kb.target_for(kb.get("torch.nn.BatchNorm2d"), "cpu")
    assert bn.values["momentum"] == "1 - {v}" and bn.param_map["num_batches_tracked"] is None
    pool = kb.target_for(kb.get("torch.nn.MaxPool2d"), "cpu")
    assert pool.defaults_from == {"stride": "{kernel_size}"}
    conv1d = kb.target_for(kb.get("torch.nn.Conv1d"), "cpu")
    assert conv1d.weight_transforms == {"weight": "unsqueeze2"}
    add_ = kb.target_for(kb.get("torch.Tensor.add_"), "cpu")
    assert add_.assign_result and add_.api == "add"
    einsum = kb.target_for(kb.get("torch.einsum"), "cpu")  # ops/mint raised on CPU: the contraction helper
    assert einsum.namespace == "builtin" and "def _ms_einsum" in einsum.helper


def test_no_template_computes_a_value_argument_twice():
    """A template that repeats an argument placeholder evaluates that argument twice: a side effect in
    it (a BatchNorm in train mode, a random op) happens twice. Repeats are allowed only for arguments
    that are names or literals in practice (the tensor an init function fills, a pooling size)."""
    import re

    allowed = {"tensor", "kernel_size", "normalized_shape"}
    kb = load_kb()
    offenders = []
    for e in kb.entries:
        for t in e.targets:
            names = re.findall(r"\{(\w+)\}", t.template or "")
            offenders += [f"{e.api} -> {t.api}: {{{n}}}" for n in set(names) if names.count(n) > 1 and n not in allowed]
    assert not offenders, offenders
