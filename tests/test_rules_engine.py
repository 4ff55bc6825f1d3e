"""Before/after tests of the rules engine (LibCST codemod style) against a small fixture KB.

Each case is the torch source a user writes and the MindSpore source the rules must produce;
look-alikes on non-torch objects must come out unchanged.
"""
from pathlib import Path
from textwrap import dedent

import libcst as cst
import pytest

from agent.kb.store import load_kb
from agent.rules.engine import translate_source

KB_DIR = Path(__file__).parent / "fixtures" / "kb"


@pytest.fixture(scope="module")
def kb():
    return load_kb(str(KB_DIR))


def check(kb, before: str, after: str, device: str = "cpu"):
    result = translate_source(dedent(before), kb, device)
    assert result.code == dedent(after)
    cst.parse_module(result.code)  # the output always parses
    return result


def test_module_imports_and_forward(kb):
    check(kb, """\
        import torch
        import torch.nn as nn


        class Net(nn.Module):  # a tiny net
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 2)

            def forward(self, x: torch.Tensor):
                return self.fc(x)
        """, """\
        import mindspore as ms
        from mindspore import nn


        class Net(nn.Cell):  # a tiny net
            def __init__(self):
                super().__init__()
                self.fc = nn.Dense(4, 2)

            def construct(self, x: ms.Tensor):
                return self.fc(x)
        """)


@pytest.mark.parametrize("call, expected", [
    # all positional
    ("nn.Conv2d(3, 8, 3, 1, 1, 1, 1, False)",
     "nn.Conv2d(3, 8, 3, 1, padding=1, dilation=1, group=1, has_bias=False, pad_mode='pad')"),
    # all keyword
    ("nn.Conv2d(in_channels=3, out_channels=8, kernel_size=3, padding=1, bias=False)",
     "nn.Conv2d(in_channels=3, out_channels=8, kernel_size=3, padding=1, has_bias=False, pad_mode='pad')"),
    # keywords out of order
    ("nn.Conv2d(3, 8, bias=False, kernel_size=3, groups=2)",
     "nn.Conv2d(3, 8, has_bias=False, kernel_size=3, group=2, pad_mode='pad')"),
    # defaults omitted: MindSpore's different defaults are made explicit
    ("nn.Conv2d(3, 8, 3)", "nn.Conv2d(3, 8, 3, pad_mode='pad', has_bias=True)"),
    # torch's default padding mode is dropped, another one is not supported
    ("nn.Conv2d(3, 8, 3, padding_mode='zeros')", "nn.Conv2d(3, 8, 3, pad_mode='pad', has_bias=True)"),
])
def test_conv2d_four_call_shapes(kb, call, expected):
    src = f"import torch.nn as nn\nm = {call}\n"
    out = translate_source(src, kb).code
    assert out == f"from mindspore import nn\nm = {expected}\n"


def test_unsupported_argument_is_marked_not_guessed(kb):
    r = translate_source("import torch.nn as nn\nm = nn.Conv2d(3, 8, 3, padding_mode='reflect')\n", kb)
    assert "nn.Conv2d(3, 8, 3, padding_mode='reflect')" in r.code
    assert "# msagent: torch.nn.Conv2d: argument padding_mode='reflect' not supported" in r.code
    # torch is not imported, and `nn` stays unbound so the marked call fails loudly if it runs
    assert "import torch" not in r.code and "import nn" not in r.code
    assert "torch is not imported; nn still referenced by unconverted code" in r.code
    assert r.api_calls == 1 and r.api_converted == 0 and r.uses_torch


def test_call_that_does_not_fit_the_signature_is_marked(kb):
    r = translate_source("import torch\ny = torch.cat([a, b], 1, 2, 3)\n", kb)
    assert "torch.cat([a, b], 1, 2, 3)" in r.code
    assert any("too many positional arguments" in m.reason for m in r.markers)


def test_value_transforms_and_defaults(kb):
    check(kb, """\
        from torch import nn
        a = nn.BatchNorm2d(16, momentum=0.2)
        b = nn.BatchNorm2d(16)
        p = nn.MaxPool2d(2)
        q = nn.MaxPool2d(3, stride=None)
        """, """\
        from mindspore import nn
        a = nn.BatchNorm2d(16, momentum=0.8)
        b = nn.BatchNorm2d(16, momentum=0.9)
        p = nn.MaxPool2d(2, stride=2)
        q = nn.MaxPool2d(3, stride=3)
        """)


@pytest.mark.parametrize("imports, ref", [
    ("import torch.nn.functional as F", "F.relu"),
    ("from torch.nn import functional", "functional.relu"),
    ("from torch.nn import functional as Fn", "Fn.relu"),
    ("import torch", "torch.nn.functional.relu"),
    ("from torch.nn.functional import relu", "relu"),
    ("from torch.nn.functional import relu as act", "act"),
])
def test_every_import_style_resolves(kb, imports, ref):
    out = translate_source(f"{imports}\ny = {ref}(x, inplace=True)\n", kb).code
    assert out == "from mindspore import ops\ny = ops.relu(x)\n"


