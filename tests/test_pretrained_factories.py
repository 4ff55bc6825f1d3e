"""A model zoo's factory loads pretrained weights only when asked (`if pretrained:
model.load_state_dict(...)`, pretrained=False by default): it is a unit checked as the model it builds,
not training code; a function that trains stays out of verification. Real torch and MindSpore."""
from agent.scan.units import find_units
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn

URL = "https://example.invalid/net.pth"


class Net(nn.Module):
    def __init__(self, width=8, num_classes=4):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.fc(self.body(x).flatten(1))


def net_small(pretrained=False, **kwargs):
    model = Net(width=8, **kwargs)
    if pretrained:
        model.load_state_dict(torch.hub.load_state_dict_from_url(URL, progress=True))
    return model


def fit(model, batches, lr=0.1):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for x, y in batches:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
'''


def test_factory_with_a_pretrained_branch_is_a_unit():
    import ast

    units = {u.name: u for u in find_units("zoo.py", "zoo", ast.parse(SOURCE), {"Net"})}
    assert units["net_small"].skip_reason == ""
    assert "training or data code" in units["fit"].skip_reason


def test_factory_verifies_as_the_model_it_builds(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "zoo.py", SOURCE, shared_verifier)
    unit = next(u for u in report.units if u.name == "net_small")
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
