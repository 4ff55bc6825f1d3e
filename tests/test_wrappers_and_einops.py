"""Two shapes of modern model code, checked end to end with real torch and MindSpore:

- einops: `rearrange`/`repeat`/`reduce` on tensors and einops' torch layers (`Rearrange`,
  `Reduce`) run on MindSpore through the backend helper the KB writes into the file; the
  translated file imports no torch (einops.layers.torch does);
- wrappers: `PreNorm(dim, fn)` / `Residual(fn)` take a submodule no guess can build. They are
  verified inside the repo module that builds them, with the inputs it passes them, and the report
  says so (spec source "parent")."""
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import torch
from torch import nn
from einops import rearrange, repeat, reduce
from einops.layers.torch import Rearrange, Reduce


class PreNorm(nn.Module):
    def __init__(self, dim, fn):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x, **kwargs):
        return self.fn(self.norm(x), **kwargs)


class Residual(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x) + x


class Attention(nn.Module):
    def __init__(self, dim, heads=2):
        super().__init__()
        self.heads = heads
        self.to_qkv = nn.Linear(dim, dim * 3, bias=False)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x):
        q, k, v = map(lambda t: rearrange(t, "b n (h d) -> b h n d", h=self.heads), self.to_qkv(x).chunk(3, dim=-1))
        attn = (torch.matmul(q, k.transpose(-1, -2)) * q.shape[-1] ** -0.5).softmax(dim=-1)
        return self.to_out(rearrange(torch.matmul(attn, v), "b h n d -> b n (h d)"))


class Mixer(nn.Module):
    def __init__(self, image_size, patch_size, dim, depth, num_classes):
        super().__init__()
        self.cls = nn.Parameter(torch.randn(1, 1, dim))
        self.embed = nn.Sequential(
            Rearrange("b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=patch_size, p2=patch_size),
            nn.Linear(patch_size * patch_size * 3, dim))
        self.layers = nn.ModuleList([Residual(PreNorm(dim, Attention(dim))) for _ in range(depth)])
        self.head = nn.Sequential(Reduce("b n d -> b d", "mean"), nn.Linear(dim, num_classes))

    def forward(self, img):
        x = self.embed(img)
        cls = repeat(self.cls, "() n d -> b n d", b=x.shape[0])
        x = torch.cat([cls, x], dim=1)
        for layer in self.layers:
            x = layer(x)
        return self.head(x) + reduce(x, "b n d -> b ()", "max")
'''

USE = '''\
from model import Mixer

net = Mixer(image_size=8, patch_size=4, dim=8, depth=2, num_classes=3)
'''


def test_einops_and_wrapper_modules_verify(tmp_path, shared_verifier):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text(USE)
    report, out = migrate_one_file(tmp_path, "model.py", SOURCE, shared_verifier)
    assert "import torch" not in out and "from einops.layers.torch" not in out
    assert "class _MsEinops(" in out and "_MsEinops.Rearrange(" in out and "einops.rearrange(" in out
    units = {u.name: u for u in report.units}
    for name in ("Attention", "Mixer", "PreNorm", "Residual"):
        assert units[name].status == "verified-by-rules", (name, units[name].status, units[name].reason)
    # the wrappers were built by the repo module that contains them, and the report says which
    for name in ("PreNorm", "Residual"):
        spec = units[name].spec
        assert spec["source"] == "parent" and spec["init"].startswith("__msagent_part__(Mixer("), spec


FUNCTIONS_ONLY = '''\
import torch
from torch import nn
from einops import rearrange


class Heads(nn.Module):
    def __init__(self, dim, heads=2):
        super().__init__()
        self.heads = heads
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        t = rearrange(self.proj(x), "b n (h d) -> b h n d", h=self.heads)
        return rearrange(t.softmax(dim=-1), "b h n d -> b n (h d)")
'''


def test_einops_functions_alone_get_the_backend(tmp_path, shared_verifier):
    """A file that calls einops' functions and uses none of its layers still gets the backend class:
    einops finds MindSpore tensors through its definition, which no call names."""
    report, out = migrate_one_file(tmp_path, "heads.py", FUNCTIONS_ONLY, shared_verifier)
    assert "class _MsEinops(" in out
    unit = next(u for u in report.units if u.name == "Heads")
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
