"""A subclass that takes a few arguments of its own and passes the rest on (`SuperResModel(image_size,
in_channels, *args, **kwargs)` building guided diffusion's UNetModel): its base class's parameters are
guessed too, as keywords, after the subclass's own signature alone, so that what torch's errors then ask of
them (a width the group count divides) can be given; and an optional forward argument left None that the
forward then uses (`low_res=None`) is fed like the first (real migrations on the shared worker)."""
import inspect

from agent.verify.constructors import passed_on
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn
import torch.nn.functional as F


class Trunk(nn.Module):
    def __init__(self, in_channels, width, depth=2):
        super().__init__()
        layers = [nn.Conv2d(in_channels, width, 3, padding=1), nn.GroupNorm(16, width)]
        layers += [nn.Conv2d(width, width, 3, padding=1) for _ in range(depth - 1)]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


class Doubled(Trunk):
    def __init__(self, in_channels, *args, **kwargs):
        super().__init__(in_channels * 2, *args, **kwargs)

    def forward(self, x):
        return super().forward(x.repeat(1, 2, 1, 1))


class WithLowRes(nn.Module):
    def __init__(self, channels=4):
        super().__init__()
        self.conv = nn.Conv2d(channels * 2, channels, 3, padding=1)

    def forward(self, x, low_res=None):
        up = F.interpolate(low_res, x.shape[2:], mode="nearest")
        return self.conv(torch.cat([x, up], 1))
'''


def test_a_subclass_passing_arguments_on_gets_its_base_classs_guessed(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "trunk.py", SOURCE, shared_verifier)
    units = {u.name: u for u in report.units}
    unit = units["Doubled"]
    assert unit.status.startswith("verified"), (unit.status, unit.reason)
    assert "width=16" in unit.spec["init"], unit.spec
    # an optional argument left None that the forward then uses (a super-resolution model's `low_res`): fed
    low = units["WithLowRes"]
    assert low.status.startswith("verified"), (low.status, low.reason)
    assert len(low.spec["inputs"][0]) == 2, low.spec


class _Base:
    def __init__(self, a, b, c=1):
        pass


class _Passes(_Base):
    def __init__(self, x, *args, **kwargs):
        super().__init__(*args, **kwargs)


class _Keeps(_Base):
    def __init__(self, x):
        super().__init__(x, x)


def test_only_a_subclass_with_keywords_to_pass_on_gets_its_bases_parameters():
    sig = passed_on(_Passes, inspect.signature(_Passes.__init__))
    assert [(p.name, p.kind.name) for p in sig.parameters.values()][1:] == [
        ("x", "POSITIONAL_OR_KEYWORD"), ("a", "KEYWORD_ONLY"), ("b", "KEYWORD_ONLY"), ("c", "KEYWORD_ONLY")]
    own = inspect.signature(_Keeps.__init__)
    assert passed_on(_Keeps, own) is own
