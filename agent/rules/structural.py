"""The few rewrites that are structure rather than KB data.

`x.size()` becomes an attribute, `.to(device)` / `.cuda()` disappear while `.to(dtype)` becomes
`.astype`, and a module's class facts (which attributes are layers, parameters or buffers)
are gathered for tensor inference. Everything else is an entry in mapping_kb/.
"""
from __future__ import annotations

import re

import libcst as cst

from agent.rules.calls import code as rw_code
from agent.rules.catalog import rewrite
from agent.rules.tensors import ClassFacts, Inference, class_is_module
from agent.rules.walk import statements

# Methods called on `self` inside a module class that the KB's torch.nn.Module entries cover.
SELF_MODULE_METHODS = {"eval", "train", "parameters", "named_parameters", "state_dict", "load_state_dict",
                       "modules", "named_modules", "children", "named_children", "to", "cuda", "cpu",
                       "zero_grad", "apply", "register_buffer", "forward", "add_module", "register_module",
                       "register_parameter"}
# Methods only a torch module has (an optimizer's state_dict and zero_grad are left out): a receiver of
# unknown type (`def count(model): ... model.modules()`) calling one is a module.
# Assignments to these torch switches (cuDNN autotuning, TF32) are dropped: MindSpore has none.
# switches of torch's backends and compilers (`torch.backends.cudnn.benchmark = True`,
# `torch._dynamo.config.cache_size_limit = ...`): MindSpore has none of them
DROPPED_SETTINGS = ("torch.backends.", "torch._dynamo.config.", "torch._inductor.config.")
# Tensor attributes MindSpore's Tensor lacks, as the expression that answers them there.
TENSOR_ATTRIBUTES = {"is_cuda": "(mindspore.get_context('device_target') == 'GPU')"}
# Read on any value but a module: a Parameter's own flag; a MindSpore Tensor has none (gradients are
# taken by grad/value_and_grad wherever they are asked for), so code that branches on it (checkpoint only
# what needs backward) takes its no-gradient path, which computes the same values.
REQUIRES_GRAD = "getattr({value}, 'requires_grad', False)"
# `t.device.type`: torch's name for the kind of device the MindSpore side runs on ("cuda" for GPU)
DEVICE_TYPE = "{'GPU': 'cuda', 'Ascend': 'npu'}.get(mindspore.get_context('device_target'), 'cpu')"
# A module's own registries, read by container-like subclasses (`for m in self._modules.values()`).
MODULE_ATTRIBUTES = {"_modules": "_cells", "_parameters": "_params"}


def module_classes_of(module: cst.Module, qn, known: set[str]) -> set[str]:
    """Simple names of classes in this file that derive from nn.Module (directly or via known ones)."""
    found: set[str] = set()
    classes = [s for s in statements(module) if isinstance(s, cst.ClassDef)]
    changed = True
    while changed:
        changed = False
        for c in classes:
            if c.name.value not in found and class_is_module(c, qn, known | found):
                found.add(c.name.value)
                changed = True
    return found


def collect_class_facts(node: cst.ClassDef, inf: Inference, qn, module_classes: set[str]) -> ClassFacts:
    from agent.rules.tensors import Scope

    facts = ClassFacts(is_module=class_is_module(node, qn, module_classes))
    scope = Scope(cls=facts)
    for stmt in statements(node, into_classes=False):
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.Assign):
                for t in small.targets:
                    inf.bind_targets(t.target, small.value, scope)
            elif isinstance(small, cst.AnnAssign) and small.value is not None:
                inf.bind_targets(small.target, small.value, scope)
            elif isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
                _registration(small.value, facts)
    return facts


def _registration(call: cst.Call, facts: ClassFacts) -> None:
    """`self.register_buffer("name", ...)` / `self.add_module("name", layer)` statements."""
    f = call.func
    if not (isinstance(f, cst.Attribute) and call.args and isinstance(call.args[0].value, cst.SimpleString)):
        return
    if f.attr.value in ("register_buffer", "register_parameter") and isinstance(f.value, cst.Name) \
            and f.value.value == "self":
        facts.tensors.add(call.args[0].value.evaluated_value)
        if f.attr.value == "register_buffer":
            facts.buffers.add(call.args[0].value.evaluated_value)
    elif f.attr.value == "add_module":
        facts.layers.add(call.args[0].value.evaluated_value)


_DTYPE = re.compile(r"(ms|mindspore)\.(u?int\d+|float\d+|bfloat16|bool_?|complex\d+|double|half|long|int|float)$")


