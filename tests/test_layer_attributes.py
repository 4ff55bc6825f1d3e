"""Code around a layer reads torch's attribute names (`emb.embedding_dim`, `emb.num_embeddings`): the
MindSpore layer answers them too. Real torch and MindSpore."""
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn


class Tokens(nn.Module):
    def __init__(self, vocab=12, dim=6):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim, padding_idx=0)
        self.scale = self.emb.embedding_dim ** -0.5

    def forward(self, ids):
        out = self.emb(ids) * self.scale
        return out.reshape(ids.shape[0], -1, self.emb.embedding_dim) / self.emb.num_embeddings
'''


def test_torch_attribute_names_of_an_embedding_answer_on_mindspore(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "tokens.py", SOURCE, shared_verifier)
    unit = {u.name: u for u in report.units}["Tokens"]
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
