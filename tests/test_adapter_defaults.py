"""An adapter written with torch's signature keeps its defaults, translated: a dtype is MindSpore's, a
layout or memory format (arguments the adapter drops) is None. `dtype=torch.int64` in the `def` line
stopped the whole file at import (torch is not imported in a translation)."""
import ast

from agent.kb.store import load_kb
from agent.rules.engine import translate_source

SOURCE = '''\
import torch


def shuffle(n, g):
    return torch.randperm(n, generator=g).tolist()


def ordered(n):
    return torch.randperm(n).sort()[0]
'''


def test_adapter_defaults_name_no_torch():
    out = translate_source(SOURCE, load_kb(), "cpu").code
    tree = ast.parse(out)
    adapters = [f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name.startswith("_ms_")]
    assert adapters, out
    for f in adapters:
        defaults = [ast.unparse(d) for d in f.args.defaults + [d for d in f.args.kw_defaults if d is not None]]
        assert not any("torch" in d for d in defaults), (f.name, defaults)
    assert "dtype=ms.int64" in out and "layout=None" in out, out
