"""Layer factories of diffusion code: `conv_nd(dims, *args, **kwargs)` picks Conv1d/2d/3d by comparing dims
with 1, 2, 3 (the generic guess 8 raised "unsupported dimensions"), and `Normalize(channels)` builds a
GroupNorm of 32 groups (8 channels are not divisible by 32). The number the code compares the parameter
with, and a multiple of the group count torch's error names, are now tried; both verify against torch."""
from agent.verify.constructors import compared_values
from agent.verify.shape_fix import corrected
from tests.support.one_file import assert_verified, load_source, migrate_one_file

SOURCE = '''\
import torch.nn as nn


def layer_nd(ndim, *args, **kwargs):
    if ndim == 1:
        return nn.Conv1d(*args, **kwargs)
    if ndim in (2, 3):
        return (nn.Conv2d if ndim == 2 else nn.Conv3d)(*args, **kwargs)
    raise ValueError(f"no {ndim}-d convolution")


def group_norm(channels, groups=32):
    return nn.GroupNorm(groups, channels, eps=1e-6)
'''


def test_numbers_compared_with_and_group_multiples(tmp_path):
    mod = load_source(tmp_path, "layers", SOURCE)
    assert compared_values(mod.layer_nd, ["ndim", "args"], int) == {"ndim": [1]}
    error = "num_channels (8) must be divisible by num_groups (32)"
    assert corrected([{"value": 8}], error) == [{"value": 32}]
    assert corrected([{"value": 40}], error.replace("(8)", "(40)")) == [{"value": 64}]


def test_layer_factories_verify(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "layers.py", SOURCE, shared_verifier)
    assert_verified(report, ["layer_nd", "group_norm"], level=None)


SCHEDULES = '''\
import torch


def noise_schedule(kind, steps, start=1e-4, end=2e-2):
    if kind == "linear":
        return torch.linspace(start, end, steps)
    if kind == "quadratic":
        return torch.linspace(start ** 0.5, end ** 0.5, steps) ** 2
    raise ValueError(f"unknown schedule {kind!r}")
'''


def test_a_string_parameter_gets_the_first_string_the_code_compares_it_with(tmp_path, shared_verifier):
    """`make_beta_schedule("linear", n)` of diffusion code: the schedule's name was guessed a tensor."""
    report, _ = migrate_one_file(tmp_path, "schedules.py", SCHEDULES, shared_verifier)
    assert_verified(report, ["noise_schedule"], level=None)


GUARDED = '''\
import torch.nn as nn


def stack(depth, width=8):
    if depth == 0:
        return nn.Identity()
    return nn.Sequential(*[nn.Linear(width, width) for _ in range(depth)])
'''


def test_the_names_guess_comes_before_the_compared_number(tmp_path, shared_verifier):
    """`if depth == 0: return nn.Identity()`: the number compared with is tried only after the name's guess
    (depth 2), or the check would be of the branch that builds nothing."""
    report, _ = migrate_one_file(tmp_path, "guarded.py", GUARDED, shared_verifier)
    units = assert_verified(report, ["stack"], level=None)
    assert units["stack"].spec["init"].startswith("stack(2"), units["stack"].spec


def test_a_function_named_as_its_file_is_called_not_its_module(tmp_path, shared_verifier):
    """`stack.py` defining `stack(depth)` (`resnet.py::resnet`): the spec `stack(2)` found the top-level module
    `stack` before the function, on both sides ("'module' object is not callable"); the module's own names
    come first now."""
    report, _ = migrate_one_file(tmp_path, "stack.py", GUARDED, shared_verifier)
    units = assert_verified(report, ["stack"], level=None)
    assert units["stack"].spec["init"].startswith("stack(2"), units["stack"].spec
