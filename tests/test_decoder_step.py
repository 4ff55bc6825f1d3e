"""Sequence models as public repositories write them: a BiLSTM tagger over packed padded sequences with a
CRF-style forward recursion, and an attention decoder that takes one step: a token per sample, the GRU's
hidden state (layers x directions, batch, hidden) and the encoder's outputs. Arguments named like a
single token and like a recurrent state get those shapes. Real migrations, compared on real torch and
MindSpore."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class Tagger(nn.Module):
    def __init__(self, vocab=20, dim=8, hidden=8, tags=5):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim, padding_idx=0)
        self.lstm = nn.LSTM(dim, hidden, num_layers=2, bidirectional=True, batch_first=True, dropout=0.1)
        self.out = nn.Linear(2 * hidden, tags)
        self.transitions = nn.Parameter(torch.randn(tags, tags))

    def forward(self, tokens, lengths):
        x = self.embed(tokens)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, (h, c) = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=tokens.shape[1])
        emissions = self.out(out)
        score = emissions[:, 0]
        for t in range(1, emissions.shape[1]):
            score = torch.logsumexp(score.unsqueeze(2) + self.transitions.unsqueeze(0), dim=1) + emissions[:, t]
        return torch.logsumexp(score, dim=1), h[-1]


class AttnDecoder(nn.Module):
    def __init__(self, hidden=8, vocab=12):
        super().__init__()
        self.embedding = nn.Embedding(vocab, hidden)
        self.attn = nn.Linear(hidden * 2, hidden)
        self.v = nn.Parameter(torch.rand(hidden))
        self.gru = nn.GRU(hidden * 2, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, vocab)

    def forward(self, token, hidden, encoder_outputs):
        emb = self.embedding(token).unsqueeze(1)
        src_len = encoder_outputs.shape[1]
        h = hidden[-1].unsqueeze(1).repeat(1, src_len, 1)
        energy = torch.tanh(self.attn(torch.cat((h, encoder_outputs), dim=2)))
        scores = torch.einsum("bsh,h->bs", energy, self.v)
        weights = F.softmax(scores, dim=1).unsqueeze(1)
        context = torch.bmm(weights, encoder_outputs)
        output, hidden = self.gru(torch.cat((emb, context), dim=2), hidden)
        return self.fc(output.squeeze(1)), hidden
'''


def test_sequence_units_convert_and_verify(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "seq.py", SOURCE, shared_verifier)
    assert not [m for f in report.files for m in f.markers], [f.markers for f in report.files]
    units = assert_verified(report, ["Tagger", "AttnDecoder"])
    token, hidden, _ = units["AttnDecoder"].spec["inputs"][0]
    assert token["shape"] == [2] and hidden["shape"] == [1, 2, 8], units["AttnDecoder"].spec
