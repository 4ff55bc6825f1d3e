"""The prompt templates render with every variable they need and refuse to render without one."""
from __future__ import annotations

import jinja2
import pytest

from agent.kb.schema import Entry, Target, Verdict
from agent.llm.extract import extract_python_block
from agent.llm.prompts import chat, describe_kb_entry, prompts_root, render

TORCH_SRC = "import torch.nn as nn\n\nclass Net(nn.Module):\n    def forward(self, x):\n        return x.relu()\n"
DRAFT_SRC = "import mindspore.nn as nn\n\nclass Net(nn.Cell):\n    def construct(self, x):\n        return x\n"

DIVERGENCE = {"path": "block.bn1", "class": "BatchNorm2d", "torch_api": "torch.nn.BatchNorm2d",
              "mapping": "mindspore.nn.BatchNorm2d(momentum=0.9)"}

VARIABLES = {
    "repair_module": dict(
        unit_name="Net", device="cpu", torch_source=TORCH_SRC, draft_source=DRAFT_SRC,
        failure={"kind": "value", "message": "max_abs 0.31 at output 0", "divergence": DIVERGENCE},
        kb_entries=["torch.nn.BatchNorm2d -> mindspore.nn.BatchNorm2d: momentum is 1 - m"],
    ),
    "draft_module": dict(
        unit_name="Net", device="gpu", torch_source=TORCH_SRC,
        markers=["line 5: torch.fft.rfft2 has no KB entry"], kb_entries=[],
    ),
    "propose_spec": dict(unit_name="Net", unit_kind="module", torch_source=TORCH_SRC,
                         tried=["Net(3): forward raised 'expected 4D input'"]),
}


def test_prompts_are_found_in_the_checkout():
    assert (prompts_root() / "system.j2").is_file()


@pytest.mark.parametrize("name", sorted(VARIABLES))
def test_templates_render_with_all_variables(name):
    text = render(name, **VARIABLES[name])
    assert "Net" in text and TORCH_SRC.strip() in text
    assert "{{" not in text and "{%" not in text
    # the source shown to the model is itself a fenced block the extractor can read back
    assert "class Net" in extract_python_block(text) or name == "propose_spec"


def test_repair_prompt_carries_the_failure():
    text = render("repair_module.j2", **VARIABLES["repair_module"])
    for part in ("block.bn1", "BatchNorm2d", "mindspore.nn.BatchNorm2d(momentum=0.9)", "max_abs 0.31",
                 "momentum is 1 - m", "WHOLE", "in-place"):
        assert part in text, part
    no_div = dict(VARIABLES["repair_module"], failure={"kind": "missing-kernel", "message": "m", "divergence": None},
                  device="ascend")
    text = render("repair_module", **no_div)
    assert "could not be narrowed" in text and "no kernel on ascend" in text and "in-place" not in text


def test_propose_spec_for_a_function_asks_for_null_init():
    text = render("propose_spec", **dict(VARIABLES["propose_spec"], unit_kind="function", tried=[]))
    assert '"init": null' in text and "Already tried" not in text


@pytest.mark.parametrize("name", sorted(VARIABLES))
def test_templates_refuse_a_missing_variable(name):
    for missing in VARIABLES[name]:
        partial = {k: v for k, v in VARIABLES[name].items() if k != missing}
        with pytest.raises(jinja2.UndefinedError):
            render(name, **partial)


def test_missing_divergence_key_is_an_error():
    failure = {"kind": "value", "message": "m"}
    with pytest.raises(jinja2.UndefinedError):
        render("repair_module", **dict(VARIABLES["repair_module"], failure=failure))


def test_chat_pairs_system_and_task():
    messages = chat("draft_module", **VARIABLES["draft_module"])
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "torch" in messages[0]["content"] and "torch.fft.rfft2" in messages[1]["content"]


def test_describe_kb_entry_is_readable():
    entry = Entry(
        api="torch.nn.BatchNorm2d", kind="class", signature="(num_features, eps=1e-05, momentum=0.1)",
        targets=[Target(namespace="legacy", api="mindspore.nn.BatchNorm2d", values={"momentum": "1 - {v}"},
                        verdicts={"cpu": Verdict(status="matched")}),
                 Target(namespace="mint", api="mindspore.mint.nn.BatchNorm2d",
                        verdicts={"cpu": Verdict(status="raised", detail="kernel unregistered")})],
    )
    text = describe_kb_entry(entry, "cpu")
    assert text.splitlines()[0] == "torch.nn.BatchNorm2d(num_features, eps=1e-05, momentum=0.1)"
    assert "mindspore.nn.BatchNorm2d [legacy; matched on cpu]" in text
    assert "momentum: 1 - {v}" in text and "observed: kernel unregistered" in text
    assert "untested on gpu" in describe_kb_entry(entry, "gpu")
