"""torch's in-place Tensor methods that have no curated entry (`sqrt_`, `rsqrt_`, `abs_`, `pow_`, ...) are
derived from the out-of-place entry with the result written back: MindSpore's in-place arithmetic does
nothing on CPU, so left alone they would compute silently wrong values. On a temporary the out-of-place
call alone is exact; a local name is rebound (the gradient of an op whose input was overwritten in place
raises in MindSpore), a buffer written in place."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn


class RmsScale(nn.Module):
    def __init__(self, dim=8, eps=1e-5):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.eps = eps
        self.register_buffer("seen", torch.zeros(()))

    def forward(self, x):
        y = self.fc(x)
        rms = y.square().mean(dim=-1, keepdim=True).add(self.eps).sqrt_()
        z = y.clone()
        z.abs_()
        z.pow_(0.5).neg_()
        self.seen.zero_().add_(z.detach().mean())
        return y / rms + z * self.seen
'''


def test_derived_in_place_entries_write_back(tmp_path, shared_verifier):
    from agent.kb.store import load_kb

    kb = load_kb()
    for method in ("sqrt_", "rsqrt_", "abs_", "pow_", "neg_", "clamp_min_"):
        entry = kb.get(f"torch.Tensor.{method}")
        assert entry is not None and all(t.assign_result for t in entry.targets), method
        assert kb.target_for(entry, "cpu").verdicts["cpu"].status == "matched", method
    assert kb.get("torch.Tensor.squeeze_") is None  # changes the receiver's shape: never derived


def test_in_place_methods_verify(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "rms.py", SOURCE, shared_verifier)
    assert not [m for f in report.files for m in f.markers], [f.markers for f in report.files]
    assert ".sqrt()" in out and "sqrt_" not in out
    assert "z = z.abs()" in out and "z = z.pow(0.5).neg()" in out
    assert "self.seen.copy_(self.seen.copy_(" in out
    assert_verified(report, ["RmsScale"])


def test_views_loop_variables_and_indexed_rows_keep_the_write():
    """A name that may be a view of another tensor (`a, b = x.chunk(2)`, `y = x.view(-1)`), a loop
    variable (an element of a container) are written into with copy_, an indexed row (`x[i].mul_(2)`)
    through item assignment, as torch writes through them; only a plain local the function owns is rebound."""
    from agent.kb.store import load_kb
    from agent.rules.engine import translate_source

    code = translate_source('''\
import torch


def f(x: torch.Tensor, w: torch.Tensor):
    a, b = x.chunk(2)
    a.mul_(2)
    y = x.view(-1)
    y.add_(1)
    for i in range(2):
        x[i].mul_(3)
    z = x.clone()
    z.add_(1)
    for t in [w]:
        t = t * 1
    return x, z
''', load_kb(), "cpu").code
    assert "a.copy_(a.mul(2))" in code and "y.copy_(y.add(1))" in code and "x[i] = x[i].mul(3)" in code
    assert "z = z.add(1)" in code


def test_tensors_held_elsewhere_keep_the_write():
    """`buf = self.running` (a buffer), `first = self.parts[0]` and `y = x.float()` (x itself when already
    float32) name tensors held elsewhere: the update must reach them, so they keep copy_; a tensor the
    function computes is rebound."""
    from agent.kb.store import load_kb
    from agent.rules.engine import translate_source

    code = translate_source('''\
import torch
import torch.nn as nn


class Tracker(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("running", torch.zeros(4))

    def forward(self, x):
        buf = self.running
        buf.mul_(0.9)
        y = x.float()
        y.mul_(2)
        fresh = x * 2
        fresh.clamp_(-1, 1)
        return fresh + buf
''', load_kb(), "cpu").code
    assert "buf.copy_(buf.mul(0.9))" in code and "y.copy_(y.mul(2))" in code, code
    assert "fresh = fresh.clamp(-1, 1)" in code, code


SLICES = '''\
import torch
import torch.nn as nn


class GatedSteps(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.fc = nn.Linear(dim, dim)

    def forward(self, x):
        h = self.fc(x)
        g = torch.sigmoid(h)
        out = h.clone()
        out[:, 0].add_(1.0)
        out[:, 1:].mul_(g[:, 1:])
        return out
'''


def test_in_place_writes_into_strided_slices_reach_the_tensor(tmp_path, shared_verifier):
    # MindSpore's copy_ into a strided slice does nothing on CPU: alone on its line, the write is an item
    # assignment, which reaches the tensor the slice came from
    report, out = migrate_one_file(tmp_path, "steps.py", SLICES, shared_verifier)
    assert "out[:, 0] = out[:, 0].add(1.0)" in out and "out[:, 1:] = out[:, 1:].mul(g[:, 1:])" in out, out
    assert_verified(report, ["GatedSteps"])
