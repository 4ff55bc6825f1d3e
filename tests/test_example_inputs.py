"""Benchmark-style files say how to run their model: `get_init_inputs()` for the constructor and
`get_inputs()` for the forward, from module-level size constants sized for a GPU. msagent uses them
(the repo's own values beat guesses) scaled down consistently: a batch of 2, large constants divided by
one power of two, derived constants (`bias_shape = (out_channels, 1, 1)`) recomputed. Real migrations
on the shared worker, compared on real torch and MindSpore."""
from agent.config import MigrateSettings
from agent.pipeline import migrate
from tests.support.one_file import migrate_one_file

FUSED = '''\
import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, bias_shape):
        super(Model, self).__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size)
        self.bias = nn.Parameter(torch.randn(bias_shape))

    def forward(self, x):
        return torch.relu(self.conv(x)) + self.bias


batch_size = 128
in_channels = 3
out_channels = 64
height, width = 32, 32
kernel_size = 3
bias_shape = (out_channels, 1, 1)


def get_inputs():
    return [torch.randn(batch_size, in_channels, height, width)]


def get_init_inputs():
    return [in_channels, out_channels, kernel_size, bias_shape]
'''

MATMUL = '''\
import torch
import torch.nn as nn


class Model(nn.Module):
    def forward(self, A, B, labels):
        return torch.nn.functional.cross_entropy(torch.matmul(A, B), labels)


M = 1024
K = 4096
N = 2048


def get_inputs():
    return [torch.randn(M, K), torch.randn(K, N), torch.randint(0, N, (M,))]


def get_init_inputs():
    return []
'''


def test_in_file_example_inputs_are_used_scaled_down(tmp_path, shared_verifier):
    src = tmp_path / "src"
    src.mkdir()
    (src / "fused.py").write_text(FUSED)
    (src / "matmul.py").write_text(MATMUL)
    report = migrate(src, tmp_path / "out", MigrateSettings(), verifier=shared_verifier)
    units = {u.file: u for u in report.units}
    fused, matmul = units["fused.py"], units["matmul.py"]
    for unit in (fused, matmul):
        assert unit.status == "verified-by-rules", (unit.file, unit.status, unit.reason)
        assert unit.spec["source"] == "file", unit.spec
    # the repo's channels and kernel; the bias shape recomputed from the scaled channel count
    init = fused.spec["init"]
    assert init.startswith("Model(3, ") and init.endswith(", 3, (%s, 1, 1))" % init.split(", ")[1]), init
    assert "batch_size 128 -> 2" in fused.spec["scaled"] and "in_channels" not in fused.spec["scaled"]
    first = fused.spec["inputs"][0][0]
    assert first["shape"][:2] == [2, 3] and first["shape"][1] == 3, first
    a, b, labels = matmul.spec["inputs"][0]
    assert a["shape"][1] == b["shape"][0] and a["shape"][0] == labels["shape"][0], matmul.spec
    assert a["shape"][0] * a["shape"][1] <= 1 << 15 and labels["dtype"] == "int64" and labels["low"] == 0
    assert labels["high"] <= b["shape"][1]  # labels drawn below the scaled class count


WIDE = '''\
import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.linear = nn.Linear(input_size, hidden_size)

    def forward(self, x):
        return torch.sigmoid(self.linear(x)).sum(dim=1, keepdim=True)


batch_size = 128
input_size = 32768
hidden_size = 32768


def get_inputs():
    return [torch.rand(batch_size, input_size)]


def get_init_inputs():
    return [input_size, hidden_size]
'''


def test_the_model_s_parameters_are_scaled_down_too(tmp_path, shared_verifier):
    # a batch of 2 over 32768 features is within the input budget at half the sizes, but the Linear
    # there is 16384 x 16384 (1 GiB): the sizes shrink until the model is within its budget as well
    from agent.verify.examples import PARAMETER_BUDGET

    src = tmp_path / "src"
    src.mkdir()
    (src / "wide.py").write_text(WIDE)
    report = migrate(src, tmp_path / "out", MigrateSettings(), verifier=shared_verifier)
    unit = report.units[0]
    assert unit.status == "verified-by-rules" and unit.spec["source"] == "file", (unit.status, unit.reason)
    n_in, n_out = (int(v) for v in unit.spec["init"][len("Model("):-1].split(", "))
    assert n_in * n_out <= PARAMETER_BUDGET and unit.spec["inputs"][0][0]["shape"] == [2, n_in], unit.spec


ON_GPU = '''\
import torch
import torch.nn as nn


class Model(nn.Module):
    def forward(self, a, b):
        return torch.relu(torch.matmul(a, b))


M = 256
K = 128
N = 64


def get_inputs():
    return [torch.randn(M, K, device="cuda"), torch.randn(K, N).cuda()]


def get_init_inputs():
    return []
'''


