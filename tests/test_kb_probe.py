"""KB probes executed for real: torch against the rules' MindSpore translation, one verdict per target.

Runs in the test process (torch and MindSpore imported here, as the worker would)."""
from pathlib import Path

import pytest
import yaml

from agent.probes.probe import run_entry

pytest.importorskip("mindspore")

MINT_CONV = [{
    "api": "torch.nn.Conv2d", "kind": "class",
    "signature": "(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,"
                 " padding_mode='zeros', device=None, dtype=None)",
    "targets": [
        {"namespace": "mint", "api": "mindspore.mint.nn.Conv2d", "args": {"device": None, "dtype": None}},
        {"namespace": "legacy", "api": "mindspore.nn.Conv2d",
         "args": {"groups": "group", "bias": "has_bias", "padding_mode": None, "device": None, "dtype": None},
         "defaults": {"pad_mode": "'pad'", "has_bias": "True"}},
        {"namespace": "legacy", "api": "mindspore.nn.Conv2d", "notes": "the naive rename: MindSpore defaults kept",
         "args": {"groups": "group", "bias": "has_bias", "padding_mode": None, "device": None, "dtype": None}},
    ],
    "probe": {"setup": "x = torch.randn(2, 3, 8, 8)", "call": "m(x)",
              "cases": [{"style": "positional", "code": "torch.nn.Conv2d(3, 4, 3, 1, 1)"},
                        {"style": "defaults", "code": "torch.nn.Conv2d(3, 4, 3)"}]},
}]

INPLACE = [{
    "api": "torch.Tensor.mul_", "kind": "method", "signature": "(other)",
    "targets": [
        {"namespace": "tensor", "api": "mul_", "notes": "same name: silently a no-op on CPU"},
        {"namespace": "tensor", "api": "mul", "assign_result": True},
    ],
    "probe": {"setup": "x = torch.randn(2, 3)\ny = torch.randn(2, 3)",
              "cases": [{"style": "positional", "code": "x.mul_(y)"}]},
}]


def kb_dir(tmp_path: Path, entries: list) -> str:
    (tmp_path / "entries.yaml").write_text(yaml.safe_dump(entries))
    return str(tmp_path)


def test_mint_layer_without_cpu_kernel_raises_and_legacy_matches(tmp_path):
    verdicts = run_entry("torch.nn.Conv2d", "cpu", kb_dir(tmp_path, MINT_CONV))
    assert verdicts["mindspore.mint.nn.Conv2d"]["status"] == "raised"
    assert "unregistered" in verdicts["mindspore.mint.nn.Conv2d"]["detail"]
    # the two legacy targets share an api name: the later one (naive) is the one recorded
    assert verdicts["mindspore.nn.Conv2d"]["status"] in ("differs", "raised")
    assert verdicts["mindspore.nn.Conv2d"]["ms_version"].startswith("2.")


def test_correct_legacy_conv_rule_matches(tmp_path):
    entries = [dict(MINT_CONV[0], targets=MINT_CONV[0]["targets"][1:2])]
    verdicts = run_entry("torch.nn.Conv2d", "cpu", kb_dir(tmp_path, entries))
    assert verdicts["mindspore.nn.Conv2d"]["status"] == "matched"


def test_inplace_trap_is_caught(tmp_path):
    verdicts = run_entry("torch.Tensor.mul_", "cpu", kb_dir(tmp_path, INPLACE))
    # `x.mul_(y)` kept as an in-place call leaves x unchanged on CPU (or raises): never "matched"
    assert verdicts["mul_"]["status"] != "matched"
    assert verdicts["mul"]["status"] == "matched"


STALE_SCATTER = [{
    "api": "torch.Tensor.scatter", "kind": "method", "signature": "(dim, index, src=None, *, value=None, reduce=None)",
    "targets": [{"namespace": "tensor", "api": "scatter", "notes": "same name: wrong after a call of another rank"}],
    "probe": {"setup": "x = torch.zeros(4, 10)\nidx = torch.tensor([[1, 2, 3], [0, 4, 9], [5, 6, 7], [8, 1, 0]])\n"
                       "c = torch.zeros(2, 3, 6)\n"
                       "j = torch.tensor([[[0, 1, 2], [3, 4, 5], [5, 0, 1]], [[2, 3, 4], [1, 0, 5], [4, 2, 0]]])",
              "cases": [{"style": "ranks", "code": "(c.scatter(-1, j, 1.0), x.scatter(-1, idx, 1.0))"}]},
}]


def test_a_kernel_that_goes_stale_across_ranks_is_caught(tmp_path):
    # MindSpore 2.10's Tensor.scatter on CPU, after running on a 3-D tensor, scatters a 2-D one wrongly;
    # the shipped KB maps scatter through ops.tensor_scatter_elements instead.
    verdicts = run_entry("torch.Tensor.scatter", "cpu", kb_dir(tmp_path, STALE_SCATTER))
    assert verdicts["scatter"]["status"] == "differs"
    shipped = run_entry("torch.Tensor.scatter", "cpu")
    assert [v["status"] for v in shipped.values()] == ["matched"]


FUSED_SOFTPLUS = [{
    "api": "torch.nn.functional.softplus", "kind": "function", "signature": "(input, beta=1, threshold=20)",
    "targets": [
        {"namespace": "mint", "api": "mindspore.mint.nn.functional.softplus", "notes": "fused: no CPU gradient kernel"},
        {"namespace": "legacy", "api": "mindspore.ops.softplus", "template": "_sp({input})",
         "helper": "def _sp(x):\n    return mindspore.ops.log1p(mindspore.ops.exp(-mindspore.ops.abs(x)))"
                   " + mindspore.ops.relu(x)\n"},
    ],
    "probe": {"setup": "x = torch.randn(2, 3)", "cases": [{"style": "defaults", "code": "torch.nn.functional.softplus(x)"}]},
}]


def test_gradient_probe_catches_a_missing_backward_kernel_and_the_choice_follows(tmp_path):
    from agent.kb.store import KB
    from agent.kb.schema import Entry, Verdict

    verdicts = run_entry("torch.nn.functional.softplus", "cpu", kb_dir(tmp_path, FUSED_SOFTPLUS))
    fused, composed = verdicts["mindspore.mint.nn.functional.softplus"], verdicts["mindspore.ops.softplus"]
    assert fused["status"] == "matched" and fused["grad"] == "raised", fused  # forward fine, backward missing
    assert composed["status"] == "matched" and composed["grad"] == "matched", composed
    entry = Entry(**FUSED_SOFTPLUS[0])
    for t in entry.targets:
        t.verdicts["cpu"] = Verdict(**verdicts[t.api])
    assert KB([entry]).target_for(entry, "cpu").api == "mindspore.ops.softplus"  # mint is preferred otherwise
