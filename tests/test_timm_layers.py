"""timm's layer helpers (DropPath, Mlp, PatchEmbed, Attention, Block, to_2tuple, trunc_normal_, ...), which vision
repositories import instead of writing their own, become MindSpore helpers in the translated file, and
the translation is checked against torch: timm's own where it imports, else (here: timm needs torchvision,
which has no CPU build for this torch) the KB's torch versions of those names, which the notes name."""
import hashlib
import re

import pytest

from agent.config import MigrateSettings
from agent.kb.store import load_kb
from agent.pipeline import migrate
from agent.verify.absent import References

SOURCE = '''\
import torch
import torch.nn as nn
from timm.models.layers import DropPath, to_2tuple, trunc_normal_
from timm.models.registry import register_model
from functools import partial

from timm.models.vision_transformer import Attention, Block as VitBlock, Mlp, PatchEmbed


class Block(nn.Module):
    def __init__(self, dim=8, mlp_ratio=4.0, drop_path=0.1, act_layer=nn.GELU, norm_layer=nn.LayerNorm):
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = nn.Linear(dim, dim)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(in_features=dim, hidden_features=int(dim * mlp_ratio), act_layer=act_layer, drop=0.1)
        self.pos = nn.Parameter(torch.zeros(1, 4, dim))
        trunc_normal_(self.pos, std=0.02)

    def forward(self, x):
        x = x + self.pos[:, : x.shape[1]]
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class ConvHead(nn.Module):
    def __init__(self, channels=4):
        super().__init__()
        self.mlp = Mlp(channels, 8, 6, norm_layer=nn.BatchNorm2d, bias=(True, False), use_conv=True)

    def forward(self, x):
        return self.mlp(x)


class Patches(nn.Module):
    def __init__(self, img_size=16, patch_size=4, in_chans=3, embed_dim=8):
        super().__init__()
        img_size, patch_size = to_2tuple(img_size), to_2tuple(patch_size)
        self.grid = (img_size[0] // patch_size[0], img_size[1] // patch_size[1])
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class TinyViT(nn.Module):
    def __init__(self, img_size=16, patch_size=4, dim=16, heads=2):
        super().__init__()
        self.embed = PatchEmbed(img_size, patch_size, 3, dim, bias=True)
        self.pos = nn.Parameter(torch.zeros(1, self.embed.num_patches, dim))
        trunc_normal_(self.pos, std=0.02)
        self.attn = Attention(dim, num_heads=heads, qkv_bias=True)
        self.scaled = Attention(dim, num_heads=heads, qk_norm=True, norm_layer=nn.LayerNorm, qk_scale=0.5)
        self.mlp = Mlp(dim, dim * 2, act_layer=lambda: nn.GELU(approximate="tanh"), drop=0)

    def forward(self, x):
        x = self.embed(x) + self.pos
        x = x + self.attn(x)
        causal = torch.ones(x.shape[1], x.shape[1], dtype=torch.bool).tril()
        return x + self.mlp(self.scaled(x, attn_mask=causal))


class Encoder(nn.Module):
    def __init__(self, dim=16, heads=2):
        super().__init__()
        self.blocks = nn.ModuleList([
            VitBlock(dim, heads, mlp_ratio=2.0, qkv_bias=True, qk_scale=None, norm_layer=partial(nn.LayerNorm, eps=1e-6)),
            VitBlock(dim, heads, init_values=0.5, drop_path=0.1),
        ])

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


@register_model
def tiny(**kwargs):
    return Block(8, **kwargs)
'''


@pytest.fixture(scope="module")
def migrated(tmp_path_factory, shared_verifier):
    root = tmp_path_factory.mktemp("timm")
    src = root / "src" / "nets"
    src.mkdir(parents=True)
    (src / "__init__.py").write_text("")
    (src / "vit.py").write_text(SOURCE)
    before = hashlib.sha256((src / "vit.py").read_bytes()).hexdigest()
    report = migrate(root / "src", root / "out", MigrateSettings(), verifier=shared_verifier)
    assert hashlib.sha256((src / "vit.py").read_bytes()).hexdigest() == before
    return report, (root / "out" / "nets" / "vit.py").read_text()


def test_the_translation_imports_no_timm_and_carries_the_helpers(migrated):
    _, text = migrated
    assert not re.search(r"^\s*(from|import)\s+timm\b|\btimm\.", text, re.M)
    for helper in ("class _MsDropPath", "class _MsMlp", "def _ms_ntuple", "def _ms_drop_path", "def _ms_fill_",
                   "def _ms_register_model", "class _MsPatchEmbed", "class _MsAttention", "class _MsBlock",
                   "class _MsLayerScale"):
        assert helper in text
    assert "@_ms_register_model" in text and "_ms_ntuple(2)(img_size)" in text


@pytest.mark.parametrize("name", ["Block", "ConvHead", "Patches", "TinyViT", "Encoder"])
def test_units_built_on_timm_helpers_verify_against_torch_with_a_note(migrated, name):
    report, _ = migrated
    unit = {u.name: u for u in report.units}[name]
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert unit.level == "grad", unit.reason  # the train level too: DropPath's rate zeroed on both sides
    notes = " ".join(unit.notes)
    assert "timm cannot be imported here" in notes and "timm.models.layers.DropPath" in notes, unit.notes


def test_references_run_in_an_order_that_lets_one_use_another():
    kb = load_kb()
    assert kb.references({"timm"}) == kb.references() and kb.references({"requests"}) == {}  # sent only when absent
    refs = References(kb.references())
    assert refs("timm.models.layers.to_2tuple")(3) == (3, 3)
    assert refs("timm.layers.to_2tuple")([1, 2]) == (1, 2) and refs("timm.layers.to_3tuple")("ab") == ("ab",) * 3
    mlp = refs("timm.layers.Mlp")(4, 8, bias=(True, False))
    assert mlp.fc1.bias is not None and mlp.fc2.bias is None
    assert refs("timm.layers.NotInTheKB") is None and refs("requests.get") is None
    assert refs.used == {"timm.models.layers.to_2tuple", "timm.layers.to_2tuple", "timm.layers.to_3tuple",
                         "timm.layers.Mlp"}