def test_factories_written_for_a_gpu_make_their_inputs_here(tmp_path, shared_verifier):
    # `device="cuda"` and `.cuda()` in get_inputs(): the tensors are made on this machine's device,
    # so the file's own (scaled) sizes are used rather than a guess
    src = tmp_path / "src"
    src.mkdir()
    (src / "gpu.py").write_text(ON_GPU)
    report = migrate(src, tmp_path / "out", MigrateSettings(), verifier=shared_verifier)
    unit = report.units[0]
    assert unit.status == "verified-by-rules" and unit.spec["source"] == "file", (unit.status, unit.reason, unit.spec)
    a, b = unit.spec["inputs"][0]
    assert a["shape"][1] == b["shape"][0] and b["shape"][1] == 64, unit.spec


def test_constants_scale_consistently(tmp_path, monkeypatch):
    import importlib

    from agent.verify.examples import _constants, _namespace

    (tmp_path / "sizes.py").write_text("batch_size = 64\ndim = 4096\nheads = 8\nhidden = dim * 4\n"
                                       "shape = (dim, 7)\nkernel = 3\nh, w = 224, 224\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("sizes")
    ns = _namespace(module, [(*c, False) for c in _constants(module)], 64)
    assert (ns["batch_size"], ns["dim"], ns["heads"], ns["hidden"], ns["shape"], ns["kernel"], ns["h"]) == \
        (2, 64, 8, 256, (64, 7), 3, 8)
    assert module.dim == 4096  # the module itself is left as it is


def test_inputs_the_repo_feeds_what_it_builds(tmp_path):
    """`net = Net(); net(torch.randn(2, 1, IMG, IMG))` in a `__main__` block gives the forward's input
    (constants resolved), before the same construction with guessed inputs; large images also come
    smaller first; a call whose argument is not a static tensor factory gives none."""
    from agent.verify.specs import find_repo_specs

    (tmp_path / "nets.py").write_text('''\\
import torch
import torch.nn as nn

IMG = 28


class LeNet(nn.Module):
    def forward(self, x):
        return x


class Tagger(nn.Module):
    def forward(self, ids, x):
        return x


class Other(nn.Module):
    def forward(self, x):
        return x


if __name__ == "__main__":
    net = LeNet()
    x = torch.randn(2, 1, IMG, IMG)
    print(net(x).shape)
    Tagger()(torch.randint(0, 50, (2, 7)), torch.rand(2, 3, 224, 224))
    data = load()
    Other()(data)
''')
    units = [{"module": "nets", "name": n, "kind": "module"} for n in ("LeNet", "Tagger", "Other")]
    specs = find_repo_specs(tmp_path, units)
    lenet = specs["nets.LeNet"]
    assert lenet[0]["inputs"] == [[{"shape": [2, 1, 28, 28], "dtype": "float32", "_batch": 0}]]
    assert lenet[1]["init"] == "LeNet()" and lenet[1]["inputs"] is None
    small, full = specs["nets.Tagger"][0]["inputs"][0], specs["nets.Tagger"][1]["inputs"][0]
    assert full[0] == {"shape": [2, 7], "dtype": "int64", "_batch": 0, "low": 0, "high": 50}
    assert full[1]["shape"] == [2, 3, 224, 224] and (full[1]["low"], full[1]["high"]) == (0.0, 1.0)
    assert small[1]["shape"] == [2, 3, 112, 112] and small[0] == full[0]
    assert [s["inputs"] for s in specs["nets.Other"]] == [None]


def test_input_descriptors_keep_the_factorys_distribution():
    """`torch.rand` stays a non-negative range and `1 + 0.01 * randn` its narrow one (a product over 128 of
    them neither vanishes nor overflows), `10 * randn` a normal of that scale, a standard normal needs
    nothing; the trusted side draws from the same."""
    import numpy as np
    import torch

    from agent.verify.examples import _distribution
    from agent.verify.inputs import make_arrays

    g = torch.Generator().manual_seed(0)
    near_one = _distribution((1.0 + 0.01 * torch.randn(4000, generator=g)).double())
    assert 0.9 < near_one["low"] < 1.0 < near_one["high"] < 1.1
    wide = _distribution((10 * torch.randn(4000, generator=g)).double())
    assert abs(wide["mean"]) < 1.0 and 9 < wide["std"] < 11
    unit = _distribution(torch.rand(4000, generator=g).double())
    assert 0 <= unit["low"] < 0.01 and 0.99 < unit["high"] <= 1.0
    assert _distribution(torch.randn(4000, generator=g).double()) == {}
    drawn = make_arrays([{"shape": [128], "dtype": "float32", **near_one}], seed=0, size_idx=0)[0]
    assert 0.5 < float(np.prod(drawn.astype(np.float64))) < 2.0


RECURRENT = '''\
import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers):
        super().__init__()
        self.h0 = torch.randn(num_layers, batch_size, hidden_size)
        self.gru = nn.GRU(input_size, hidden_size, num_layers, batch_first=True)

    def forward(self, x):
        return self.gru(x, self.h0)[0]


batch_size = 4
seq_len = 512
input_size = 128
hidden_size = 256
num_layers = 2


def get_inputs():
    return [torch.randn(batch_size, seq_len, input_size)]


def get_init_inputs():
    return [input_size, hidden_size, num_layers]
'''


def test_constants_the_unit_reads_itself_keep_the_repos_values(tmp_path, shared_verifier):
    """The model builds its initial state from the module's `batch_size`: that constant keeps its value,
    so the inputs (batch 4) agree with the model; the others still shrink."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "recurrent.py").write_text(RECURRENT)
    report = migrate(src, tmp_path / "out", MigrateSettings(), verifier=shared_verifier)
    unit = report.units[0]
    assert unit.spec["source"] == "file", (unit.status, unit.reason, unit.spec)
    x = unit.spec["inputs"][0][0]
    assert x["shape"][0] == 4 and x["shape"][1] < 512 and x["shape"][2] < 128, unit.spec
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)


def test_the_markdown_report_lists_arguments_msagent_chose_or_scaled():
    from agent.report.markdown import render
    from agent.report.schema import Report, Summary, UnitRecord

    units = [UnitRecord(file="fused.py", name="Model", kind="module", status="verified-by-rules",
                        spec={"source": "file", "init": "Model(3, 16, 3, (16, 1, 1))", "scaled": "batch_size 128 -> 2"}),
             UnitRecord(file="net.py", name="Net", kind="module", status="verified-by-rules",
                        spec={"source": "repo", "init": "Net()"})]
    text = render(Report(source="src", output="out", units=units, summary=Summary()))
    section = text.split("## Arguments msagent chose or scaled", 1)[1]
    assert "`fused.py::Model` (file): `Model(3, 16, 3, (16, 1, 1))`; scaled: batch_size 128 -&gt; 2" in section
    assert "net.py::Net" not in section


STACK = '''\
import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1, stride=stride)

    def forward(self, x):
        return torch.relu(self.conv(x)) + self.skip(x)


class Net(nn.Module):
    def __init__(self, in_channels, width, num_classes):
        super().__init__()
        self.blocks = nn.Sequential(Block(in_channels, width, 2), Block(width, width * 2, 2))
        self.head = nn.Linear(width * 2, num_classes)

    def forward(self, x):
        return self.head(self.blocks(x).mean(dim=(2, 3)))


batch_size = 16
in_channels = 3
width = 16
num_classes = 1000
image = 64


def get_inputs():
    return [torch.randn(batch_size, in_channels, image, image)]


def get_init_inputs():
    return [in_channels, width, num_classes]
'''


def test_the_factories_describe_the_outer_model_not_its_blocks(tmp_path, shared_verifier):
    """`Block(cin, cout, stride)` takes three numbers too: fed the model's (3, 16, 1000) its stride would be
    hundreds and its output one pixel. The file's factories build the class the others do not build."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "stack.py").write_text(STACK)
    report = migrate(src, tmp_path / "out", MigrateSettings(), verifier=shared_verifier)
    units = {u.name: u for u in report.units}
    assert units["Net"].spec["source"] == "file" and units["Net"].status == "verified-by-rules", units["Net"].reason
    block = units["Block"]
    assert block.spec["source"] != "file" and block.status == "verified-by-rules", (block.spec, block.reason)
    assert "stride" not in block.spec["init"] or "stride=1" in block.spec["init"], block.spec


PRODUCTS = '''\
import torch
import torch.nn as nn


class Model(nn.Module):
    def forward(self, A: torch.Tensor, s: float) -> torch.Tensor:
        return A * s


M = 16384 * 4
N = 4096 * 4


def get_inputs():
    return [torch.rand(M, N), 3.14]


def get_init_inputs():
    return []
'''


def test_size_constants_written_as_products_are_scaled(tmp_path, shared_verifier):
    """`M = 16384 * 4` is the repo's own size, written as a product: it was left unscaled, and a factor the
    meta-device probe never reached was allocated for real (8 GiB: the torch side ran out of memory)."""
    report, _ = migrate_one_file(tmp_path, "scalar.py", PRODUCTS, shared_verifier)
    (unit,) = report.units
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert unit.spec["scaled"] == "M 65536 -> 256, N 16384 -> 64", unit.spec
