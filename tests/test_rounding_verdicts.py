"""A comparison float32 rounding alone decides is named as such. When a value mismatch shows, the
torch side runs a float64 copy of the same model on the same inputs: if torch's own float32 output
misses that by more than the tolerance, the unit fails as `precision` (not as a wrong value, and no
repair is tried); a unit whose torch float32 output is well within the tolerance keeps its verdict.
Real torch and real MindSpore on both sides."""
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


RIPPLE_TORCH = '''\
import torch
import torch.nn as nn


class Ripple(nn.Module):
    """A tiny, fast ripple on a linear map: the forward pass barely feels it, but its gradient is a
    cosine of a large argument, whose float32 rounding alone moves fc1's gradient past the tolerance."""

    def __init__(self, dim=8, freq=3e5):
        super().__init__()
        self.fc1 = nn.Linear(dim, dim)
        self.fc2 = nn.Linear(dim, dim)
        self.freq = freq

    def forward(self, x):
        return self.fc2(x) + torch.sin(self.fc1(x) * self.freq) / self.freq
'''

RIPPLE_MS = '''\
import mindspore as ms
from mindspore import nn, ops


class Ripple(nn.Cell):
    def __init__(self, dim=8, freq=3e5):
        super().__init__()
        self.fc1 = nn.Dense(dim, dim)
        self.fc2 = nn.Dense(dim, dim)
        self.freq = freq

    def construct(self, x):
        return self.fc2(x) + ops.sin({inner} * self.freq) / self.freq
'''

RIPPLE = {"file": "ripple.py", "module": "ripple", "name": "Ripple", "kind": "module"}


def _ripple(tmp_path, inner: str):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    (src / "ripple.py").write_text(RIPPLE_TORCH)
    (out / "ripple.py").write_text(RIPPLE_MS.format(inner=inner))
    return str(src), str(out)


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