def _is_dtype(node: cst.BaseExpression, rw) -> bool:
    """On the already-rewritten argument: a MindSpore dtype, some tensor's `.dtype`, or a name that says it
    holds one (`x_dtype`, `self.dtype`)."""
    if isinstance(node, cst.Attribute) and node.attr.value == "dtype":
        return True
    if isinstance(node, (cst.Name, cst.Attribute)) and rw_code(node).rsplit(".", 1)[-1].lower().endswith("dtype"):
        return True
    return _DTYPE.match(rw_code(node)) is not None


@rewrite("size-is-shape")
def _size(call: cst.Call, receiver: cst.BaseExpression, rw) -> cst.BaseExpression | None:
    """`t.size()` is `t.shape` and `t.size(d)` is `t.shape[d]`: MindSpore's Tensor.size is the element count."""
    if not call.args:
        return cst.Attribute(value=receiver, attr=cst.Name("shape"))
    if len(call.args) == 1 and (call.args[0].keyword is None or call.args[0].keyword.value == "dim"):
        return cst.Subscript(value=cst.Attribute(value=receiver, attr=cst.Name("shape")),
                             slice=[cst.SubscriptElement(cst.Index(call.args[0].value))])
    return None


_SIZE_HELPER = '''def _ms_size(x, *dim):
    """torch's `.size()` / `.size(d)` on a value whose type only run time knows: a MindSpore tensor's
    shape (its own `size` is the element count), anything else's own size()."""
    if isinstance(x, mindspore.Tensor):
        return x.shape[dim[0]] if dim else x.shape
    return x.size(*dim)
'''


@rewrite("size-of-a-value-of-unknown-type")
def guarded_size(call: cst.Call, rw) -> cst.BaseExpression | None:
    """`v.size(d)` where nothing says what `v` is (`self.mask`, set to None in __init__ and to a tensor
    later): a helper answers as torch's Tensor.size when `v` is a tensor at run time, else calls v's own."""
    if len(call.args) > 1 or any(a.star or (a.keyword is not None and a.keyword.value != "dim") for a in call.args):
        return None
    rw.add_helper(_SIZE_HELPER)
    return cst.Call(func=cst.Name("_ms_size"), args=[cst.Arg(call.func.value)] + [cst.Arg(a.value) for a in call.args])


@rewrite("device-moves-vanish")
def _moved(call: cst.Call, receiver: cst.BaseExpression, rw) -> cst.BaseExpression:
    """`.cuda()` / `.cpu()` move nothing: MindSpore places tensors by the context's device."""
    return receiver


@rewrite("to-is-a-cast-or-nothing")
def _to(call: cst.Call, receiver: cst.BaseExpression, rw) -> cst.BaseExpression:
    """`.to(device)` moves nothing in MindSpore; `.to(dtype)` is a cast; `.to(other)` with a value the
    code does not name as a device or dtype (`t.to(mask)`: another tensor's dtype) is left to a helper
    that decides at run time."""
    for arg in call.args:
        kw = arg.keyword.value if arg.keyword else None
        if kw == "dtype" or (kw is None and _is_dtype(arg.value, rw)):
            return cst.Call(func=cst.Attribute(value=receiver, attr=cst.Name("astype")), args=[cst.Arg(arg.value)])
    first = call.args[0] if call.args else None
    if first is None or first.keyword is not None or first.star or _names_a_device(first.value):
        return receiver
    rw.add_helper(_TO_HELPER)
    return cst.Call(func=cst.Name("_ms_to"), args=[cst.Arg(receiver), cst.Arg(first.value)])


_TO_HELPER = '''def _ms_to(x, other):
    """torch's `x.to(other)` where only run time knows what `other` is: another tensor's dtype for a
    tensor, a cast for a dtype; a device moves nothing (MindSpore places tensors by its context), nor
    does anything move a module (`Resampler(...).to(x)`: a Cell's parameters stay as they are)."""
    if not isinstance(x, mindspore.Tensor):
        return x
    if isinstance(other, mindspore.Tensor):
        return x.astype(other.dtype)
    if isinstance(other, mindspore.dtype.Type):
        return x.astype(other)
    return x
'''


def _names_a_device(node: cst.BaseExpression) -> bool:
    """A device as code writes one: a string or integer literal, a call (`torch.device(...)` as
    rewritten), or a name whose last part speaks of a device (`device`, `self.dev`, `args.gpu`)."""
    if isinstance(node, (cst.SimpleString, cst.Integer, cst.Call, cst.FormattedString)):
        return True
    last = rw_code(node).rsplit(".", 1)[-1].lower()
    return re.search(r"dev|cuda|gpu|cpu|rank|place", last) is not None


