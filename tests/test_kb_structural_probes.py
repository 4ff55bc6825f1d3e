"""The structural entries the wild corpus uses most (base classes, containers, parameters, grad-mode
context managers, initialisers, torch.empty, the bare torch.nn namespace) are verified on CPU by a probe
of their own: the target picked for cpu carries a probe verdict `matched` in the packaged KB."""
from __future__ import annotations

import pytest

from agent.kb.store import load_kb

PROBED = {
    "torch.nn.Module": "mindspore.nn.Cell",
    "torch.nn.Sequential": "mindspore.nn.SequentialCell",
    "torch.nn.Parameter": "mindspore.Parameter",
    "torch.nn.parameter.Parameter": "mindspore.Parameter",
    "torch.nn.init.kaiming_uniform_": "mindspore.common.initializer.HeUniform",
    "torch.nn.init.kaiming_normal_": "mindspore.common.initializer.HeNormal",
    "torch.nn.init.normal_": "mindspore.common.initializer.Normal",
    "torch.no_grad": "mindspore._no_grad",
    "torch.enable_grad": "builtins._MsEnableGrad",
    "torch.autograd.Function": "builtins._MsFunction",
    "torch.autograd.function.Function": "builtins._MsFunction",
    "torch.empty": "mindspore.ops.zeros",
    "torch.nn": "mindspore.nn",
}


@pytest.fixture(scope="module")
def kb():
    return load_kb()


@pytest.mark.parametrize("api", sorted(PROBED))
def test_cpu_target_matched_by_its_probe(kb, api):
    entry = kb.get(api)
    assert entry is not None, api
    assert entry.probe is not None and entry.probe.cases, f"{api}: no probe"
    target = kb.target_for(entry, "cpu")
    assert target is not None and target.api == PROBED[api]
    verdict = target.verdicts.get("cpu")
    assert verdict is not None, f"{api}: no cpu verdict"
    assert (verdict.source, verdict.status) == ("probe", "matched"), f"{api}: {verdict}"


# where the probe also compares gradients (layers, the grad-mode managers, custom autograd functions),
# they agree too: no_grad's probe differentiates through a region it blocks, Function's through
# hand-written backwards that are not forward's derivative
@pytest.mark.parametrize("api", ["torch.nn.Module", "torch.nn.Sequential", "torch.nn.Parameter", "torch.no_grad",
                                 "torch.enable_grad", "torch.autograd.Function"])
def test_gradients_matched(kb, api):
    verdict = kb.target_for(kb.get(api), "cpu").verdicts["cpu"]
    assert verdict.grad == "matched", f"{api}: {verdict.grad} {verdict.grad_detail}"
