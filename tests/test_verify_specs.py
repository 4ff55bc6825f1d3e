"""Spec discovery from the user's config and from the repository's own code (no torch needed)."""
import textwrap
from pathlib import Path

from agent.verify.specs import find_repo_specs


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return root


def unit(module, name):
    return {"module": module, "name": name, "kind": "module"}


def test_user_spec_then_repo_instantiations(tmp_path):
    root = write(tmp_path, {
        "pyproject.toml": """
            [tool.msagent.verify."pkg.models.Fusion"]
            init = "Fusion(dim=16)"
            inputs = [[{shape=[2,16], dtype="float32"}, {shape=[2,16], dtype="float32"}]]
        """,
        "pkg/__init__.py": "",
        "pkg/models.py": """
            import torch.nn as nn
            class Fusion(nn.Module):
                def __init__(self, dim): super().__init__()
            class Bottleneck(nn.Module):
                def __init__(self, a, b, stride=1): super().__init__()
            def make():
                return Bottleneck(64, 256, stride=2), Bottleneck(self_channels, 4)
        """,
        "run.py": "from pkg.models import Fusion\nm = Fusion(dim=-4)\n",
    })
    specs = find_repo_specs(root, [unit("pkg.models", "Fusion"), unit("pkg.models", "Bottleneck")])
    fusion = specs["pkg.models.Fusion"]
    assert fusion[0] == {"source": "user", "init": "Fusion(dim=16)",
                         "inputs": [[{"shape": [2, 16], "dtype": "float32"}, {"shape": [2, 16], "dtype": "float32"}]]}
    assert fusion[1]["init"] == "Fusion(dim=-4)" and fusion[1]["source"] == "repo"
    # a call with a non-literal argument is not a spec
    assert [s["init"] for s in specs["pkg.models.Bottleneck"]] == ["Bottleneck(64, 256, stride=2)"]


def test_dataclass_config_argparse_default_and_qualified_names(tmp_path):
    root = write(tmp_path, {
        "msagent.toml": '[verify."gpt.model.GPT"]\ninit = "GPT(GPTConfig(n_layer=1))"\n',
        "gpt/__init__.py": "",
        "gpt/config.py": """
            from dataclasses import dataclass, field
            @dataclass
            class GPTConfig:
                n_layer: int = 2
                n_embd: int = 32
                bias: bool = field(default=True)
        """,
        "gpt/model.py": """
            import torch.nn as nn
            class GPT(nn.Module):
                def __init__(self, config): super().__init__()
            class Net(nn.Module):
                def __init__(self, hidden=8): super().__init__()
        """,
        "train.py": """
            import argparse
            from gpt.model import GPT, Net
            from gpt.config import GPTConfig
            def main():
                parser = argparse.ArgumentParser()
                parser.add_argument('--hidden-size', dest='hidden', type=int, default=64)
                opt = parser.parse_args()
                cfg = GPTConfig()
                model = GPT(cfg)
                net = Net(hidden=opt.hidden)
        """,
    })
    specs = find_repo_specs(root, [unit("gpt.model", "GPT"), unit("gpt.model", "Net")])
    gpt = specs["gpt.model.GPT"]
    assert gpt[0]["source"] == "user"
    # GPTConfig is not bound in gpt.model: qualified, and its defaults spelled out
    assert gpt[1]["init"] == "GPT(gpt.config.GPTConfig(n_layer=2, n_embd=32, bias=True))"
    assert specs["gpt.model.Net"][0]["init"] == "Net(hidden=64)"
