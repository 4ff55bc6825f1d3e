"""Sequence models over batches of different lengths, as NLP code writes them: sentences padded with
pad_sequence, packed with pack_padded_sequence (sorted or not), run through stacked and bidirectional
GRU/LSTM layers, and padded back with pad_packed_sequence. MindSpore has no PackedSequence; its RNN
layers take the lengths instead. Migrated on the shared worker with no spec: the lengths are guessed
from the argument's name, and every unit verifies up to gradients."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence


class BiGRUEncoder(nn.Module):
    def __init__(self, vocab=40, dim=8, hidden=6):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim, padding_idx=0)
        self.rnn = nn.GRU(dim, hidden, batch_first=True, bidirectional=True)

    def forward(self, tokens, lengths):
        packed = pack_padded_sequence(self.embed(tokens), lengths, batch_first=True, enforce_sorted=False)
        out, h = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=tokens.shape[1])
        return out, torch.cat([h[-2], h[-1]], dim=-1)


class StackedTagger(nn.Module):
    def __init__(self, dim=8, hidden=6, tags=5):
        super().__init__()
        self.lower = nn.LSTM(dim, hidden)
        self.upper = nn.LSTM(hidden, hidden)
        self.head = nn.Linear(hidden, tags)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
        mid, _ = self.lower(packed)
        top, (h, c) = self.upper(mid)
        padded, _ = pad_packed_sequence(top, padding_value=0.0)
        return self.head(padded).log_softmax(dim=-1), h[-1]


def batch_sentences(a, b, c):
    return pad_sequence([a, b[:3], c[:5]], batch_first=True, padding_value=-1.0)
'''


def test_packed_sequences_through_rnn_layers_verify(tmp_path, shared_verifier):
    report, text = migrate_one_file(tmp_path, "seq.py", SOURCE, shared_verifier)
    assert_verified(report, ("BiGRUEncoder", "StackedTagger"))
    assert_verified(report, ("batch_sentences",), level=None)
    assert "_ms_rnn_packed(self.upper, mid)" in text and "# msagent:" not in text
