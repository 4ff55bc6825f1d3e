"""Verification levels beyond forward: train-mode, gradients, one optimizer step, graph mode.

Hand-written MindSpore translations of a small module show each level's verdict; a migration whose
KB points torch.optim.Adam at mint.optim.Adam (which never moves the weights on CPU) shows the step
level catching it and the KB-alternative repair replacing it.
"""
import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("mindspore")

from agent.config import MigrateSettings  # noqa: E402
from agent.pipeline import migrate  # noqa: E402
from tests.support.verify import verify_unit  # noqa: E402
from agent.verify.levels import levels_for  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

TORCH_NET = '''
import torch
import torch.nn as nn


class TinyNet(nn.Module):
    def __init__(self, d_in=6, hidden=8, d_out=3):
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.bn = nn.BatchNorm1d(hidden)
        self.drop = nn.Dropout(0.5)
        self.fc2 = nn.Linear(hidden, d_out)

    def forward(self, x):
        return self.fc2(self.drop(torch.relu(self.bn(self.fc1(x)))))
'''

TORCH_FIT = '''

def fit(model, batches):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for x, y in batches:
        loss = ((model(x) - y) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
'''

MS_NET = '''
import mindspore as ms
from mindspore import nn, ops


class TinyNet(nn.Cell):
    def __init__(self, d_in=6, hidden=8, d_out=3):
        super().__init__()
        self.fc1 = nn.Dense(d_in, hidden)
        self.bn = nn.BatchNorm1d(hidden, momentum=0.9)
        self.drop = nn.Dropout(p=0.5)
        self.fc2 = nn.Dense(hidden, d_out)

    def construct(self, x):
        return self.fc2(self.drop(ops.relu(self.bn({inner}))))
'''


def _repo(tmp_path: Path, inner: str) -> tuple[Path, Path]:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    (src / "net.py").write_text(TORCH_NET)  # no optimizer in the repo: step checks SGD and Adam
    (out / "net.py").write_text(MS_NET.format(inner=inner))
    return src, out


UNIT = {"file": "net.py", "module": "net", "name": "TinyNet", "kind": "module"}


def test_levels_order():
    assert levels_for("forward") == ["forward"]
    assert levels_for("step") == ["forward", "train", "grad", "step"]
    with pytest.raises(ValueError):
        levels_for("backward")


def test_correct_translation_passes_every_level(tmp_path):
    src, out = _repo(tmp_path, "self.fc1(x)")
    r = verify_unit(str(src), str(out), UNIT, [], seeds=(0,), level="graph")
    assert r["status"] == "verified", r["reason"]
    assert r["level"] == "graph"
    assert {k: v["status"] for k, v in r["levels"].items()} == dict.fromkeys(levels_for("graph"), "verified")
    step = r["levels"]["step"]["reason"]
    assert "torch.optim.SGD -> mindspore.experimental.optim.SGD" in step and "torch.optim.Adam ->" in step
    assert "mint" not in step


def test_forward_match_with_blocked_gradient_fails_grad(tmp_path):
    # stop_gradient leaves the forward values untouched and cuts fc1 out of backpropagation
    src, out = _repo(tmp_path, "ops.stop_gradient(self.fc1(x))")
    r = verify_unit(str(src), str(out), UNIT, [], seeds=(0,), level="step")
    assert r["status"] == "failed"
    assert r["levels"]["forward"]["status"] == "verified"
    assert r["levels"]["train"]["status"] == "verified"
    assert r["levels"]["grad"]["status"] == "failed" and "fc1" in r["levels"]["grad"]["reason"]
    assert r["levels"]["step"]["status"] == "not-run"
    assert r["reason"].startswith("forward verified") and "grad failed" in r["reason"]


def _kb_preferring_mint(tmp_path: Path) -> Path:
    """The packaged KB with stale CPU verdicts that make mint.optim.Adam the choice for Adam."""
    kb = tmp_path / "kb"
    shutil.copytree(ROOT / "mapping_kb", kb)
    path = kb / "verdicts" / "cpu.json"
    data = json.loads(path.read_text())
    adam = data["verdicts"]["torch.optim.Adam"]
    for api in list(adam):
        adam[api] = {**adam[api], "source": "probe",
                     "status": "matched" if ".mint." in api else "raised", "detail": "stale verdict for the test"}
    path.write_text(json.dumps(data))
    return kb


