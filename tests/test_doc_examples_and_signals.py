"""Specs from what a library shows its users, and inputs a signal-processing unit accepts.

A docstring example (`>>> m = Embed([3, 10], dim=5)`, `>>> m(torch.tensor([[0, 5], [1, 7]]))`) is how the
authors build and call a unit: the spec search reads it as a call in the code (a written integer table
keeps each column within its own count). A unit that needs a long signal (an STFT's window, reflect
padding) says so in torch's error: the signal grows to the length asked for. Real torch and MindSpore."""
from pathlib import Path

from agent.verify.shape_fix import corrected
from agent.verify.specs import find_repo_specs
from tests.support.one_file import migrate_one_file

EMBED = '''\
import torch
import torch.nn as nn


class Embed(nn.Module):
    """One embedding table per categorical column.

    >>> cards = [3, 10]
    >>> m = Embed(cards, dim=5)
    >>> x = torch.tensor([[0, 5], [1, 7], [0, 2], [2, 4]])
    >>> m(x).shape
    torch.Size([4, 2, 5])
    """

    def __init__(self, cards, dim):
        super().__init__()
        self.tables = nn.ModuleList(nn.Embedding(c, dim) for c in cards)

    def forward(self, x):
        return torch.stack([t(x[..., i]) for i, t in enumerate(self.tables)], dim=-2)
'''


def test_a_docstring_example_gives_the_constructor_and_a_written_table_its_column_ranges(tmp_path):
    (tmp_path / "embed.py").write_text(EMBED)
    unit = {"module": "embed", "name": "Embed", "kind": "module", "file": "embed.py"}
    specs = find_repo_specs(Path(tmp_path), [unit])["embed.Embed"]
    assert specs[0]["init"] == "Embed([3, 10], dim=5)", specs
    assert specs[0]["inputs"] == [[{"shape": [4, 2], "dtype": "int64", "_batch": 0, "low": 0, "high": [3, 8]}]]
    assert specs[0]["where"].startswith("embed:"), specs


def test_a_unit_built_as_its_docstring_shows_verifies(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "embed.py", EMBED, shared_verifier)
    unit = {u.name: u for u in report.units}["Embed"]
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert unit.spec["source"] == "repo" and unit.spec["init"] == "Embed([3, 10], dim=5)", unit.spec


def test_a_signal_grows_to_the_length_torch_asks_for():
    signal = [{"shape": [2, 16], "dtype": "float32"}]
    conv = corrected(signal, "Calculated padded input size per channel: (144). Kernel size: (256). Kernel size "
                             "can't be greater than actual input size")
    assert conv == [{"shape": [2, 256], "dtype": "float32"}]
    pad = corrected([{"shape": [2, 1, 16], "dtype": "float32"}], "Padding size should be less than the "
                    "corresponding input dimension, but got: padding (1024, 1024) at dimension 2 of input [2, 1, 16]")
    assert pad == [{"shape": [2, 1, 2048], "dtype": "float32"}]
    unsaid = corrected(signal, "AssertionError: Signal length shorter than reflect padding length (n_fft // 2).")
    assert unsaid == [{"shape": [2, 256], "dtype": "float32"}]
    image = [{"shape": [2, 3, 8, 8], "dtype": "float32"}]  # a 2-d map is not a signal: its own fix
    assert corrected(image, "Kernel size can't be greater than actual input size")[0]["shape"] == [2, 3, 16, 16]


FRAMES = '''\
import torch
import torch.nn as nn
import torch.nn.functional as F


class Frames(nn.Module):
    """Framewise energies of a signal through a fixed 256-tap window."""

    def __init__(self, n_fft=256, hop=64):
        super().__init__()
        self.hop = hop
        self.register_buffer("window", torch.hann_window(n_fft).reshape(1, 1, n_fft))

    def forward(self, x):
        frames = F.conv1d(x.unsqueeze(1), self.window, stride=self.hop)
        return frames.squeeze(1) ** 2
'''


def test_a_windowed_signal_unit_is_checked_on_a_signal_long_enough(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "frames.py", FRAMES, shared_verifier)
    unit = {u.name: u for u in report.units}["Frames"]
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
