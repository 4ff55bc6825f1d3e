"""Data pipeline classes a repo derives from (an IterableDataset streaming shards, a custom Sampler)
become plain classes, as a map-style Dataset does: MindSpore's GeneratorDataset takes any iterable as
its source and its sampler. Left as torch names, the class statement stopped the file at import, and
with it every file of a package whose __init__ imports its data module."""
from agent.kb.store import load_kb
from agent.rules.engine import translate_source

SOURCE = '''\
import torch
import torch.utils.data as data
from torch.utils.data import Sampler


class Stream(data.IterableDataset):
    def __iter__(self):
        yield torch.zeros(2)


class EvenSampler(Sampler):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(0, self.n, 2))
'''


def test_iterable_datasets_and_samplers_become_plain_classes():
    out = translate_source(SOURCE, load_kb(), "cpu").code
    assert "class Stream(object):" in out and "class EvenSampler(object):" in out, out
    assert "torch" not in out and "msagent:" not in out, out
    namespace: dict = {}
    exec(compile(out.replace("import mindspore as ms\n", "").replace("from mindspore import ops\n", ""),
                 "<translated>", "exec"), {"ops": None, "ms": None}, namespace)
    assert list(namespace["EvenSampler"](5)) == [0, 2, 4]
