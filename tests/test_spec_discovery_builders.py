"""Specs for real model code: a builder function (`get_net(blocks, ...)`) is built as the repo's own
wrappers call it (`get_net(blocks=2, **kwargs)`: the pass-through dropped, a wrapper's parameter
defaults filled in), and a model whose first layer is an einops pattern gets inputs of the rank and
sizes that pattern reads. Real torch and MindSpore where something runs."""

import torch.nn as nn
from einops.layers.torch import Rearrange

from agent.verify import infer
from agent.verify.specs import find_repo_specs
from tests.support.one_file import migrate_one_file

ZOO = '''\
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, blocks, width=8, classes=10):
        super().__init__()
        layers = [nn.Linear(16, width)]
        for _ in range(blocks):
            layers += [nn.ReLU(), nn.Linear(width, width)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, classes)

    def forward(self, x):
        return self.head(self.body(x))


def get_net(blocks, width=8, model_name=None, **kwargs):
    if blocks not in (2, 4):
        raise ValueError(f"Unsupported Net with {blocks} blocks")
    net = Net(blocks, width=width, **kwargs)
    nn.init.zeros_(net.head.bias)
    return net


def net2(width=6, **kwargs):
    return get_net(blocks=2, width=width, model_name="net2", **kwargs)


def net4(*args, **kwargs):
    return get_net(4, *args, model_name="net4", **kwargs)
'''


def test_builder_specs_come_from_the_repos_own_calls(tmp_path):
    (tmp_path / "zoo.py").write_text(ZOO)
    specs = find_repo_specs(tmp_path, [{"module": "zoo", "name": "get_net", "kind": "function"}])["zoo.get_net"]
    inits = [s["init"] for s in specs]
    assert "get_net(blocks=2, width=6, model_name='net2')" in inits, inits
    assert "get_net(4, model_name='net4')" in inits, inits
    assert all(s["source"] == "repo" for s in specs)


def test_repo_calls_with_smaller_numbers_come_first(tmp_path):
    # `blocks=85, ..., 'big85'` is the shorter text, yet the larger model: the numbers order the calls
    (tmp_path / "zoo.py").write_text(
        "import torch.nn as nn\n\n\ndef get_net(blocks, deep, model_name):\n"
        "    return nn.Sequential(*[nn.Linear(4, 4) for _ in range(blocks)])\n\n\n"
        "def big():\n    return get_net(blocks=85, deep=False, model_name='big85')\n\n\n"
        "def small():\n    return get_net(blocks=39, deep=True, model_name='small39xy')\n")
    specs = find_repo_specs(tmp_path, [{"module": "zoo", "name": "get_net", "kind": "function"}])["zoo.get_net"]
    assert [s["init"] for s in specs] == ["get_net(blocks=39, deep=True, model_name='small39xy')",
                                          "get_net(blocks=85, deep=False, model_name='big85')"]


def test_builder_function_verifies_as_the_model_it_builds(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "zoo.py", ZOO, shared_verifier)
    unit = next(u for u in report.units if u.name == "get_net")
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert unit.spec["source"] == "repo" and unit.spec["init"].startswith("get_net("), unit.spec


def test_einops_first_layer_gives_the_input_rank_and_sizes():
    model = nn.Sequential(
        Rearrange("b c (t pt) (h p1) (w p2) -> b (h w t) (p1 p2 pt c)", p1=4, p2=4, pt=2),
        nn.Linear(4 * 4 * 2 * 3, 8),
    )
    candidates = infer.module_input_candidates(model, hints={"channels": 3})
    shapes = [c[0]["shape"] for c in candidates]
    assert [2, 3, 2, 4, 4] in shapes, shapes
    out = model(__import__("torch").randn(2, 3, 2, 4, 4))
    assert tuple(out.shape) == (2, 1, 8)


WRAPPERS = '''\
import torch
from torch import nn


class PreNorm(nn.Module):
    def __init__(self, dim, fn):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x, **kwargs):
        return self.fn(self.norm(x), **kwargs) + x


class Gate(nn.Module):
    def __init__(self, f, g):
        super().__init__()
        self.f, self.g = f, g

    def forward(self, x):
        a, b = torch.chunk(x, 2, dim=-1)
        return torch.cat([a + self.f(b), b + self.g(a)], dim=-1)
'''


def test_wrapper_of_a_submodule_is_checked_around_an_identity(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "wrappers.py", WRAPPERS, shared_verifier)
    for unit in report.units:
        assert unit.status == "verified-by-rules", (unit.name, unit.status, unit.reason)
        assert "__msagent_identity__()" in unit.spec["init"], unit.spec


