"""Recurrent cells written by hand, as research repositories write them: one step from the input and
the previous state, `forward(input, hx, ts)`, the first layer fed `cat([input, hx])`. With no spec and
no torch RNN inside, the inputs come from the widths the constructor kept (`self.input_size`,
`self.hidden_size`) and an elapsed time per sample for an argument named like one (`ts`, `dt`); a
state the forward unpacks (`h, c = state`) is a pair, as before.
A real migration, compared on real torch and MindSpore."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn


class GatedCell(nn.Module):
    def __init__(self, input_size, hidden_size, backbone_units=32):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.backbone = nn.Sequential(nn.Linear(input_size + hidden_size, backbone_units), nn.Tanh())
        self.gate = nn.Linear(backbone_units, hidden_size)
        self.cand = nn.Linear(backbone_units, hidden_size)

    def forward(self, input, hx, ts):
        x = self.backbone(torch.cat([input, hx], 1))
        g = torch.sigmoid(self.gate(x) * ts.view(-1, 1))
        return hx * (1 - g) + g * torch.tanh(self.cand(x))

'''


def test_a_hand_written_cell_gets_its_step_input_state_and_elapsed_time(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "cell.py", SOURCE, shared_verifier)
    cell = assert_verified(report, ["GatedCell"])["GatedCell"]
    first = [(x["shape"], x.get("high")) for x in cell.spec["inputs"][0]]
    assert first == [([2, 8], None), ([2, 8], None), ([2], 1.0)], cell.spec


def test_a_state_the_forward_unpacks_is_not_given_one_tensor():
    # `h, c = state`: an LSTM cell's pair, which the repo's calls or the unpacking decide, not the width
    import torch.nn as nn

    from agent.verify import usage
    from agent.verify.infer import _recurrent_state

    class Cell(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden_size = 16

    assert _recurrent_state(Cell(), "state", usage.LENGTH + "2") is None
    assert _recurrent_state(Cell(), "hx")["shape"] == [2, 16]
