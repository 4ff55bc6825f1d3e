"""A deep CNN with random weights blows activations up layer after layer when its BatchNorm
running statistics are the constants (mean 0, variance 1): float rounding alone then fails the
comparison. When the torch output shows that (values beyond 1e3), the torch side calibrates the
running statistics on the trial inputs (both sides get them with the weights), so the eval-mode
forward of a deep model verifies."""
from tests.support.one_file import migrate_one_file

DEEP = '''\
import torch.nn as nn


class Deep(nn.Module):
    def __init__(self, width=8, depth=30):
        super().__init__()
        layers = [nn.Conv2d(3, width, 3, padding=1)]
        for _ in range(depth):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 10)

    def forward(self, x):
        return self.head(self.body(x).mean(dim=(2, 3)))
'''


def test_deep_batchnorm_network_forward_verifies(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "deep.py", DEEP, shared_verifier)
    unit = report.units[0]
    forward = (unit.levels or {}).get("forward", {})
    assert forward.get("status") == "verified", (unit.status, unit.reason, unit.levels)
    assert unit.max_abs is not None and unit.max_abs < 1e-3


def test_calibration_batch_grows_within_its_budget_and_keeps_the_trial_inputs_last():
    from agent.verify.inputs import CALIBRATION_BATCH, CALIBRATION_ELEMENTS, calibration_inputs, make_arrays

    small = [{"shape": [2, 3, 16, 16], "dtype": "float32"}, {"value": 0.5}]
    runs = calibration_inputs(small, seed=1)
    assert [a[0].shape[0] for a in runs] == [CALIBRATION_BATCH, 2] and runs[0][1] == 0.5
    assert (runs[1][0] == make_arrays(small, 1, 0)[0]).all()  # the first trial's own inputs
    large = [{"shape": [2, 3, 224, 224], "dtype": "float32"}]
    assert calibration_inputs(large, seed=1)[0][0].shape[0] == CALIBRATION_ELEMENTS // (3 * 224 * 224)
    assert len(calibration_inputs([{"shape": [16], "dtype": "float32"}], seed=1)) == 1  # no batch axis


def test_a_model_refusing_the_calibration_batch_is_calibrated_on_the_trial_inputs():
    import torch

    from agent.verify.weights import calibrate_batchnorm

    class FixedBatch(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = torch.nn.BatchNorm1d(4)

        def forward(self, x):
            return self.bn(x.reshape(2, 4))  # only a batch of two

    m = FixedBatch().eval()
    trial = torch.randn(2, 4) * 3 + 5
    assert calibrate_batchnorm(m, [lambda: m(torch.randn(64, 4)), lambda: m(trial)]) == 1
    assert torch.allclose(m.bn.running_mean, trial.mean(0)) and not m.training
    assert torch.allclose(m.bn.running_var, trial.var(0))