def test_step_level_catches_mint_adam_and_the_kb_alternative_repairs_it(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "net.py").write_text(TORCH_NET + TORCH_FIT)
    out = tmp_path / "out"
    settings = MigrateSettings(level="step", seeds=[0], kb_root=str(_kb_preferring_mint(tmp_path)), rounds=3)
    report = migrate(src, out, settings)
    unit = next(u for u in report.units if u.name == "TinyNet")
    assert unit.level == "step"
    assert unit.status == "verified-after-repair", unit.reason
    first = unit.repairs[0]
    assert "torch.optim.Adam" in first["change"]
    text = (out / "net.py").read_text()
    assert "mint.optim" not in text and "value_and_grad" in text
    # the draft the rules wrote first used mint.optim.Adam and failed the step level
    from agent.kb.store import load_kb
    from agent.rules.engine import translate_source

    draft = translate_source(TORCH_NET + TORCH_FIT, load_kb(settings.kb_root), "cpu", module_classes={"TinyNet"}).code
    assert "mint.optim.Adam" in draft
    (tmp_path / "draft").mkdir()
    (tmp_path / "draft" / "net.py").write_text(draft)
    r = verify_unit(str(src), str(tmp_path / "draft"), UNIT, [], seeds=(0,), kb_root=settings.kb_root, level="step")
    assert r["status"] == "failed" and r["levels"]["forward"]["status"] == "verified"
    assert "mint.optim.Adam left every trainable parameter unchanged" in r["levels"]["step"]["reason"]
    assert r["divergence"] == {"torch_api": "torch.optim.Adam", "level": "step"}


def _verify_pair(tmp_path: Path, name: str, torch_text: str, ms_text: str, init: str) -> dict:
    """NAME (module `<name lower>`) written as TORCH_TEXT and its translation MS_TEXT, verified at grad."""
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir(parents=True)
    out.mkdir(parents=True)
    file = f"{name.lower()}.py"
    (src / file).write_text(torch_text)
    (out / file).write_text(ms_text)
    unit = {"file": file, "module": name.lower(), "name": name, "kind": "module"}
    return verify_unit(str(src), str(out), unit, [{"source": "user", "init": init, "inputs": None}],
                       seeds=(0,), level="grad")


def test_grad_level_feeds_copies_so_inplace_ops_on_the_input_run(tmp_path):
    # torch refuses an in-place op on a leaf that requires grad; in training the op meets an earlier
    # layer's output, so the grad level must not fail the torch original for it
    r = _verify_pair(tmp_path, "Act",
                     "import torch.nn as nn\n\n\nclass Act(nn.Module):\n    def __init__(self):\n"
                     "        super().__init__()\n        self.act = nn.ReLU(inplace=True)\n"
                     "        self.fc = nn.Linear(4, 3)\n\n    def forward(self, x):\n"
                     "        return self.fc(self.act(x))\n",
                     "from mindspore import nn, ops\n\n\nclass Act(nn.Cell):\n    def __init__(self):\n"
                     "        super().__init__()\n        self.fc = nn.Dense(4, 3)\n\n"
                     "    def construct(self, x):\n        return self.fc(ops.relu(x))\n", "Act()")
    assert r["status"] == "verified", r["reason"]
    assert r["levels"]["grad"]["status"] == "verified" and "input gradient" in r["levels"]["grad"]["reason"]


def test_a_torch_original_that_cannot_be_differentiated_leaves_grad_not_run(tmp_path):
    # the original reads its input through numpy, which torch refuses on a tensor that requires grad:
    # the grad level does not apply to it (not-run, saying why) while its forward stays verified
    original = ("import torch\nimport torch.nn as nn\n\n\nclass Scale(nn.Module):\n"
                "    def forward(self, x):\n        peak = float(x.abs().max().numpy())\n"
                "        return x / (peak + 1.0)\n")
    translated = ("from mindspore import nn\n\n\nclass Scale(nn.Cell):\n"
                  "    def construct(self, x):\n        peak = float(x.abs().max().asnumpy())\n"
                  "        return x / (peak + 1.0)\n")
    r = _verify_pair(tmp_path / "right", "Scale", original, translated, "Scale()")
    assert r["status"] == "verified", r["reason"]
    assert r["levels"]["train"]["status"] == "verified"
    grad = r["levels"]["grad"]
    assert grad["status"] == "not-run" and "the torch original raises when its inputs require gradients" in grad["reason"]
    assert "numpy" in grad["reason"]
    # a translation that is wrong in the forward still fails there
    r = _verify_pair(tmp_path / "wrong", "Scale", original, translated.replace("peak + 1.0", "peak + 2.0"), "Scale()")
    assert r["status"] == "failed" and r["levels"]["forward"]["status"] == "failed"


