"""Functions that return a layer builder instead of a layer: a lambda taking nothing or the channel
count, a `functools.partial` of a layer class, the class itself. Their outputs hold no tensor, so
they are checked through what the builder builds (`make_norm()(num_features=8)`), as factories are:
each verifies with no spec, and the report names the call that built the checked layer. A function
returning a plain callable that builds no layer stays not exercised."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
from functools import partial

import torch
import torch.nn as nn


def make_act(inplace=True):
    return lambda: nn.ReLU(inplace=inplace)


def make_norm(eps=1e-3):
    return lambda num_features: nn.BatchNorm2d(num_features=num_features, eps=eps)


def make_conv(bias=False):
    return partial(nn.Conv2d, kernel_size=3, padding=1, bias=bias)


def act_class(name="gelu"):
    return {"gelu": nn.GELU, "relu": nn.ReLU}[name]


def make_scale(factor=2.0):
    return lambda t: torch.mul(t, factor)
'''


def test_returned_builders_are_checked_through_what_they_build(tmp_path, worker):
    report, _ = migrate_one_file(tmp_path, "builders.py", SOURCE, worker)
    units = assert_verified(report, ["make_act", "make_norm", "make_conv", "act_class"], level=None)
    assert "make_norm()(num_features=8)" in (units["make_norm"].spec or {}).get("init", "")
    assert "make_conv()(in_channels=8, out_channels=8)" in (units["make_conv"].spec or {}).get("init", "")
    scale = {u.name: u for u in report.units}["make_scale"]
    assert scale.status == "not-exercised", (scale.status, scale.reason)