def test_a_model_told_its_input_axes_gets_channels_last_data():
    class Reader(nn.Module):
        def __init__(self, input_channels=3, input_axis=2):
            super().__init__()
            self.input_axis = input_axis
            self.proj = nn.Linear(input_channels, 8)

        def forward(self, data):
            assert data.ndim == self.input_axis + 2, "input data must have the right number of axis"
            return self.proj(data)

    model = Reader()
    candidates = infer.module_input_candidates(model, hints=infer.geometry_hints(model, "Reader()"))
    assert candidates[0][0]["shape"] == [2, 8, 8, 3], candidates[0]
    assert tuple(model(__import__("torch").randn(*candidates[0][0]["shape"])).shape) == (2, 8, 8, 8)


CONTAINERS = '''\
import torch
import torch.nn as nn


class PairSequence(nn.Module):
    """Applies (f, g) pairs as a reversible network does: the blocks are the constructor's argument."""

    def __init__(self, blocks):
        super().__init__()
        self.blocks = nn.ModuleList([nn.ModuleList([f, g]) for f, g in blocks])

    def forward(self, x):
        for f, g in self.blocks:
            x = x + f(x)
            x = x * torch.sigmoid(g(x))
        return x


class Chain(nn.Module):
    def __init__(self, down_seq, scale=0.5):
        super().__init__()
        self.down_seq = nn.Sequential(*down_seq)
        self.scale = scale

    def forward(self, x):
        return self.down_seq(x) * self.scale + x
'''


def test_a_container_of_blocks_is_checked_around_identity_blocks(tmp_path, shared_verifier):
    # `blocks=2` (a count) fails on torch; identities, alone or in (f, g) pairs, stand in for the blocks
    report, _ = migrate_one_file(tmp_path, "containers.py", CONTAINERS, shared_verifier)
    by_name = {u.name: u for u in report.units}
    for name, stand_in in (("PairSequence", "[(__msagent_identity__(), __msagent_identity__())"),
                           ("Chain", "down_seq=[__msagent_identity__(), __msagent_identity__()]")):
        unit = by_name[name]
        assert unit.status == "verified-by-rules", (name, unit.status, unit.reason)
        assert stand_in in unit.spec["init"], unit.spec


SAME_PADDING = '''\
import torch.nn as nn


class StaticSameConv(nn.Conv2d):
    """Padding computed once for the image size it is told; without one it cannot be built."""

    def __init__(self, in_channels, out_channels, kernel_size, image_size=None, **kwargs):
        super().__init__(in_channels, out_channels, kernel_size, **kwargs)
        assert image_size is not None
        pad = max(kernel_size - 1, 0)
        self.pad = nn.ZeroPad2d((pad // 2, pad - pad // 2, pad // 2, pad - pad // 2))

    def forward(self, x):
        return super().forward(self.pad(x))
'''


def test_an_image_size_left_none_is_given_one_when_the_constructor_needs_it(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "same.py", SAME_PADDING, shared_verifier)
    unit = report.units[0]
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert "image_size=64" in unit.spec["init"], unit.spec


KEYWORD_FACTORY = '''\
import torch.nn as nn


def Classifier(*, dim, depth, num_classes):
    layers = [nn.Linear(dim, dim) for _ in range(depth)]
    return nn.Sequential(*layers, nn.GELU(), nn.Linear(dim, num_classes))


def main():
    print(Classifier(dim=16, depth=2, num_classes=3))
'''


def test_a_factory_taking_only_keyword_arguments_is_a_unit(tmp_path, shared_verifier):
    """`def Model(*, dim, depth)` returning a Sequential is the repo's model: it is a unit, built with
    guessed keywords and checked as the module it returns; a function taking nothing is not."""
    report, _ = migrate_one_file(tmp_path, "factory.py", KEYWORD_FACTORY, shared_verifier)
    units = {u.name: u for u in report.units}
    assert "main" not in units
    unit = units["Classifier"]
    assert unit.status.startswith("verified"), (unit.status, unit.reason)
    assert unit.kind == "module" or "factory" in " ".join(unit.notes), (unit.kind, unit.notes)


def test_missing_names_are_guessed_once():
    """A builder that passes a name on under another (`enc_num_tokens`) still misses it after it was given:
    the guess is not repeated (a repeated keyword is a syntax error, not a spec)."""
    from agent.verify.constructors import with_missing as _with_missing

    missing = TypeError("Net.__init__() missing 2 required keyword-only arguments: 'num_tokens' and 'depth'")
    assert _with_missing("Net(dim=8)", missing) == "Net(dim=8, num_tokens=50, depth=2)"
    assert _with_missing("Net(dim=8, num_tokens=50, depth=2)", missing) is None


def test_a_missing_name_no_guess_knows_is_a_size_unless_it_names_an_object():
    from agent.verify.constructors import with_missing as _with_missing

    missing = TypeError("Mixer() missing 2 required keyword-only arguments: 'depth' and 'segments'")
    assert _with_missing("Mixer(dim=8)", missing) == "Mixer(dim=8, depth=2, segments=8)"
    assert _with_missing("Wrap()", TypeError("Wrap() missing 1 required positional argument: 'net'")) is None
