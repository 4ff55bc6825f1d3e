"""A unit verified in the processes its file's earlier units used, that MindSpore fails with an internal
error of its runtime (state an earlier unit left there), is judged once more in fresh processes; the
notes say so. A unit that fails the same way in fresh processes still fails. Real torch and real
MindSpore; the fixture's MindSpore file keeps the state in a module global, as a runtime would."""

TORCH = '''\
import torch.nn as nn


class First(nn.Module):
    def forward(self, x):
        return x * 2


class Second(nn.Module):
    def forward(self, x):
        return x + 1


class Indexed(nn.Module):
    def forward(self, x):
        return x[0]


class Always(nn.Module):
    def forward(self, x):
        return x - 1
'''

MINDSPORE = '''\
from mindspore import nn

STATE = []


class First(nn.Cell):
    def construct(self, x):
        STATE.append(1)
        return x * 2


class Second(nn.Cell):
    def construct(self, x):
        if STATE:
            raise RuntimeError("For LayerNormGrad, the index 7 is out of range of input num 7\\n"
                               "- Framework Unexpected Exception Raised:")
        return x + 1


class Indexed(nn.Cell):
    def construct(self, x):
        if STATE:
            raise TypeError("Only support integers, slices(`:`), ellipsis(`...`), None, bool, tensor, int, list and "
                            "tuple as index, but got 0 with type <class 'int'>")
        return x[0]


class Always(nn.Cell):
    def construct(self, x):
        raise RuntimeError("- Framework Unexpected Exception Raised: a fault of every process")
'''


def _unit(name):
    return {"file": "faults.py", "module": "faults", "name": name, "kind": "module"}


def test_a_runtime_fault_left_by_an_earlier_unit_is_judged_again_in_fresh_processes(tmp_path):
    from agent.kb.store import load_kb
    from tests.support.verify import shared

    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    (src / "faults.py").write_text(TORCH)
    (out / "faults.py").write_text(MINDSPORE)
    v, kb = shared(), load_kb()
    specs = [{"unit": n, "init": {}, "inputs": [[{"shape": [2, 4], "dtype": "float32"}]]}
             for n in ("First", "Second", "Indexed", "Always")]
    reuse = ("faults.py", ("faults.py", 0))
    results = {n: v.verify(str(src), str(out), _unit(n), specs, kb=kb, seeds=(0,), reuse=reuse)
               for n in ("First", "Second", "Always")}
    assert results["First"]["status"] == "verified", results["First"]["reason"]
    second = results["Second"]
    assert second["status"] == "verified", second["reason"]
    assert any("fresh processes" in n for n in second["notes"]), second["notes"]
    # a plain int refused as an index: MindSpore's state, not the code (new MindSpore processes for the pair)
    again = ("faults.py", ("faults.py", 1))
    first, indexed = (v.verify(str(src), str(out), _unit(n), specs, kb=kb, seeds=(0,), reuse=again)
                      for n in ("First", "Indexed"))
    assert first["status"] == "verified", first["reason"]
    assert indexed["status"] == "verified" and any("fresh processes" in n for n in indexed["notes"]), indexed
    always = results["Always"]
    assert always["status"] == "failed" and "Framework Unexpected Exception" in always["reason"], always