def test_tensor_methods_on_known_tensors(kb):
    check(kb, """\
        import torch


        def f(x: torch.Tensor, device):
            y = torch.cat([x, x], dim=1)
            y.add_(1.0)
            n = y.size(0)
            s = y.size()
            z = y.repeat(2, 1).to(device)
            w = torch.zeros(2, 3, dtype=torch.float32).cuda()
            return z.view(n, -1).to(torch.float32), s, w
        """, """\
        import mindspore as ms
        from mindspore import ops


        def f(x: ms.Tensor, device):
            y = ops.cat([x, x], axis=1)
            y = y.add(1.0)
            n = y.shape[0]
            s = y.shape
            z = y.tile((2, 1))
            w = ops.zeros((2, 3), dtype=ms.float32)
            return z.view(n, -1).astype(ms.float32), s, w
        """)


LOOKALIKES = """\
import numpy as np
import torch


class Frame:
    def size(self):
        return 3

    def cuda(self):
        return self


def g(arr: np.ndarray, frame: Frame, items: list, table: dict, qty):
    v = arr.view(np.float32)
    t = arr.transpose(1, 0)
    n = frame.size()
    frame.cuda()
    items.repeat(2, 1)
    table.add_(1)
    m = qty.to("meter")
    return v, t, n, m, torch.float32
"""


def test_lookalikes_on_other_objects_are_left_alone(kb):
    out = translate_source(LOOKALIKES, kb).code
    body_in = LOOKALIKES.split("def g", 1)[1].splitlines()[:-1]
    body_out = out.split("def g", 1)[1].splitlines()[:-1]
    assert body_in == body_out
    assert out.rstrip().endswith("return v, t, n, m, ms.float32")


def test_file_without_torch_is_byte_identical(kb):
    src = "import numpy as np\n\n\ndef f(a):  # note\n    return a.view(np.int8).size\n"
    assert translate_source(src, kb).code == src


def test_inplace_keeps_aliasing_and_its_value(kb):
    check(kb, """\
        import torch


        def f(x: torch.Tensor, w: torch.Tensor):
            alias = x
            x.add_(1)
            y = w.add_(2)
            z = torch.zeros(3).add_(x)
            return alias, y, z
        """, """\
        import mindspore as ms
        from mindspore import ops


        def f(x: ms.Tensor, w: ms.Tensor):
            alias = x
            x.copy_(x.add(1))
            y = w.copy_(w.add(2))
            z = ops.zeros(3).add(x)
            return alias, y, z
        """)


def test_module_methods_and_sequential(kb):
    check(kb, """\
        import torch.nn as nn

        model = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))
        model.eval()
        model = model.to("cuda")
        """, """\
        from mindspore import nn

        model = nn.SequentialCell(nn.Dense(4, 8), nn.Dense(8, 2))
        model.set_train(mode=False)
        """)


def test_device_decides_the_target(kb):
    cpu = translate_source("import torch.nn as nn\nm = nn.Linear(4, 2)\n", kb, "cpu").code
    ascend = translate_source("import torch.nn as nn\nm = nn.Linear(4, 2)\n", kb, "ascend").code
    assert "nn.Dense(4, 2)" in cpu
    assert "mint.nn.Linear(4, 2)" in ascend and "from mindspore import mint" in ascend


def test_unmapped_api_is_marked_with_reason(kb):
    r = translate_source("import torch\n\n\ndef f(x: torch.Tensor):\n    return torch.fft.rfft(x)\n", kb)
    assert "# msagent: no MindSpore mapping for torch.fft.rfft (cpu)" in r.code
    assert r.api_marked == 1


def test_whole_call_template_and_its_imports(kb):
    check(kb, """\
        import torch.nn as nn


        def init(m):
            nn.init.constant_(m.bias, val=0.0)
        """, """\
        from mindspore.common import initializer


        def init(m):
            m.bias.set_data(initializer.initializer(initializer.Constant(0.0), m.bias.shape, m.bias.dtype))
        """)


def test_starred_layers_into_sequential(kb):
    check(kb, """\
        import torch.nn as nn
        layers = [nn.Linear(4, 4) for _ in range(2)]
        body = nn.Sequential(*layers)
        """, """\
        from mindspore import nn
        layers = [nn.Dense(4, 4) for _ in range(2)]
        body = nn.SequentialCell(*layers)
        """)


