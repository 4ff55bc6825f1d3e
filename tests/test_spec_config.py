"""A model built from one config object and instantiated nowhere in the repo: the verifier builds it
from the dataclasses of its module, small first (layers 2, heads 2, widths 16), as real GPT-style
repos need."""
from agent.config import MigrateSettings
from agent.pipeline import migrate

MODEL = '''\
from dataclasses import dataclass

import torch
import torch.nn as nn


@dataclass
class TinyConfig:
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    vocab_size: int = 50304
    bias: bool = True


class Net(nn.Module):
    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        self.emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.blocks = nn.ModuleList([nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
                                     for _ in range(config.n_layer)])

    def forward(self, idx):
        x = self.emb(idx)
        for b in self.blocks:
            x = torch.relu(b(x))
        return x
'''



def test_config_object_built_small_from_the_module_dataclass(tmp_path, shared_verifier):
    src = tmp_path / "src"
    src.mkdir()
    (src / "gpt.py").write_text(MODEL)
    report = migrate(src, tmp_path / "out", MigrateSettings(), verifier=shared_verifier)
    (unit,) = report.units
    assert unit.status == "verified-by-rules", unit.reason
    assert unit.spec["init"].startswith("Net(config=TinyConfig(")
    assert "n_layer=2" in unit.spec["init"] and "n_embd=16" in unit.spec["init"]
