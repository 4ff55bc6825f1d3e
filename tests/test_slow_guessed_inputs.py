"""A guessed input torch needs seconds for runs for minutes on MindSpore's CPU kernels (a VAE decoder fed
its latent at image size ran out of the sandbox's memory after 190 s): smaller spatial sizes are tried
first, and the slow size is kept only when nothing smaller runs."""
from agent.verify import spec_choice
from agent.verify.input_shapes import halved
from agent.verify.loader import RepoImporter, load_unit

SOURCE = '''\
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, channels=4):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


class NeedsSixteen(nn.Module):
    def __init__(self, channels=4):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        assert x.shape[-1] >= 16
        return self.conv(x)
'''


def test_spatial_axes_halve_to_at_least_four():
    assert halved([{"shape": [2, 3, 16, 12]}, {"value": 1}]) == [{"shape": [2, 3, 8, 6]}, {"value": 1}]
    assert halved([{"shape": [2, 3, 4, 4]}]) is None and halved([{"shape": [2, 8]}]) is None


def test_a_slow_guess_gives_way_to_a_smaller_one_that_runs(tmp_path, monkeypatch):
    (tmp_path / "blocks.py").write_text(SOURCE)
    monkeypatch.setattr(spec_choice, "SLOW_FORWARD", 0.0)  # every forward counts as slow here
    imp = RepoImporter(tmp_path, "torch")
    for name, side in (("Block", 4), ("NeedsSixteen", 16)):
        unit = {"module": "blocks", "name": name, "kind": "module"}
        choice = spec_choice.choose_spec(imp, unit, load_unit(imp, "blocks", name), [])
        assert choice.spec is not None, choice.tried
        assert choice.sizes[0][0]["shape"][-1] == side, (name, choice.sizes, choice.tried)
        assert any("smaller inputs tried first" in t for t in choice.tried), choice.tried