def test_unconverted_names_never_bind_to_mindspore(kb):
    r = translate_source("import torch.nn as nn\na = nn.Linear(4, 2)\nb = nn.Conv2d(3, 8, 3, padding_mode='reflect')\n", kb)
    assert "from mindspore import nn as ms_nn" in r.code
    assert "a = ms_nn.Dense(4, 2)" in r.code
    assert "b = nn.Conv2d(3, 8, 3, padding_mode='reflect')" in r.code  # nn is unbound: a NameError, not a guess


def test_layer_class_used_as_a_value_becomes_an_adapter(kb):
    r = translate_source(dedent("""\
        import torch.nn as nn


        class Block(nn.Module):
            def __init__(self, dim, norm_layer=nn.BatchNorm2d, pool=nn.MaxPool2d):
                super().__init__()
                self.norm = norm_layer(dim, momentum=0.2)
                self.pool = pool(2)

            def forward(self, x):
                if isinstance(self.norm, nn.BatchNorm2d):
                    return self.pool(self.norm(x))
                return x
        """), kb)
    code = r.code
    assert "def __new__(cls, num_features, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True" in code
    assert "return nn.BatchNorm2d(num_features=num_features, eps=eps, momentum=1 - momentum" in code
    assert "return nn.MaxPool2d(kernel_size=kernel_size, stride=stride if stride is not None else kernel_size" in code
    assert "norm_layer=_ms_BatchNorm2d, pool=_ms_MaxPool2d" in code
    assert "isinstance(self.norm, nn.BatchNorm2d)" in code  # a type test keeps the class itself
    namespace = {}
    exec(compile(code.split("class Block")[0], "<adapters>", "exec"), namespace)  # the adapters are valid code
    assert callable(namespace["_ms_BatchNorm2d"])
    # a class whose isinstance checks the layer it builds: `isinstance(m, norm_layer)` keeps working
    built = namespace["_ms_MaxPool2d"](2)
    assert isinstance(built, namespace["_ms_MaxPool2d"]) and not isinstance(built, namespace["_ms_BatchNorm2d"])


def test_isinstance_narrowing_renames_parameters(kb):
    check(kb, """\
        import torch.nn as nn


        def init(model):
            for m in model.cells():
                if isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1.0)
                elif isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
                    m.bias.data = m.bias.data * 0
                elif isinstance(m, nn.Linear):
                    nn.init.constant_(m.weight, 0.5)
                m.weight = None
        """, """\
        from mindspore.common import initializer
        from mindspore import nn


        def init(model):
            for m in model.cells():
                if isinstance(m, nn.BatchNorm2d):
                    m.gamma.set_data(initializer.initializer(initializer.Constant(1.0), m.gamma.shape, m.gamma.dtype))
                elif isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
                    m.beta.data = m.beta.data * 0
                elif isinstance(m, nn.Dense):
                    m.weight.set_data(initializer.initializer(initializer.Constant(0.5), m.weight.shape, m.weight.dtype))
                m.weight = None
        """)


def test_values_and_indices_of_pair_results(kb):
    out = translate_source(dedent("""\
        import torch


        def f(x: torch.Tensor, d: dict):
            m = x.max(dim=1, keepdim=True).values
            i = torch.max(x, 1).indices
            return m, i, d.values()
        """), kb).code
    assert "m = x.max(dim=1, keepdim=True)[0]" in out
    assert ".max(x, 1)[1]" in out
    assert "d.values()" in out  # a dict's values() is not a tensor result


def test_module_only_methods_on_a_receiver_of_unknown_type():
    out = translate_source(dedent("""\
        import torch.nn as nn


        def report(model, optimizer, signature):
            layers = sum(1 for m in model.modules() if isinstance(m, nn.Linear))
            state = optimizer.state_dict()
            return layers, state, signature.parameters, list(model.named_children())
        """), load_kb(), "cpu").code  # the packaged KB: its torch.nn.Module entries
    assert "model.cells_and_names()" in out and "model.modules()" not in out
    assert "optimizer.state_dict()" in out  # an optimizer has one too: not a module's alone
    assert "signature.parameters," in out  # an attribute, not the method
    assert "named_children()" not in out


def test_unsupported_value_known_only_at_run_time_goes_through_a_guarding_adapter(kb):
    r = translate_source("import torch.nn as nn\n\n\ndef f(cfg):\n    return nn.LayerNorm(8, bias=cfg.bias)\n", kb)
    assert "return _ms_LayerNorm(8, bias=cfg.bias)" in r.code
    assert "raise ValueError(f'bias={bias!r} is not supported" in r.code
    literal = translate_source("import torch.nn as nn\nm = nn.LayerNorm(8, bias=False)\n", kb)
    assert "nn.LayerNorm(8, bias=False)" in literal.code and literal.api_marked == 1  # known now: marked


