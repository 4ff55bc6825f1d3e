"""torch's own layers pass `**factory_kwargs` (device, dtype) to every tensor factory they call; code
written in that style spreads them into `torch.randn(*shape, **factory_kwargs)`. The rules cannot read
the keys, so the call goes through an adapter with torch's signature (device dropped, dtype passed on,
what MindSpore cannot honour refused when given). Real torch and MindSpore."""
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn


class Affine(nn.Module):
    def __init__(self, dim=8, device=None, dtype=None):
        factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__()
        shape = (dim, dim)
        self.weight = nn.Parameter(torch.randn(*shape, **factory_kwargs) / dim)
        self.bias = nn.Parameter(torch.rand(dim, **factory_kwargs))
        self.register_buffer("scale", torch.ones(dim, **factory_kwargs))

    def forward(self, x):
        return (x @ self.weight + self.bias) * self.scale
'''


def test_factories_given_spread_keyword_arguments_translate_and_verify(tmp_path, shared_verifier):
    report, text = migrate_one_file(tmp_path, "affine.py", SOURCE, shared_verifier)
    assert "msagent:" not in text and "_ms_randn(*shape, **factory_kwargs)" in text, text
    unit = {u.name: u for u in report.units}["Affine"]
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
