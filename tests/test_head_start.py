"""The first lane's sides start while the rules translate (agent.repair.lanes.HeadStart): the lane uses
that verifier when its cores are the ones the run settles on, starts its own otherwise, and every
verifier made is closed at the end. Starting early does not open OUT/.msagent to the candidate side."""
from __future__ import annotations

import textwrap

import agent.repair.lanes as lanes
from agent.config import MigrateSettings
from agent.pipeline import migrate

MLP = textwrap.dedent("""\
    import torch
    from torch import nn


    class Mlp(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            return torch.relu(self.fc(x))
    """)

# counts what it sees of its own folder's .msagent: nothing in SRC; on the candidate side OUT/.msagent
# holds the journal unless the sandbox hides it
PEEK = textwrap.dedent("""\
    import os

    import torch
    from torch import nn

    _HERE = os.path.dirname(os.path.abspath(__file__))
    _SEEN = len(os.listdir(os.path.join(_HERE, ".msagent"))) if os.path.isdir(os.path.join(_HERE, ".msagent")) else 0


    class Peek(nn.Module):
        def forward(self, x):
            return x * 2 + _SEEN
    """)


def _counting(monkeypatch) -> list:
    made, real = [], lanes.verifier_for

    def verifier_for(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(lanes, "verifier_for", verifier_for)
    return made


def test_the_lane_uses_the_verifier_started_before_the_rules(tmp_path, monkeypatch):
    made = _counting(monkeypatch)
    src = tmp_path / "src"
    src.mkdir()
    (src / "mlp.py").write_text(MLP)
    (src / "peek.py").write_text(PEEK)
    report = migrate(src, tmp_path / "out", MigrateSettings(jobs=1))
    assert [(u.name, u.status) for u in report.units] == [("Mlp", "verified-by-rules"), ("Peek", "verified-by-rules")]
    assert len(made) == 1  # the head start's, taken by the lane: no second start
    assert not made[0].ref.alive and not made[0].cand.alive
    assert (tmp_path / "out" / ".msagent" / "journal.jsonl").is_file()  # there, and hidden from the unit


def test_a_head_start_on_other_cores_is_closed_and_the_lane_starts_its_own(tmp_path, monkeypatch):
    made = _counting(monkeypatch)
    src = tmp_path / "src"
    src.mkdir()
    (src / "mlp.py").write_text(MLP)
    (src / "constants.py").write_text("WIDTH = 4\n")  # a Python file without units: the head start counts it
    report = migrate(src, tmp_path / "out", MigrateSettings(jobs=2))
    assert [(u.name, u.status) for u in report.units] == [("Mlp", "verified-by-rules")]
    declined = lanes.lane_cpus(0, 2) != lanes.lane_cpus(0, 1)  # pinned for two lanes, the run has one
    assert len(made) == (2 if declined else 1)
    assert all(not v.ref.alive and not v.cand.alive for v in made)
