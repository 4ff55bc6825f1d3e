"""An RNN language model (pytorch/examples' word_language_model): `rnn_type in ['LSTM', 'GRU']` picks the
layer, and `forward(input, hidden)` takes the state `init_hidden` makes. An LSTM's state is a pair, which
the guessed inputs cannot express; the other choices the code names are now tried after the first, and a
seq-first GRU's state takes the shape torch's error states. The report's spec names the variant checked."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch.nn as nn
import torch.nn.functional as F


class RNNModel(nn.Module):
    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5):
        super(RNNModel, self).__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        if rnn_type in ['LSTM', 'GRU']:
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        else:
            raise ValueError("An invalid option for `--model` was supplied")
        self.decoder = nn.Linear(nhid, ntoken)
        self.ntoken = ntoken

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        decoded = self.decoder(self.drop(output)).view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden
'''


def test_a_language_model_is_checked_in_the_variant_its_inputs_can_feed(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "lm.py", SOURCE, shared_verifier)
    units = assert_verified(report, ["RNNModel"])
    assert "rnn_type='GRU'" in units["RNNModel"].spec["init"], units["RNNModel"].spec
