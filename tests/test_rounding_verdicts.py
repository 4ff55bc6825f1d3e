"""A comparison float32 rounding alone decides is named as such. When a value mismatch shows, the
torch side runs a float64 copy of the same model on the same inputs. When torch's own float32 result
misses it by more than an eighth of the tolerance, MindSpore's result is judged against that float64 run (the
tolerance plus four times torch's own error, per tensor); when torch's error is too large a part of a
tensor, the unit fails as `precision` (not as a wrong value, and no repair is tried); a unit whose torch
float32 output is well within the tolerance keeps its verdict. A later seed's trial after such a float64
run still runs that seed's own model. Real torch and real MindSpore on both sides."""
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn


class Chaotic(nn.Module):
    """An iterated map that amplifies every rounding difference (sin's last bit differs between
    libraries), so its float32 output says nothing about the translation's correctness."""

    def __init__(self, steps=60):
        super().__init__()
        self.steps = steps

    def forward(self, x):
        for _ in range(self.steps):
            x = torch.sin(3.0 * x) * 0.9 + 0.05 * x.mean(-1, keepdim=True)
        return x


class Smooth(nn.Module):
    def __init__(self, dim=16):
        super().__init__()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        return torch.sin(self.proj(x))
'''


def test_rounding_decided_comparison_fails_as_precision_and_others_verify(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "maps.py", SOURCE, shared_verifier)
    units = {u.name: u for u in report.units}
    chaotic, smooth = units["Chaotic"], units["Smooth"]
    assert chaotic.status == "failed", (chaotic.status, chaotic.reason)
    assert chaotic.failure == "precision", (chaotic.failure, chaotic.reason)
    assert "float32 rounding alone" in chaotic.reason and "float64" in chaotic.reason
    assert "LLM repair" not in chaotic.reason and not chaotic.repairs
    assert smooth.status == "verified-by-rules", (smooth.status, smooth.reason)


# Two linear maps and a fast oscillation: {name}'s output is `fc2(x) + <expr>`.
TWO_MAPS_TORCH = '''\
import torch
import torch.nn as nn


class {name}(nn.Module):
    def __init__(self, dim=8, freq={freq}):
        super().__init__()
        self.fc1 = nn.Linear(dim, dim)
        self.fc2 = nn.Linear(dim, dim)
        self.freq = freq

    def forward(self, x):
        return self.fc2(x) + {expr}
'''

TWO_MAPS_MS = '''\
import mindspore as ms
from mindspore import nn, ops


class {name}(nn.Cell):
    def __init__(self, dim=8, freq={freq}):
        super().__init__()
        self.fc1 = nn.Dense(dim, dim)
        self.fc2 = nn.Dense(dim, dim)
        self.freq = freq

    def construct(self, x):
        return self.fc2(x) + {expr}
