"""A train-mode level float32 cannot decide at the spec's batch is tried once more where it can.

Train-mode BatchNorm over a batch of two normalises by the spread of two numbers, and through a deep
network at initialisation its gradients grow with depth: float32 rounding then decides the comparison
(`precision`). The train level runs once more at batch 8 on fresh draws; the grad level of a model with
BatchNorm running statistics once more in eval mode. The reason says which; a wrong translation still
fails there, as a value. The fixture's train-mode path stands for that rounding with an iterated map
at batch two only. Real torch and real MindSpore on both sides."""
import numpy as np

TORCH = '''\
import torch
import torch.nn as nn


class TwoSampleNoise(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.bn = nn.BatchNorm1d(dim)

    def forward(self, x):
        h = self.fc(x)
        x = self.bn(h) + h
        if self.training and x.shape[0] <= 2:
            for _ in range(60):
                x = torch.sin(4.0 * x) * 0.9 + 0.05 * x.mean(-1, keepdim=True)
        return x
'''

MINDSPORE = '''\
import mindspore as ms
from mindspore import nn, ops


class TwoSampleNoise(nn.Cell):
    def __init__(self, dim=8):
        super().__init__()
        self.fc = nn.Dense(dim, dim)
        self.bn = nn.BatchNorm1d(dim, momentum={momentum})

    def construct(self, x):
        h = {fc}
        x = self.bn(h) + h
        if self.training and x.shape[0] <= 2:
            for _ in range(60):
                x = ops.sin(4.0 * x) * 0.9 + 0.05 * x.mean(-1, keep_dims=True)
        return x
'''

UNIT = {"file": "noise.py", "module": "noise", "name": "TwoSampleNoise", "kind": "module"}
SPECS = [{"unit": "TwoSampleNoise", "init": {}, "inputs": [[{"shape": [2, 8], "dtype": "float32"}]]}]


def _trees(tmp_path, momentum="0.9", fc="self.fc(x)"):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    (src / "noise.py").write_text(TORCH)
    (out / "noise.py").write_text(MINDSPORE.format(momentum=momentum, fc=fc))
    return str(src), str(out)


def test_train_and_grad_undecidable_at_batch_two_are_decided_at_batch_eight_and_in_eval_mode(tmp_path):
    from tests.support.verify import verify_unit

    r = verify_unit(*_trees(tmp_path), UNIT, specs=SPECS, seeds=(0,), level="grad")
    assert r["status"] == "verified", r["reason"]
    train, grad = r["levels"]["train"]["reason"], r["levels"]["grad"]["reason"]
    assert "at batch 8" in train and "at the spec's batch 2" in train, train
    assert "in eval mode" in grad and "could not decide" in grad, grad


def test_a_wrong_translation_still_fails_at_the_larger_batch(tmp_path):
    from tests.support.verify import verify_unit

    # the running statistics move at another rate: eval-mode forward passes (they start at 0 and 1)
    r = verify_unit(*_trees(tmp_path, momentum="0.5"), UNIT, specs=SPECS, seeds=(0,), level="train")
    assert r["status"] == "failed", r["reason"]
    train = r["levels"]["train"]
    assert train["failure"] == "value" and "at batch 8" in train["reason"], train


def test_a_wrong_gradient_still_fails_in_eval_mode(tmp_path):
    from tests.support.verify import verify_unit

    # the same values on every pass, but fc gets no gradient
    r = verify_unit(*_trees(tmp_path, fc="ops.stop_gradient(self.fc(x))"), UNIT, specs=SPECS, seeds=(0,),
                    level="grad")
    assert r["status"] == "failed", r["reason"]
    assert r["levels"]["train"]["status"] == "verified", r["levels"]["train"]
    grad = r["levels"]["grad"]
    assert grad["failure"] == "value" and "in eval mode" in grad["reason"] and "fc" in grad["reason"], grad


def test_larger_batch_grows_every_input_sharing_the_leading_dimension():
    from agent.verify.inputs import larger_batch, make_arrays

    size = [{"shape": [2, 8], "dtype": "float32"}, {"shape": [2, 8], "dtype": "int64", "high": 5},
            {"shape": [8], "dtype": "float32"}, {"shape": [3, 2], "dtype": "float32"}, {"value": 0.5}]
    bigger = larger_batch(size, 8)
    assert [x.get("shape") for x in bigger] == [[8, 8], [8, 8], [8], [3, 2], None]
    assert bigger[1]["high"] == 5 and bigger[4] == {"value": 0.5}
    a = make_arrays(bigger, 0, 0)[0]
    assert len({tuple(row) for row in np.round(a, 6)}) == 8  # fresh draws, not copies of the two rows
    assert larger_batch([{"shape": [16], "dtype": "float32"}], 8) is None  # no batch to grow
    assert larger_batch([{"shape": [8, 4], "dtype": "float32"}], 8) is None  # already that large
