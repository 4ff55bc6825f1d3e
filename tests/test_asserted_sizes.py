"""A guessed input that fails a size assertion whose message says nothing of the sizes (`assert
h.shape[1:] == self.pos.shape, "bad input"`): the compared sizes are read in the frame that raised it,
and the input is corrected from them (a stride-2 convolution before the assertion: the input's time axis
twice as long; a single size: the axis holding it). An operand that would run code is never evaluated."""
from agent.verify.assert_sizes import compared_sizes, with_sizes
from agent.verify.shape_fix import corrected
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn
import torch.nn.functional as F


class SpectrogramEncoder(nn.Module):
    def __init__(self, n_bins, context_len, width):
        super().__init__()
        self.stem = nn.Conv1d(n_bins, width, 3, padding=1)
        self.down = nn.Conv1d(width, width, 3, stride=2, padding=1)
        self.register_buffer("pos", torch.randn(context_len, width))

    def forward(self, spec):
        h = F.gelu(self.down(F.gelu(self.stem(spec)))).transpose(1, 2)
        assert h.shape[1:] == self.pos.shape, "bad input"
        return h + self.pos
'''


def _raised(fn):
    try:
        fn()
    except AssertionError as exc:
        return exc
    raise AssertionError("did not raise")


def test_sizes_are_read_from_the_failing_frame():
    class Table:
        shape = (16, 8)

    def check(x, table=Table()):
        assert len(x) == 3 and x.shape[1:] == table.shape, "bad input"

    class Arr:
        shape = (2, 8, 8)

        def __len__(self):
            return 3

    exc = _raised(lambda: check(Arr()))
    assert compared_sizes(exc) == ((8, 8), (16, 8))
    assert with_sizes(exc).endswith("[compared sizes: (8, 8) != (16, 8)]")

    calls = []

    def noted():
        calls.append(1)
        return 5

    def calling():
        assert noted() == 4  # a call of the unit's own: not evaluated again
    assert compared_sizes(_raised(calling)) is None and calls == [1]


def test_inputs_corrected_from_compared_sizes():
    inputs = [{"shape": [2, 8, 16], "dtype": "float32"}]
    assert corrected(inputs, "bad [compared sizes: (8, 8) != (16, 8)]")[0]["shape"] == [2, 8, 32]
    assert corrected(inputs, "bad [compared sizes: 16 != 12]")[0]["shape"] == [2, 8, 12]


def test_an_encoder_asserting_its_length_verifies(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "encoder.py", SOURCE, shared_verifier)
    assert_verified(report, ["SpectrogramEncoder"])


def test_sizes_that_say_nothing_usable_leave_the_bare_assertion_fix():
    """Shapes differing in two places say no single fix: a bare assertion's fallback (more divisors) stays."""
    inputs = [{"shape": [2, 8, 16], "dtype": "float32"}]
    assert corrected(inputs, " [compared sizes: (3, 5) != (7, 9)]") == corrected(inputs, "")