'''


def _two_maps(tmp_path, name: str, freq: str, torch_expr: str, ms_expr: str):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    (src / f"{name.lower()}.py").write_text(TWO_MAPS_TORCH.format(name=name, freq=freq, expr=torch_expr))
    (out / f"{name.lower()}.py").write_text(TWO_MAPS_MS.format(name=name, freq=freq, expr=ms_expr))
    return str(src), str(out)


# Ripple: a tiny, fast ripple on a linear map: the forward pass barely feels it, but its gradient is a
# cosine of a large argument, whose float32 rounding alone moves fc1's gradient past the tolerance.
RIPPLE = {"file": "ripple.py", "module": "ripple", "name": "Ripple", "kind": "module"}


def _ripple(tmp_path, inner: str):
    return _two_maps(tmp_path, "Ripple", "3e5", "torch.sin(self.fc1(x) * self.freq) / self.freq",
                     f"ops.sin({inner} * self.freq) / self.freq")


def test_gradients_float32_cannot_decide_are_judged_against_torchs_float64_run(tmp_path):
    from tests.support.verify import verify_unit

    r = verify_unit(*_ripple(tmp_path, "self.fc1(x)"), RIPPLE, seeds=(0,), level="grad")
    assert r["status"] == "verified", r["reason"]
    grad = r["levels"]["grad"]["reason"]
    assert "judged against torch's float64 run" in grad and "fc1.weight" in grad, grad


def test_a_wrong_gradient_still_fails_when_judged_against_float64(tmp_path):
    from tests.support.verify import verify_unit

    # the forward pass is the same; fc1 gets no gradient at all
    r = verify_unit(*_ripple(tmp_path, "ops.stop_gradient(self.fc1(x))"), RIPPLE, seeds=(0,), level="grad")
    assert r["status"] == "failed", r["reason"]
    assert r["levels"]["forward"]["status"] == "verified"
    grad = r["levels"]["grad"]
    assert grad["status"] == "failed" and grad["failure"] == "value", grad
    assert "fc1" in grad["reason"], grad["reason"]


class _Wide:
    """The torch side's float64 twin of a grad reply, as a session answers it."""

    def __init__(self, reply, arrays):
        self.reply, self.arrays = reply, arrays

    def call(self, op, args, arrays):
        assert op == "grad" and args["float64"] is True
        return self.reply, self.arrays


def _judge(truth: dict, torch32: dict, ms32: dict):
    """levels._grads_against_float64 over named gradients (plain arrays: the judgment alone)."""
    import numpy as np

    from agent.verify.levels import LevelContext, LevelFailure, _grads_against_float64

    names = sorted(truth)

    def reply(grads):
        return ({"loss": 1.0, "grads": {n: i for i, n in enumerate(names)}, "input_grads": []},
                [np.asarray(grads[n], np.float32) for n in names])

    ctx = LevelContext(ref=_Wide(*reply(truth)), cand=None, seed=0, inputs=([], []),
                       plan={n: {"ms": n} for n in names}, weights=None, forward=None)
    first = LevelFailure("value", "gradient mismatch")
    return _grads_against_float64(ctx, first, *reply(torch32), *reply(ms32))


def test_a_tiny_noisy_gradient_within_its_tolerance_does_not_make_the_unit_undecidable():
    import numpy as np
    import pytest

    from agent.verify.levels import LevelFailure

    big = np.linspace(-0.3, 0.3, 50)
    tiny = np.full(10, 1e-3)
    truth = {"first.weight": big, "deep.weight": tiny}
    torch32 = {"first.weight": big + 0.002, "deep.weight": tiny + 6e-5}  # deep: 6% of its size, under 1e-4
    ms32 = {"first.weight": big - 0.003, "deep.weight": tiny - 5e-5}
    worst, checked, _, note = _judge(truth, torch32, ms32)
    assert checked == 2 and "judged against torch's float64 run" in note
    # the same MindSpore error on a gradient whose rounding noise is past its tolerance and 5% of it
    torch32["first.weight"] = big + 0.03
    with pytest.raises(LevelFailure) as undecided:
        _judge(truth, torch32, ms32)
    assert undecided.value.failure == "precision"
    # and a MindSpore gradient far from the float64 run beyond four times torch's rounding
    torch32["first.weight"] = big + 0.002
    ms32["first.weight"] = big + 0.05
    with pytest.raises(LevelFailure) as wrong:
        _judge(truth, torch32, ms32)
    assert wrong.value.failure == "value"


# Buzz: a fast ripple on the output itself: float32 rounding of fc1's output moves the ripple's phase, so
# torch's own float32 output misses its float64 run by about the tolerance (a small part of its size).
BUZZ = {"file": "buzz.py", "module": "buzz", "name": "Buzz", "kind": "module"}


def _buzz(tmp_path, amplitude: str):
    return _two_maps(tmp_path, "Buzz", "5e3", "torch.sin(self.fc1(x) * self.freq)",
                     f"{amplitude} * ops.sin(self.fc1(x) * self.freq)")


def test_outputs_float32_cannot_decide_are_judged_against_torchs_float64_run(tmp_path):
    from tests.support.verify import verify_unit

    r = verify_unit(*_buzz(tmp_path, "1.0"), BUZZ, seeds=(0, 1), level="train")
    assert r["status"] == "verified", r["reason"]
    assert any("judged against torch's float64 run" in n for n in r["notes"]), r["notes"]
    train = r["levels"]["train"]["reason"]
    assert "judged against torch's float64 run" in train, train


def test_a_wrong_output_still_fails_when_judged_against_float64(tmp_path):
    from tests.support.verify import verify_unit

    # a ripple 2% too strong: well within what rounding moves in float32-to-float32, far beyond it here
    r = verify_unit(*_buzz(tmp_path, "1.02"), BUZZ, seeds=(0, 1), level="forward")
    assert r["status"] == "failed", r["reason"]
    assert r["failure"] in ("value", "precision") and "float64" in r["reason"], (r["failure"], r["reason"])


def test_torch_rounding_between_an_eighth_and_half_the_tolerance_is_judged_against_float64():
    """Torch's own error at a third of the tolerance: four times it is more than half the tolerance, so a
    MindSpore result 1.2 tolerances from torch's float32 one (and within its allowance of the float64 run)
    is rounding; one 3 tolerances off the float64 run is not."""
    import numpy as np
    import pytest

    from agent.verify import rounding
    from agent.verify.compare import Mismatch

    node = {"t": "tensor", "i": 0, "dtype": "float32"}
    truth = np.linspace(-1.0, 1.0, 64)
    tol = 1e-4 + 1e-4 * np.abs(truth)
    torch32 = (truth + tol / 3).astype(np.float32)
    close_ms = (truth - 0.9 * tol).astype(np.float32)  # 1.2 tolerances from torch32
    cmp, note = rounding.judge(node, [truth], node, [torch32], node, [close_ms])
    assert "eighth" in note and cmp.max_abs > 0
    far_ms = (truth - 3 * tol).astype(np.float32)
    with pytest.raises(Mismatch):
        rounding.judge(node, [truth], node, [torch32], node, [far_ms])
    small = (truth + tol / 20).astype(np.float32)  # under an eighth: the float32 comparison stands
    assert rounding.judge(node, [truth], node, [small], node, [close_ms]) is None
