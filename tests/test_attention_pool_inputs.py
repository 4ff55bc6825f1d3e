"""An attention pool written for one map size (guided diffusion's and CLIP's AttentionPool2d: a positional
table of spacial_dim**2 + 1 rows, the map's mean prepended as a token): the guessed map was the wrong size,
and torch's broadcast error names the table's length and the tokens' count. The map is made the size the
table was written for (one token short of it) and the module verifies against torch up to gradients."""
from agent.verify.shape_fix import corrected
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn


class AttentionPool(nn.Module):
    def __init__(self, spacial_dim, embed_dim, output_dim=None):
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.randn(embed_dim, spacial_dim ** 2 + 1) / embed_dim ** 0.5)
        self.qkv = nn.Conv1d(embed_dim, 3 * embed_dim, 1)
        self.out = nn.Conv1d(embed_dim, output_dim or embed_dim, 1)

    def forward(self, x):
        b, c, *_ = x.shape
        x = x.reshape(b, c, -1)
        x = torch.cat([x.mean(dim=-1, keepdim=True), x], dim=-1)
        x = x + self.positional_embedding[None, :, :]
        q, k, v = self.qkv(x).chunk(3, dim=1)
        weight = torch.softmax(torch.einsum("bct,bcs->bts", q, k) / c ** 0.5, dim=-1)
        return self.out(torch.einsum("bts,bcs->bct", weight, v))[:, :, 0]
'''


def test_a_map_is_sized_for_the_table_from_the_broadcast_error():
    error = "The size of tensor a (17) must match the size of tensor b (65) at non-singleton dimension 2"
    assert corrected([{"shape": [2, 8, 16], "dtype": "float32"}], error)[0]["shape"] == [2, 8, 64]
    assert corrected([{"shape": [2, 8, 4, 4], "dtype": "float32"}], error)[0]["shape"] == [2, 8, 8, 8]


def test_an_attention_pool_verifies(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "pool.py", SOURCE, shared_verifier)
    assert_verified(report, ["AttentionPool"])
