"""Module-level torch code that is not a model (backend switches, device selection, precision
settings, inference-mode decorators, `x.is_cuda`) must not break the translated file's import: a
file that does not import has no verified unit. Each line becomes its MindSpore counterpart or is
dropped with a comment, and the model in the same file verifies."""
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn

torch.backends.cudnn.benchmark = True
torch.backends.cuda.matmul.allow_tf32 = True
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
accel = "cuda" if torch.accelerator.is_available() else "cpu"
torch.set_float32_matmul_precision("high")


@torch.inference_mode()
def predict(model, x):
    return model(x)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        if x.is_cuda:
            x = x * 2
        return self.fc(x)
'''


def test_module_level_torch_code_does_not_break_the_import(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "train.py", SOURCE, shared_verifier)
    code = [line for line in out.splitlines() if not line.lstrip().startswith(("#", '"""'))]
    assert not [line for line in code if "torch" in line], code
    assert "# dropped by msagent: torch.backends.cudnn.benchmark = True" in out
    assert "@ms._no_grad()" in out
    units = {u.name: u for u in report.units}
    assert units["Net"].status == "verified-by-rules", units["Net"].reason
    assert not [m for f in report.files for m in f.markers], [f.markers for f in report.files]