def test_spread_arguments_go_through_an_adapter_or_a_plain_rename(kb):
    r = translate_source(dedent("""\
        import torch
        import torch.nn as nn


        def make(cin, cout, **kw):
            layer = nn.Linear(cin, cout, **kw)
            return nn.Sequential(*[layer]), torch.cat(*pair(layer))
    """), kb)
    # Linear renames bias -> has_bias: only a function with torch's signature can apply that at run time
    assert "layer = _ms_Linear(cin, cout, **kw)" in r.code and "class _ms_Linear(" in r.code
    assert "nn.SequentialCell(*[layer])" in r.code  # a plain rename passes the spread through
    assert r.api_marked == 0, [m.reason for m in r.markers]


def test_starred_sizes_are_packed_into_one_tuple(kb):
    r = translate_source("import torch\nx = torch.zeros(*shape)\ny = torch.zeros(*shape, 4)\n", kb)
    assert "x = ops.zeros((*shape,))" in r.code and "y = ops.zeros((*shape, 4))" in r.code


def test_sizes_and_factory_keywords_spread_into_zeros_build_at_run_time(kb):
    r = translate_source("import torch\n\n\ndef f(n, **dd):\n    return torch.zeros(n, 3, **dd)\n", kb)
    assert "return _ms_zeros(n, 3, **dd)" in r.code and "def _ms_zeros(*size," in r.code
    ns: dict = {}
    exec(r.code, ns)  # the adapter runs: sizes as varargs or one tuple, factory keywords dropped
    assert tuple(ns["f"](2, device=None).shape) == (2, 3)
    assert tuple(ns["_ms_zeros"]((4, 1)).shape) == (4, 1)


def test_rewrites_inside_fstrings_keep_them_closed(kb):
    r = translate_source("import torch.nn as nn\nlabel = f'{nn.Conv2d(3, 4, 3, padding=1)}'\n", kb)
    compile(r.code, "<out>", "exec")  # a generated 'pad' inside f'...' would end the string before 3.12
    assert "nn.Conv2d(" in r.code and "pad_mode=\"pad\"" in r.code


def test_a_layer_subclass_is_a_cell_and_its_super_init_gets_the_base_rules(kb):
    r = check(kb, """\
        import torch.nn as nn


        class Proj(nn.Linear):
            def __init__(self, d, bias=False):
                super().__init__(d, d, bias=bias)

            def forward(self, x):
                return super().forward(x) * 2
    """, """\
        from mindspore import nn


        class Proj(nn.Dense):
            def __init__(self, d, bias=False):
                super().__init__(d, d, has_bias=bias)

            def construct(self, x):
                return super().construct(x) * 2
    """)
    assert r.api_marked == 0


def test_one_argument_where_is_the_index_tuple_of_nonzero(kb):
    r = translate_source("import torch\nrows, cols = torch.where(mask > 0)\n", kb)
    assert "rows, cols = ops.unbind(ops.nonzero(mask > 0), 1)" in r.code and r.api_marked == 0


def test_classes_deriving_from_non_torch_bases_are_left_as_they_are(kb):
    # `F` rebound as a parameter: names resolve by scopes, and a class of this file is a dotless name
    r = translate_source("import torch.nn.functional as F\nfrom abc import ABC\n\n\nclass Base:\n    pass\n\n\n"
                         "class A(Base, ABC):\n    def forward(self, x, F=None):\n        return x\n", kb)
    assert "class A(Base, ABC):" in r.code and "def forward" in r.code


def test_a_function_of_an_imported_module_is_not_a_tensor_method(kb):
    # `lmu.logsumexp(x, keep_mask=m, dim=0)`: the repo's own function, though torch's keywords are passed
    out = translate_source(dedent("""\
        import torch
        from . import loss_utils as lmu
        import helpers


        def loss(x, mask, t):
            a = lmu.logsumexp(x, keep_mask=mask, add_one=True, dim=0)
            return a + helpers.size()
        """), kb).code
    assert "lmu.logsumexp(x, keep_mask=mask, add_one=True, dim=0)" in out, out
    assert "msagent:" not in out, out
    assert "helpers.size()" in out, out


def test_every_adapter_the_kb_can_build_is_valid_python():
    # an adapter passes torch's arguments on under the target's names: two torch names of one argument
    # (`keepdim` and its alias `keepdims`) once gave `mint.max(keepdim=keepdim, keepdim=keepdims)`
    from agent.kb.store import load_kb
    from agent.rules.adapters import adapter_source
    from agent.rules.calls import Unconvertible

    built = 0
    for entry in load_kb().entries:  # the packaged KB
        for target in entry.targets:
            try:
                source = adapter_source(entry, target, lambda name: name)
            except Unconvertible:  # entries no adapter can be built for
                continue
            compile(source, entry.api, "exec")  # a SyntaxError (repeated keyword: compile time) names the entry
            built += 1
    assert built > 1000