def test_a_torch_original_that_raises_in_train_mode_leaves_train_not_run(tmp_path):
    # eval mode passes the input through; train mode (a patch dropout's gather) needs a rank the spec's
    # input lacks: torch itself raises there, so the train level does not apply (not-run, saying why)
    original = ("import torch\nimport torch.nn as nn\n\n\nclass Drop(nn.Module):\n"
                "    def forward(self, x):\n        if not self.training:\n            return x * 2\n"
                "        return x.gather(1, torch.zeros(x.shape[0], 1, 1, dtype=torch.long))\n")
    translated = ("from mindspore import nn, ops\n\n\nclass Drop(nn.Cell):\n"
                  "    def construct(self, x):\n        if not self.training:\n            return x * 2\n"
                  "        return x.gather_elements(1, ops.zeros((x.shape[0], 1, 1), ms.int64))\n")
    r = _verify_pair(tmp_path, "Drop", original, translated, "Drop()")
    assert r["status"] == "verified", r["reason"]
    train = r["levels"]["train"]
    assert train["status"] == "not-run" and "the torch original raises in train mode" in train["reason"], train


SMALL_BRANCH = ("import torch\nimport torch.nn as nn\n\n\nclass SmallBranch(nn.Module):\n"
                "    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(8, 8)\n\n"
                "    def forward(self, x):\n        return x + 1e-5 * torch.tanh(self.fc(x)).cumsum(-1)\n")
MS_SMALL_BRANCH = ("from mindspore import nn, ops\n\n\nclass SmallBranch(nn.Cell):\n    def __init__(self):\n"
                   "        super().__init__()\n        self.fc = nn.Dense(8, 8)\n\n"
                   "    def construct(self, x):\n        return x + 1e-5 * {branch}\n")


@pytest.mark.parametrize("branch, verified", [("ops.cumsum(ops.tanh(self.fc(x)), -1)", True),
                                              ("ops.tanh(self.fc(x))", False)], ids=["right", "cumsum-lost"])
def test_a_wrong_branch_too_small_for_the_forward_tolerance_fails_its_gradients(tmp_path, branch, verified):
    # a residual around a small branch: the branch's error (~1e-5) hides under the forward tolerance and
    # under the gradients' absolute floor; its parameters' gradients are wrong by their whole size
    r = _verify_pair(tmp_path, "SmallBranch", SMALL_BRANCH, MS_SMALL_BRANCH.format(branch=branch), "SmallBranch()")
    assert r["levels"]["forward"]["status"] == "verified", r["reason"]
    if verified:
        assert r["status"] == "verified", r["reason"]
    else:
        assert r["status"] == "failed" and r["levels"]["grad"]["status"] == "failed", r["reason"]
        assert "gradient of fc." in r["reason"] and "relative L2 error" in r["reason"], r["reason"]


def test_gradients_at_float32_noise_are_held_to_the_absolute_bound_only():
    # a GroupNorm weight before a mean: its gradient is zero but for rounding (1e-9 beside 1e-2); the two
    # frameworks' rounding differs entirely, which no relative error may fail. A parameter whose gradient
    # is small (1e-7) but real is still held to the relative bound.
    import numpy as np

    from agent.verify.levels import LevelFailure, _compare_grads

    rng = np.random.default_rng(0)
    big = rng.normal(size=(8, 8)) * 1e-2
    plan = {"w": {"ms": "w"}, "gn": {"ms": "gn"}, "a": {"ms": "a"}}
    pt = {"loss": 1.0, "grads": {"w": 0, "gn": 1, "a": 2}, "input_grads": []}
    pa = [big, rng.normal(size=8) * 1e-9, rng.normal(size=8) * 1e-7]
    noise_only = [big, rng.normal(size=8) * 1e-9, pa[2] * (1 + 1e-4)]
    assert _compare_grads(plan, pt, pa, pt, noise_only)[1] == 3
    wrong_small = [big, pa[1], -pa[2]]
    with pytest.raises(LevelFailure, match="gradient of a: relative L2 error"):
        _compare_grads(plan, pt, pa, pt, wrong_small)
