"""A module installed on neither side (a download helper's `requests`, absent here) does not stop the
layers of the same file from being checked: the torch original's import of it is skipped, the MindSpore
side gets a stand-in that raises only where it is used, and the report says so. A folder whose modules
sit one level down (examples/graph/layer.py, no Python file in examples/) is a namespace package."""
import pytest

from agent.config import MigrateSettings
from agent.pipeline import migrate
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn
import msagent_test_absent_pkg as fetch
from msagent_test_absent_pkg.sub import get


def download(url):
    return get(url)


class Mix(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        return torch.relu(self.proj(x))


class UsesIt(nn.Module):
    def forward(self, x):
        return x * fetch.scale
'''


@pytest.fixture
def report(tmp_path, shared_verifier):
    src = tmp_path / "src" / "examples" / "graph"
    src.mkdir(parents=True)
    (src / "layer.py").write_text(SOURCE)
    return migrate(tmp_path / "src", tmp_path / "out", MigrateSettings(), verifier=shared_verifier)


def test_a_layer_beside_an_uninstalled_import_verifies_with_a_note(report):
    units = {u.name: u for u in report.units}
    mix = units["Mix"]
    assert mix.status == "verified-by-rules", (mix.status, mix.reason)
    assert any("msagent_test_absent_pkg" in n and "either side" in n for n in mix.notes), mix.notes


def test_a_unit_that_uses_the_absent_module_is_not_verified(report):
    uses = {u.name: u for u in report.units}["UsesIt"]
    assert uses.status != "verified-by-rules" and not uses.status.startswith("verified"), (uses.status, uses.reason)


BASE_FROM_ABSENT = '''\
import torch
import torch.nn as nn
from msagent_test_absent_pkg import PretrainedConfig


class MixConfig(PretrainedConfig):
    model_type = "mix"


''' + SOURCE[SOURCE.index("class Mix("):SOURCE.index("class UsesIt")].rstrip() + "\n"


def test_a_file_that_cannot_import_without_the_absent_module_is_not_exercised(tmp_path, shared_verifier):
    # a class deriving from the absent module's class stops the file's import on both sides: the torch
    # original's was skipped past, the translation's cannot be. Nothing could be checked here, which is
    # not the translation shown wrong: not-exercised, naming the module (not failed)
    src = tmp_path / "src"
    src.mkdir()
    (src / "mix.py").write_text(BASE_FROM_ABSENT)
    report = migrate(src, tmp_path / "out", MigrateSettings(), verifier=shared_verifier)
    mix = {u.name: u for u in report.units}["Mix"]
    assert mix.status == "not-exercised", (mix.status, mix.reason)
    assert "needs msagent_test_absent_pkg, installed on neither side" in mix.reason
    assert "does not import" in mix.reason and "mix.py" in mix.reason


def test_a_translation_importing_a_torch_library_fails_saying_so():
    # torch_* libraries are left out of the MindSpore side's view with torch: the reason says what the
    # missing name is, not only Python's "(unknown location)"
    from agent.verify.failures import load_failure

    kind, reason, status = load_failure({"error": "import", "reason": (
        "pkg/vq.py:8: ImportError: cannot import name 'pack_with_inverse' from 'torch_einops_utils' (unknown location)")},
        ())
    assert status == "failed" and kind == "import"
    assert "torch_einops_utils is a library built on torch" in reason and reason.count("pkg/vq.py:8") == 1
    assert load_failure({"error": "import", "reason": "a.py:1: NameError: name 'x' is not defined"}, ())[1] == (
        "the translated file does not import: a.py:1: NameError: name 'x' is not defined")


NAMED_AT_MODULE_LEVEL = '''\
import torch.nn as nn
from msagent_test_absent_pkg.ops import FrozenNorm

try:
    from msagent_test_absent_fused import FusedLayerNorm
except ImportError:
    FusedLayerNorm = None

NORMS = dict(batchnorm=nn.BatchNorm1d, frozen=FrozenNorm)
LayerNorm = FusedLayerNorm or nn.LayerNorm


class Head(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.norm = NORMS["batchnorm"](dim)
        self.ln = LayerNorm(dim)
        self.fc = nn.Linear(dim, dim)

    def forward(self, x):
        return self.fc(self.ln(self.norm(x)))
'''


def test_names_of_an_absent_module_and_the_code_own_fallback_are_there_on_both_sides(tmp_path, shared_verifier):
    # the torch original names an uninstalled class in a table at module level, and falls back to torch's
    # LayerNorm when an optional package is missing: both statements must run on the torch side too (the
    # table holds a stand-in; the fallback runs), or no unit reading them can be checked
    report, _ = migrate_one_file(tmp_path, "heads.py", NAMED_AT_MODULE_LEVEL, shared_verifier)
    (head,) = [u for u in report.units if u.name == "Head"]
    assert head.status == "verified-by-rules", (head.status, head.reason)


DECORATED = '''\
import torch
import torch.nn as nn
from msagent_test_absent_checks import typechecked


@typechecked
def double(x: torch.Tensor) -> torch.Tensor:
    return x * 2


class Scaled(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.fc = nn.Linear(dim, dim)

    @typechecked
    def forward(self, x):
        return double(self.fc(x))
'''


def test_a_decorator_from_an_absent_module_leaves_the_code_under_it(tmp_path, shared_verifier):
    # a type-checking decorator of a package installed nowhere here, applied at import: the file imports on
    # both sides and the functions it decorates are checked as written
    report, _ = migrate_one_file(tmp_path, "scaled.py", DECORATED, shared_verifier)
    units = {u.name: u for u in report.units}
    for name in ("double", "Scaled"):
        assert units[name].status == "verified-by-rules", (name, units[name].status, units[name].reason)
    assert any("decorator" in n for n in units["Scaled"].notes), units["Scaled"].notes


def test_a_decorator_factory_from_an_absent_module_leaves_the_code_under_it():
    """`@numba.jit(nopython=True)` (whisper's timing.py, with numba absent here): the factory is called with
    settings only, so its result stands in for a decorator; called with a tensor, a stand-in still raises."""
    from agent.verify.absent import Unavailable

    jit = Unavailable("msagent_test_absent_pkg.jit")

    def dtw(x):
        return x

    assert jit(nopython=True)(dtw) is dtw and jit(cache=True, parallel=False)(dtw) is dtw
    with pytest.raises(ModuleNotFoundError):
        jit(nopython=True) + 1
    with pytest.raises(ModuleNotFoundError):
        jit(object())
