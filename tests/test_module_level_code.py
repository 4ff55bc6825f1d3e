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
torch.autograd.set_detect_anomaly(True)
torch.set_printoptions(precision=4)
torch.set_num_threads(2)


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


BUFFERS = '''\
import torch
import torch.nn as nn


class Counter(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.register_buffer("calls", torch.tensor(0.0))
        self.register_buffer("mask", torch.ones(dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        self.calls += 1
        self.mask = (x.mean(0) > 0).float()
        return self.proj(x) * self.mask
'''


def test_a_store_into_a_registered_buffer_replaces_it_as_torch_does(tmp_path, shared_verifier):
    """`self.calls += 1` and `self.mask = new` on buffers the class registers: MindSpore's Cell refuses a
    tensor assigned to a buffer's name, so the store replaces the buffer through a helper; the
    translation runs and matches, and the train level compares the buffers after the pass."""
    report, text = migrate_one_file(tmp_path, "buffers.py", BUFFERS, shared_verifier)
    unit = next(u for u in report.units if u.name == "Counter")
    assert unit.status.startswith("verified"), (unit.status, unit.reason)
    assert unit.levels["train"]["status"] == "verified", unit.levels
    assert "_ms_set_buffer(self, 'calls', self.calls + 1)" in text, text


INIT_TABLE = '''\
import torch.nn as nn

INITS = dict(xavier=nn.init.xavier_uniform_, kaiming=nn.init.kaiming_normal_)


class Projection(nn.Module):
    def __init__(self, dim=8, init="kaiming"):
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        INITS[init](self.proj.weight, mode="fan_out")

    def forward(self, x):
        return self.proj(x)
'''


def test_an_initialiser_used_as_a_value_keeps_torchs_calling_convention(tmp_path, shared_verifier):
    """`INITS = dict(kaiming=nn.init.kaiming_normal_)` then `INITS[name](w, mode=...)`: the value is an adapter
    with torch's signature that initialises the tensor (MindSpore's initializer class alone would take the
    tensor for its own first argument); the module builds and verifies."""
    report, text = migrate_one_file(tmp_path, "inits.py", INIT_TABLE, shared_verifier)
    unit = next(u for u in report.units if u.name == "Projection")
    assert unit.status.startswith("verified"), (unit.status, unit.reason)
    assert "kaiming=_ms_kaiming_normal_" in text and "def _ms_kaiming_normal_(tensor" in text, text


EXITS = '''\
import torch
from torch import nn


def attach_head(model):
    if not hasattr(model, "fc"):
        print("unsupported model")
        exit(-1)
    model.fc = nn.Identity()
    return model


class Scale(nn.Module):
    def forward(self, x):
        return torch.tanh(x) * 2
'''


def test_an_original_that_exits_on_a_guessed_argument_is_not_exercised(tmp_path, shared_verifier):
    # `exit(-1)` when the guessed model lacks what the function expects: no spec ran on the torch side,
    # which leaves the unit not exercised (it was failed, as if the translation were wrong)
    report, _ = migrate_one_file(tmp_path, "heads.py", EXITS, shared_verifier)
    units = {u.name: u for u in report.units}
    assert units["attach_head"].status == "not-exercised" and "SystemExit" in units["attach_head"].reason
    assert units["Scale"].status == "verified-by-rules", units["Scale"].reason


BETWEEN_IMPORTS = '''\
import torch
torch.autograd.set_detect_anomaly(True)
import torch.nn as nn
import numpy as np


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x) * np.float32(2.0)
'''


def test_a_setting_between_the_imports_has_its_helper_above_it(tmp_path, shared_verifier):
    """NeRF's helpers file calls `torch.autograd.set_detect_anomaly(True)` between its imports: the helper that
    call became was defined after the last import, below its call, and the file did not import."""
    from tests.support.one_file import migrate_one_file

    report, text = migrate_one_file(tmp_path, "helpers.py", BETWEEN_IMPORTS, shared_verifier)
    (unit,) = report.units
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert text.index("def _ms_no_setting") < text.index("_ms_no_setting(True)")