@rewrite("forward-is-construct")
def _forward(call: cst.Call, receiver: cst.BaseExpression, rw) -> cst.BaseExpression:
    """`module.forward(...)` called explicitly is `construct(...)`: a Cell's forward has that name."""
    return call.with_changes(func=call.func.with_changes(attr=cst.Name("construct")))


_EXTREMUM_HELPER = '''def _ms_tensor_{name}(x, a):
    """x.{name}(a): torch's elementwise {long} when a is a tensor, the reduction over dim a otherwise."""
    if isinstance(a, mindspore.Tensor):
        return mindspore.ops.{long}(x, a)
    return x.{name}(a)
'''


@rewrite("max-of-a-tensor-or-a-dim")
def _extremum(call: cst.Call, receiver: cst.BaseExpression, rw) -> cst.BaseExpression | None:
    """`x.max(a)` / `x.min(a)`, `a` not an integer literal: torch's elementwise maximum when `a` is a
    tensor (MindSpore's Tensor.max takes only an axis), the reduction over dim `a` otherwise; which of
    the two only run time knows. With an integer or keywords, the KB's entry decides."""
    if len(call.args) != 1 or call.args[0].keyword is not None or call.args[0].star:
        return None
    value = call.args[0].value
    if isinstance(value, cst.UnaryOperation):
        value = value.expression
    if isinstance(value, (cst.Integer, cst.SimpleString, cst.Tuple, cst.List)):
        return None
    name = call.func.attr.value
    rw.add_helper(_EXTREMUM_HELPER.format(name=name, long={"max": "maximum", "min": "minimum"}[name]))
    return cst.Call(func=cst.Name(f"_ms_tensor_{name}"), args=[cst.Arg(receiver), cst.Arg(call.args[0].value)])


@rewrite("casts-of-conditions-stay")
def _cast_of_condition(call: cst.Call, receiver: cst.BaseExpression, rw) -> cst.BaseExpression | None:
    """`(x > 0).long()`: a comparison (or logic over comparisons) has no gradient, so its cast stays as
    written; the KB's entry casts anything else with the gradient cut, as torch's integer and boolean
    tensors carry none (MindSpore's Cast passes one back)."""
    return call if not call.args and _condition(receiver) else None


# calls whose results carry no gradient in either framework: indices, counts, draws
_NO_GRADIENT = {"argmax", "argmin", "argsort", "nonzero", "searchsorted", "bucketize", "multinomial", "randint",
                "randperm", "arange", "ones", "zeros", "isnan", "isinf", "isfinite", "eq", "ne", "gt", "lt", "ge", "le"}


def _condition(node: cst.BaseExpression) -> bool:
    """An expression whose value carries no gradient: a comparison, logic over comparisons, or a call that
    makes indices, counts or constants (`x.argmax(-1)`, `ops.arange(n)`)."""
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, (cst.BitAnd, cst.BitOr, cst.BitXor)):
        return _condition(node.left) and _condition(node.right)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.BitInvert):
        return _condition(node.expression)
    if isinstance(node, cst.Call):
        func = node.func
        name = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else ""
        return name in _NO_GRADIENT
    return isinstance(node, cst.Comparison)


TENSOR_METHODS = {"size": _size, "to": _to, "cuda": _moved, "cpu": _moved, "max": _extremum, "min": _extremum,
                  "long": _cast_of_condition, "int": _cast_of_condition, "bool": _cast_of_condition}
MODULE_METHODS = {"to": _to, "cuda": _moved, "cpu": _moved, "forward": _forward}


def tensor_method(method: str, call: cst.Call, rw) -> cst.BaseExpression | None:
    """The structural rewrite of a Tensor method, or None (then the KB's entry decides)."""
    fn = TENSOR_METHODS.get(method)
    return fn(call, call.func.value, rw) if fn else None


def module_method(method: str, call: cst.Call, rw) -> cst.BaseExpression | None:
    fn = MODULE_METHODS.get(method)
    return fn(call, call.func.value, rw) if fn else None


@rewrite("where-of-a-condition-alone")
def torch_call(name: str, call: cst.Call, rw) -> cst.BaseExpression | None:
    """Overloads a KB entry's one signature cannot express. `torch.where(cond)` alone is
    `nonzero(cond, as_tuple=True)`, whose MindSpore kernel is missing on CPU: the index tuple is
    unbound from the plain `nonzero` matrix instead."""
    if name == "torch.where" and len(call.args) == 1 and call.args[0].keyword is None and not call.args[0].star:
        cond = rw_code(call.args[0].value)
        return cst.parse_expression(f"{rw.plan.render('mindspore.ops.unbind')}("
                                    f"{rw.plan.render('mindspore.ops.nonzero')}({cond}), 1)")
    return None
