"""Constructs found migrating public packages outside both corpora (a sequence-tagging CRF layer, rotary
position embeddings): the legacy constructors (`torch.Tensor(n)` inside nn.Parameter, `x.new(...)`,
`torch.autograd.Variable`), `next(self.parameters())`, a uint8 mask given to torch.where, broadcast_tensors,
autocast used as a decorator, and a module whose only weights are its own parameters, fed tags that index
them (`tags: torch.LongTensor`). Verified on real torch and MindSpore."""
from agent.kb.store import load_kb
from agent.rules.engine import translate_source
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
from typing import Optional

import torch
import torch.nn as nn
from torch.amp import autocast
from torch.autograd import Variable


class TagPathScore(nn.Module):
    """The score of one tag path per sequence: start, emission and transition scores."""

    def __init__(self, num_tags: int):
        super().__init__()
        self.start = nn.Parameter(torch.Tensor(num_tags))
        self.transitions = nn.Parameter(torch.Tensor(num_tags, num_tags))
        nn.init.uniform_(self.start, -0.1, 0.1)
        nn.init.uniform_(self.transitions, -0.1, 0.1)

    def forward(self, emissions: torch.Tensor, tags: torch.LongTensor,
                mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        if mask is None:
            mask = torch.ones_like(tags, dtype=torch.uint8)
        first = next(self.parameters())
        score = self.start[tags[0]] + emissions[0].gather(1, tags[0].unsqueeze(1)).squeeze(1)
        for i in range(1, emissions.shape[0]):
            step = self.transitions[tags[i - 1], tags[i]] + emissions[i].gather(1, tags[i].unsqueeze(1)).squeeze(1)
            score = score + torch.where(mask[i], step, torch.zeros_like(step))
        return score.sum() + 0 * first.sum()


@autocast("cuda", enabled=False)
def spread(a, b):
    x, y = torch.broadcast_tensors(a.unsqueeze(-1), b.unsqueeze(-2))
    fresh = Variable(x * y)
    return fresh + x.new(*x.shape).zero_() + y
'''


def test_tag_scores_and_legacy_constructors_verify(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "tags.py", SOURCE, shared_verifier)
    assert not [m for f in report.files for m in f.markers], [f.markers for f in report.files]
    assert "emissions: ms.Tensor" in out and "Optional[ms.Tensor]" in out, out
    assert_verified(report, ["TagPathScore"])
    assert_verified(report, ["spread"], level=None)


def test_autocast_decorator_raises_only_when_turned_on_and_called():
    import pytest

    code = translate_source("import torch\n\n\n@torch.autocast('cuda')\ndef f(x):\n    return x\n\n\n"
                            "@torch.cuda.amp.autocast(enabled=False)\ndef g(x):\n    return x + 1\n",
                            load_kb(), "cpu").code
    namespace: dict = {}
    exec(compile(code, "translated.py", "exec"), namespace)  # imports: decorating raises nothing
    assert namespace["g"](1) == 2
    with pytest.raises(NotImplementedError, match="autocast"):
        namespace["f"](1)


def test_a_type_keeps_its_name_and_brings_no_constructor_helper():
    code = translate_source("import torch\n\n\ndef f(x: torch.Tensor) -> torch.Tensor:\n"
                            "    return x if isinstance(x, torch.Tensor) else None\n", load_kb(), "cpu").code
    assert "_ms_float_tensor" not in code and "def f(x: ms.Tensor) -> ms.Tensor:" in code, code


DIFFUSION_PARTS = '''\
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

BACKENDS = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]


class NormedConv(nn.Module):
    def __init__(self, channels=4):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(channels, channels, 3, 3))
        self.line = nn.Parameter(torch.randn(channels, channels, 3))

    def forward(self, x):
        w = self.weight / self.weight.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        y = F.conv2d(x, w, padding="same")
        z = F.conv1d(y.flatten(2), self.line, padding="same")
        return z.view_as(y)


class SelfAttention(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        with sdpa_kernel(BACKENDS):
            return F.scaled_dot_product_attention(q, k, v)
'''


def test_string_padding_of_functional_convolutions_and_attention_backends_verify(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "parts.py", DIFFUSION_PARTS, shared_verifier)
    assert not [m for f in report.files for m in f.markers], [f.markers for f in report.files]
    assert "pad_mode='same'" in out or 'pad_mode="same"' in out, out
    assert_verified(report, ["NormedConv", "SelfAttention"])
