"""A repo call whose inner constructor's arguments came through **kwargs (`Wrapper(Model(**model_kwargs),
pad=0)`) becomes the spec `Wrapper(Model(), pad=0)`; torch says what the inner call misses, and those
arguments are guessed inside it, not appended to the outer call. Real torch and MindSpore."""
from agent.verify.constructors import with_missing as _with_missing
from tests.support.one_file import migrate_files

FILES = {
    "pkg/__init__.py": "",
    "pkg/model.py": '''\
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, *, num_tokens, dim, depth=1):
        super().__init__()
        self.max_seq_len = 16
        self.emb = nn.Embedding(num_tokens, dim)
        self.out = nn.Linear(dim, num_tokens)

    def forward(self, x):
        return self.out(self.emb(x))
''',
    "pkg/wrapper.py": '''\
import torch.nn as nn


class Wrapper(nn.Module):
    def __init__(self, net, pad=0):
        super().__init__()
        self.net, self.pad = net, pad
        self.max_seq_len = net.max_seq_len

    def forward(self, x):
        return self.net(x[:, : self.max_seq_len]).log_softmax(dim=-1)
''',
    "pkg/build.py": '''\
from pkg.model import Model
from pkg.wrapper import Wrapper


def build(**model_kwargs):
    return Wrapper(Model(**model_kwargs), pad=0)
''',
}


def test_missing_arguments_go_into_the_call_that_misses_them():
    missing = TypeError("Model.__init__() missing 2 required keyword-only arguments: 'num_tokens' and 'dim'")
    assert _with_missing("Wrapper(pkg.model.Model(), pad=0)", missing) == \
        "Wrapper(pkg.model.Model(num_tokens=50, dim=8), pad=0)"
    assert _with_missing("Model(depth=2)", missing) == "Model(depth=2, num_tokens=50, dim=8)"


def test_wrapper_verifies_on_its_repo_call_with_the_inner_arguments_guessed(tmp_path, shared_verifier):
    report = migrate_files(tmp_path, FILES, shared_verifier)
    unit = next(u for u in report.units if u.name == "Wrapper")
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert unit.spec["source"] == "repo" and "Model(num_tokens=" in unit.spec["init"], unit.spec
