"""A model built from one config object that is not a dataclass (`GPTConfig(vocab_size, block_size,
**kwargs)` setting attributes, an argparse Namespace, a YAML file read into an object) gets a namespace of
every attribute its module reads off that parameter, each guessed by name: before, no constructor was
tried at all and every unit of such a file needed a spec."""
from agent.verify.config_objects import config_inits
from tests.support.one_file import load_source, migrate_one_file

SOURCE = '''\
import torch
from torch import nn


class ModelConfig:
    def __init__(self, vocab_size, block_size, **kwargs):
        self.vocab_size, self.block_size = vocab_size, block_size
        for k, v in kwargs.items():
            setattr(self, k, v)


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        self.n_head = config.n_head
        self.ln = nn.LayerNorm(config.n_embd)
        self.fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.proj = nn.Linear(4 * config.n_embd, config.n_embd)
        self.drop = nn.Dropout(config.resid_pdrop)

    def forward(self, x):
        return x + self.drop(self.proj(torch.relu(self.fc(self.ln(x)))))


class Net(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.args = args
        self.emb = nn.Embedding(args.vocab_size, args.n_embd)
        self.blocks = nn.Sequential(*[Block(args) for _ in range(args.n_layer)])
        self.head = nn.Linear(args.n_embd, args.vocab_size, bias=False)

    def forward(self, idx):
        return self.head(self.blocks(self.emb(idx)))
'''


def test_the_namespace_holds_what_the_module_reads(tmp_path):
    module = load_source(tmp_path, "gpt.py", SOURCE)
    (init,) = config_inits("Block", module.Block, "config")
    assert init == ("Block(config=__import__('types').SimpleNamespace(n_head=2, n_embd=16, resid_pdrop=0.0, "
                    "vocab_size=50, n_layer=2))"), init


def test_models_taking_a_config_object_verify(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "gpt.py", SOURCE, shared_verifier)
    units = {u.name: u for u in report.units}
    for name in ("Block", "Net"):
        assert units[name].status == "verified-by-rules", (name, units[name].status, units[name].reason)
        assert "SimpleNamespace(" in units[name].spec["init"], units[name].spec
