"""Weight maps through the real KB: a layer whose children MindSpore names differently."""
import pytest

from agent.kb.store import load_kb
from agent.verify.weights import plan_weight_map

torch = pytest.importorskip("torch")
ms = pytest.importorskip("mindspore")


def test_enclosing_layer_renames_its_children():
    pt = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(16, 2, 32, 0.0, batch_first=True), 2)
    cell = ms.nn.TransformerEncoder(ms.nn.TransformerEncoderLayer(16, 2, 32, 0.0, batch_first=True), 2)
    plan = plan_weight_map(pt, cell, load_kb(), "cpu")
    assert plan["layers.1.linear1.weight"]["ms"] == "layers.1.dense1.weight"
    assert plan["layers.0.norm2.bias"]["ms"] == "layers.0.norm2.beta"
    assert plan["layers.0.self_attn.in_proj_weight"]["ms"] == "layers.0.self_attn.in_proj_weight"
    assert len({v["ms"] for v in plan.values()}) == len(list(cell.parameters_and_names()))
