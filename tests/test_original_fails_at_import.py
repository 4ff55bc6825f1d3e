"""A file whose torch original also fails at import (a dataclass default Python 3.11 rejects) does not
import as the user runs it under either framework: its units are not exercised, with the statement named,
not failed with the blame on the translation and a repair asked for. A file only the translation breaks
still fails (tests/test_hostile_repo.py)."""
from agent.verify.failures import original_fails_too
from tests.support.one_file import migrate_one_file

SOURCE = '''\
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Inner:
    width: int = 8


@dataclass
class Outer:
    inner: Inner = Inner()


class Block(nn.Module):
    def __init__(self, dim: int = 8):
        super().__init__()
        self.fc = nn.Linear(dim, dim)

    def forward(self, x):
        return torch.relu(self.fc(x))
'''


def test_units_of_a_file_the_original_cannot_import_are_not_exercised(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "blocks.py", SOURCE, shared_verifier)
    (unit,) = [u for u in report.units if u.name == "Block"]
    assert unit.status == "not-exercised", (unit.status, unit.reason)
    assert "the torch original does not import either: blocks.py, the statement at line 13" in unit.reason, unit.reason
    assert "ValueError" in unit.reason and "LLM" not in unit.reason


def test_matching_needs_the_same_statement_and_exception(tmp_path):
    (tmp_path / "pt").mkdir()
    (tmp_path / "ms").mkdir()
    (tmp_path / "pt" / "m.py").write_text("import torch\n\nA = 1\n\n\n@dec\nclass B:\n    pass\n")
    (tmp_path / "ms" / "m.py").write_text("import mindspore\n\n\nA = 1\n\n\n@dec\nclass B:\n    pass\n")
    load = {"error": "import", "where": "m.py:7", "reason": "m.py:7: NameError: name 'dec' is not defined"}
    errors = [{"file": "m.py", "line": 7, "error": "NameError(\"name 'dec' is not defined\")"}]
    assert "line 7" in original_fails_too(load, errors, str(tmp_path / "pt"), str(tmp_path / "ms"))
    other = [{"file": "m.py", "line": 3, "error": "NameError(\"name 'x' is not defined\")"}]  # another statement
    assert original_fails_too(load, other, str(tmp_path / "pt"), str(tmp_path / "ms")) is None
    kind = [{"file": "m.py", "line": 7, "error": "TypeError('bad')"}]  # another exception
    assert original_fails_too(load, kind, str(tmp_path / "pt"), str(tmp_path / "ms")) is None


def test_a_helper_frame_does_not_hide_the_statement(tmp_path):
    """The deepest frame is a helper's (a stand-in's `__getattr__`): the frames above it name the statement."""
    (tmp_path / "pt").mkdir()
    (tmp_path / "ms").mkdir()
    (tmp_path / "pt" / "m.py").write_text("import tv\n\nif tv.__version__ < '0.7':\n    from tv import f\n")
    (tmp_path / "ms" / "m.py").write_text("class Stand:\n    def __getattr__(self, a):\n        raise AttributeError(a)\n\n\n"
                                          "tv = Stand()\nif tv.__version__ < '0.7':\n    f = tv.f\n")
    load = {"error": "import", "where": "m.py:3", "frames": ["m.py:7", "m.py:3"],
            "reason": "m.py:3: AttributeError: __version__"}
    errors = [{"file": "m.py", "line": 3, "error": "AttributeError('__version__')"}]
    assert "line 3" in original_fails_too(load, errors, str(tmp_path / "pt"), str(tmp_path / "ms"))
    assert original_fails_too(dict(load, frames=[]), errors, str(tmp_path / "pt"), str(tmp_path / "ms")) is None
