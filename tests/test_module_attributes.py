"""An attribute of self that a module-only method is called on (`self.backbone.modules()`) is a module
wherever the file calls methods on it: a backbone passed to the constructor is put in eval mode with
MindSpore's `set_train(False)`, not left as torch's `.eval()`, which a MindSpore cell does not have."""
from agent.kb.store import load_kb
from agent.rules.engine import translate_source
from agent.scan.names import scan_names

SOURCE = '''\
import torch
from torch import nn


class Embed(nn.Module):
    def __init__(self, backbone, dim=8):
        super().__init__()
        self.backbone = backbone
        with torch.no_grad():
            training = [(m, m.training) for m in self.backbone.modules()]
            self.backbone.eval()
            o = self.backbone(torch.zeros(1, 3, 8, 8))
        self.proj = nn.Linear(o.shape[-1], dim)

    def forward(self, x):
        return self.proj(self.backbone(x))
'''


def test_an_attribute_with_module_only_methods_is_a_module():
    assert scan_names(SOURCE).module_attrs == {"backbone"}
    out = translate_source(SOURCE, load_kb(), "cpu").code
    assert "self.backbone.set_train(mode=False)" in out and ".eval()" not in out, out
    assert "self.backbone.cells_and_names()" in out, out
