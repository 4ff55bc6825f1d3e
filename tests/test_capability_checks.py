"""How real libraries ask torch what it can do: `hasattr(F, "scaled_dot_product_attention")` to pick a
fused path, `getattr(getattr(torch, "compiler", None), "disable", None) or fallback` for a decorator,
`hasattr(torch, "float8_e4m3fn")` for a dtype, `t.device.type` and `torch.is_autocast_enabled(...)` to
decide on precision, `with torch.autocast(..., enabled=False):` to keep a region in float32. Each
answers for the translation (a name the KB maps is there, one it does not is not; autocast is never on
in eager MindSpore), the file imports, and the model verifies on real torch and MindSpore. The
`try: from torch import x` / `except ImportError: def x(...)` idiom keeps its stand-in: with the torch
import gone, the try body raises ImportError so the stand-in is defined."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn
import torch.nn.functional as F

FUSED = hasattr(F, "scaled_dot_product_attention")
HAS_FLOAT8 = hasattr(torch, "float8_e4m3fn")  # torch 2.13 has it; the translation has no such dtype
compile_off = getattr(getattr(torch, "compiler", None), "disable", None) or (lambda fn: fn)


class Attention(nn.Module):
    def __init__(self, dim=16, heads=2):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    @compile_off
    def forward(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        if torch.is_autocast_enabled(x.device.type):
            q, k = q.half(), k.half()
        with torch.autocast(device_type=x.device.type, enabled=False):
            if FUSED:
                y = F.scaled_dot_product_attention(q, k, v)
            else:
                y = torch.softmax(q @ k.transpose(-2, -1) * (c // self.heads) ** -0.5, dim=-1) @ v
        return self.proj(y.transpose(1, 2).reshape(b, n, c))
'''


def test_capability_checks_answer_for_the_translation(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "attn.py", SOURCE, shared_verifier)
    assert "FUSED = True" in out and "HAS_FLOAT8 = False" in out, out
    assert "compile_off = _ms_keep or" in out, out
    assert ".device.type" not in out, out
    assert not [m for f in report.files for m in f.markers], [f.markers for f in report.files]
    assert_verified(report, ["Attention"])


FALLBACKS = '''\
import torch
import torch.nn as nn

try:
    from torch import _assert
except ImportError:
    def _assert(condition, message):
        assert condition, message

try:
    from torch.nn.functional import channel_shuffle  # torch has it; the KB maps no counterpart
except ImportError:
    def channel_shuffle(x, groups):
        b, c, h, w = x.shape
        return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class Shuffle(nn.Module):
    def __init__(self, channels=8, groups=2):
        super().__init__()
        self.groups = groups
        self.conv = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        _assert(x.shape[1] % self.groups == 0, "channels divisible by groups")
        return channel_shuffle(self.conv(x), self.groups)
'''


def test_other_try_statements_are_left_as_they_are():
    from agent.kb.store import load_kb
    from agent.rules.engine import translate_source

    source = ("import torch\n\n\ndef fetch(url, retries=3):\n    try:\n        import requests\n"
              "    except ImportError:\n        requests = None\n    while retries:\n        try:\n"
              "            for _ in range(2):\n                retries -= 1\n        except Exception:\n"
              "            raise\n    return torch.zeros(retries)\n")
    out = translate_source(source, load_kb(), "cpu").code
    assert "raise ImportError" not in out and "import requests" in out and "for _ in range(2):" in out, out


def test_a_guard_that_torch_is_installed_is_no_stand_in():
    # `except: raise ImportWarning("install torch")` only refuses: the translation imports MindSpore at
    # the top, its try body stays empty and the file imports
    from agent.kb.store import load_kb
    from agent.rules.engine import translate_source

    source = ("try:\n    import torch\nexcept:\n    raise ImportWarning('PyTorch is not installed')\n"
              "import torch.nn as nn\n\n\nclass A(nn.Module):\n    def forward(self, x):\n"
              "        return torch.tanh(x)\n")
    out = translate_source(source, load_kb(), "cpu").code
    assert "raise ImportError" not in out and "try:\n    pass\n" in out, out
    namespace: dict = {}
    exec(compile(out, "guard.py", "exec"), namespace)
    import mindspore as ms
    import numpy as np

    x = np.linspace(-2, 2, 6, dtype=np.float32)
    np.testing.assert_allclose(namespace["A"]()(ms.Tensor(x)).asnumpy(), np.tanh(x), rtol=1e-5)


def test_import_fallbacks_still_define_their_names(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "fallbacks.py", FALLBACKS, shared_verifier)
    assert out.count("raise ImportError(") == 2, out  # each try body, its torch import gone, falls through
    assert "def _assert(" in out and "def channel_shuffle(" in out, out  # the stand-ins keep their names
    assert_verified(report, ["Shuffle"])


def test_autocast_dtype_queries_answer_torchs_defaults():
    """`torch.get_autocast_dtype(device)` (and the per-device older names) answer the dtype torch gives
    for each device kind, as MindSpore dtypes: code that casts to it keeps torch's precision choice."""
    import mindspore as ms
    import torch

    from agent.kb.store import load_kb
    from agent.rules.engine import translate_source

    source = ("import torch\n\n\ndef amp(device):\n    return torch.get_autocast_dtype(device)\n\n\n"
              "def old(device):\n    return torch.get_autocast_cpu_dtype() if device == 'cpu' else torch.get_autocast_gpu_dtype()\n")
    result = translate_source(source, load_kb(), "cpu")
    assert not result.markers and "torch" not in result.code.replace("torch_", "")
    ns: dict = {}
    exec(compile(result.code, "amp.py", "exec"), ns)
    for device in ("cpu", "cuda", "xpu", "mps", "hpu", "xla"):
        want = str(torch.get_autocast_dtype(device)).removeprefix("torch.")
        assert str(ns["amp"](device)).lower() == want, device
        assert ns["amp"](device) in (ms.float16, ms.bfloat16)
    for device in ("cpu", "cuda"):
        assert str(ns["old"](device)).lower() == str(torch.get_autocast_dtype(device)).removeprefix("torch.")


OPTIONAL_MODULE = '''\
import torch
import torch.nn as nn
try:
    import torch.fft as new_fft
except ImportError:
    new_fft = None


def _new_rfft(x):
    return torch.view_as_real(new_fft.rfft(x, dim=-1))


def _old_rfft(x):
    return torch.rfft(x, 1)


if new_fft is None:
    _rfft = _old_rfft
else:
    _rfft = _new_rfft


class Power(nn.Module):
    def forward(self, x):
        return _rfft(x).pow(2).sum(-1)
'''


def test_a_guarded_module_import_keeps_the_branch_that_uses_the_module(tmp_path, shared_verifier):
    # `except ImportError: new_fft = None` stands in None for the module, and `if new_fft is None` would
    # then take the removed `torch.rfft` path; the KB maps names under torch.fft, so the check answers
    # False and the translation keeps the branch its calls were converted for
    report, out = migrate_one_file(tmp_path, "power.py", OPTIONAL_MODULE, shared_verifier)
    assert "if False:" in out and "new_fft is None is False here" in out, out
    assert_verified(report, ["Power"], level=None)
