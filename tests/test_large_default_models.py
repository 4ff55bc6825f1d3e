"""A model whose constructor defaults build hundreds of millions of parameters (a protein language model's
`num_layers=33, embed_dim=1280`) is tried first at a smaller depth and width: at its defaults it ran out of
the sandbox's memory and nothing was checked. A small default model is built as it is."""
from agent.verify.init_sizes import smaller_model
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import torch
from torch import nn


class Encoder(nn.Module):
    def __init__(self, vocab: int = 33, num_layers: int = 33, embed_dim: int = 1280, attention_heads: int = 20):
        super().__init__()
        assert embed_dim % attention_heads == 0
        self.heads = attention_heads
        self.embed = nn.Embedding(vocab, embed_dim)
        self.layers = nn.ModuleList(nn.Sequential(nn.LayerNorm(embed_dim), nn.Linear(embed_dim, 4 * embed_dim),
                                                  nn.GELU(), nn.Linear(4 * embed_dim, embed_dim))
                                    for _ in range(num_layers))
        self.head = nn.Linear(embed_dim, vocab)

    def forward(self, tokens):
        x = self.embed(tokens)
        for layer in self.layers:
            x = x + layer(x)
        b, n, d = x.shape
        mixed = x.reshape(b, n, self.heads, d // self.heads).softmax(-1).reshape(b, n, d)
        return self.head(mixed)


class Small(nn.Module):
    def __init__(self, depth: int = 3, dim: int = 96):
        super().__init__()
        self.blocks = nn.Sequential(*[nn.Linear(dim, dim) for _ in range(depth)])

    def forward(self, x):
        return self.blocks(x)
'''


class _Model:
    def __init__(self, vocab, num_layers=33, embed_dim=1280, ffn_embed_dim=5120, attention_heads=20, dim_head=16):
        pass


def test_smaller_model_keeps_widths_multiples_of_the_heads():
    assert smaller_model(_Model, "_Model(vocab=8)") == \
        "_Model(vocab=8, num_layers=2, embed_dim=40, ffn_embed_dim=160)"
    assert smaller_model(_Model, "_Model(vocab=8, embed_dim=32)") == \
        "_Model(vocab=8, embed_dim=32, num_layers=2, ffn_embed_dim=40)"
    assert smaller_model(_Model, "_Model(vocab=8, num_layers=1, embed_dim=32, ffn_embed_dim=64)") is None


def test_a_model_too_large_at_its_defaults_verifies_smaller(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "encoder.py", SOURCE, shared_verifier)
    units = {u.name: u for u in report.units}
    assert units["Encoder"].status == "verified-by-rules", (units["Encoder"].status, units["Encoder"].reason)
    assert units["Encoder"].spec["init"] == "Encoder(num_layers=2, embed_dim=40)", units["Encoder"].spec
    assert units["Small"].status == "verified-by-rules", units["Small"].reason
    assert units["Small"].spec["init"] == "Small()", units["Small"].spec
