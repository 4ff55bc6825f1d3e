"""Functions that take a model: `predict(model, x)`, `count_trainable(net)`, `weight_norms(model)`. A
parameter whose module methods the function calls (`net.parameters()`, `model.eval()`), or that is
named as a model, is given a stand-in: a Linear over the inputs' last axis with fixed weights, each side
building its own framework's layer (torch Linear, MindSpore Dense). Such functions were left
not-exercised ('Tensor' object has no attribute 'eval'). The rules also take an unannotated `model` /
`net` parameter for a module (`model.eval()` -> `set_train(mode=False)`), and drop the `model = model`
a removed device move leaves. Real torch and MindSpore on the shared worker."""
from agent.kb.store import load_kb
from agent.rules.engine import translate_source
from agent.verify import usage
from tests.support.one_file import assert_verified, load_source, migrate_one_file

SOURCE = '''\
import numpy as np
import torch
import torch.nn as nn


def count_trainable(net: nn.Module) -> int:
    return int(sum(np.prod(p.size()) for p in net.parameters() if p.requires_grad))


def predict(model, x, device="cpu"):
    model = model.to(device)
    model.eval()
    with torch.no_grad():
        out = model(x.to(device))
    return out.softmax(dim=-1)


def weight_norms(layer):
    layer.train()
    return torch.stack([p.norm() for p in layer.parameters()])
'''


def test_functions_taking_a_model_verify_with_a_stand_in(tmp_path, shared_verifier):
    report, text = migrate_one_file(tmp_path, "util.py", SOURCE, shared_verifier)
    units = assert_verified(report, ["count_trainable", "predict", "weight_norms"], level=None)
    assert units["predict"].spec["inputs"][0][0]["value"]["features"] == 8, units["predict"].spec
    assert "model.set_train(mode=False)" in text and "model = model" not in text, text


def test_a_parameter_whose_module_methods_are_called_is_a_model(tmp_path):
    module = load_source(tmp_path, "util.py", SOURCE)
    assert usage.parameter_kinds(module.weight_norms) == {"layer": usage.MODULE}
    assert usage.parameter_kinds(module.count_trainable) == {"net": usage.MODULE}
    out = translate_source("import torch\n\n\ndef f(model, data):\n    model = model.cuda()\n"
                           "    model.eval()\n    data.eval()\n    return model(data)\n", load_kb(), "cpu").code
    assert "model.set_train(mode=False)" in out and "data.eval()" in out and "model = model" not in out, out


DISTILLED = '''\
import copy

import torch
import torch.nn as nn


class Distilled(nn.Module):
    """A student trained against a frozen teacher's softened outputs."""

    def __init__(self, model, temperature=2.0):
        super().__init__()
        self.teacher = copy.deepcopy(model).eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.student = nn.Linear(8, 8)
        self.temperature = temperature

    def forward(self, x):
        soft = (self.teacher(x) / self.temperature).softmax(dim=-1)
        return self.student(x) * soft
'''


def test_a_wrapper_given_a_model_gets_the_stand_in(tmp_path, shared_verifier):
    report, text = migrate_one_file(tmp_path, "distill.py", DISTILLED, shared_verifier)
    units = assert_verified(report, ["Distilled"])
    assert units["Distilled"].spec["init"] == "Distilled(model=__msagent_linear__(8))", units["Distilled"].spec
    assert "copy.deepcopy(model).set_train(mode=False)" in text, text


def test_a_function_returning_the_model_it_was_given_checks_nothing(tmp_path, shared_verifier):
    # torch gives back its Linear, MindSpore its Dense: the same kind of thing, holding no value to compare
    source = ("import torch.nn as nn\n\n\ndef pick(normalization, **kwargs):\n"
              "    assert isinstance(normalization, nn.Module)\n    return normalization\n")
    report, _ = migrate_one_file(tmp_path, "pick.py", source, shared_verifier)
    unit = report.units[0]
    assert unit.status == "not-exercised" and "no tensor or value" in unit.reason, (unit.status, unit.reason)
    assert unit.spec["inputs"][0][0]["value"]["features"] == 8, unit.spec
