"""Static inference of which expressions are torch tensors or modules.

A Tensor method is rewritten only on a receiver known to be a tensor: names assigned from torch
calls, tensor arithmetic or layer calls, parameters of `forward`, parameters annotated as
tensors, and `self.X` attributes that are parameters or buffers. Everything else is left alone,
which is what keeps `arr.view(np.float32)` on a numpy array untouched.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import libcst as cst

from agent.rules.in_place import local_names
from agent.scan.names import MODEL_PARAMS, MODULE_ONLY_METHODS
from agent.rules.walk import Visitor, visit

# Tensor methods whose result is not a tensor.
NON_TENSOR_METHODS = {"size", "dim", "numel", "item", "tolist", "numpy", "ndimension", "nelement",
                      "is_contiguous", "element_size", "equal", "is_floating_point", "data_ptr", "get_device"}
NON_TENSOR_ATTRS = {"shape", "dtype", "device", "ndim", "is_cuda", "requires_grad", "grad_fn", "layout"}
# Tensors every torch layer that has them keeps under these names.
LAYER_TENSORS = {"weight", "bias", "running_mean", "running_var"}
_SCALAR_ANNOTATIONS = {"int", "float", "bool", "str", "bytes", "dict", "list", "tuple", "None"}

QN = Callable[[cst.CSTNode], set[str]]


@dataclass
class ClassFacts:
    is_module: bool = False
    layers: set[str] = field(default_factory=set)  # self.X holding a torch layer / module
    tensors: set[str] = field(default_factory=set)  # self.X holding a parameter / buffer / tensor
    buffers: set[str] = field(default_factory=set)  # self.X registered with register_buffer
    resets: bool = False  # a torch layer subclass with its own reset_parameters (torch's init calls it)
    autograd: bool = False  # a torch.autograd.Function subclass (backward's arguments are gradients)


@dataclass
class Scope:
    cls: ClassFacts | None
    tensors: set[str] = field(default_factory=set)
    modules: set[str] = field(default_factory=set)  # local names bound to module instances
    pairs: set[str] = field(default_factory=set)  # local names bound to a (values, indices) result
    annotated: set[str] = field(default_factory=set)  # parameters whose annotation names their type
    complex: set[str] = field(default_factory=set)  # local names that may hold complex values
    packed: set[str] = field(default_factory=set)  # local names holding packed sequences
    fn: object = None  # the enclosing function's node: its own names are computed when asked (local_names)
    _locals: frozenset[str] | None = None

    def local_names(self) -> frozenset[str]:
        """Names the function binds itself (see in_place.local_names); none at module or class level."""
        if self._locals is None:
            self._locals = local_names(self.fn) if self.fn is not None else frozenset()
        return self._locals


def _torch_names(qn: QN, node: cst.CSTNode) -> list[str]:
    return [n for n in qn(node) if n == "torch" or n.startswith("torch.")]


def _annotation_is_scalar(ann: cst.Annotation | None) -> bool:
    if ann is None:
        return False
    code = cst.Module([]).code_for_node(ann.annotation)
    head = code.replace("Optional[", "").replace("]", "").split("|")[0].strip()
    return head in _SCALAR_ANNOTATIONS


def annotation_is_tensor(ann: cst.Annotation | None, qn: QN) -> bool:
    return _annotation_names(ann, qn, lambda n: n == "torch.Tensor")


def _is_layer_class(name: str) -> bool:
    return name.startswith("torch.nn.") and ".functional." not in name and name.rsplit(".", 1)[1][:1].isupper()


def _annotation_names(ann: cst.Annotation | None, qn: QN, wanted) -> bool:
    """Whether a name in the annotation (`Optional[torch.Tensor]`, `nn.Module | None`) is one WANTED accepts."""
    if ann is None:
        return False
    found = False

    class _V(Visitor):
        def visit_Attribute(self, node: cst.Attribute) -> None:
            nonlocal found
            found |= any(wanted(n) for n in qn(node))

        def visit_Name(self, node: cst.Name) -> None:
            nonlocal found
            found |= any(wanted(n) for n in qn(node))

    visit(ann, _V())
    return found


class Inference:
    """Answers is_tensor / is_module for expressions, given the facts of the enclosing scope."""

    def __init__(self, qn: QN, module_classes: set[str], kb_methods: set[str]):
        self.qn = qn
        self.module_classes = module_classes  # repo classes (simple names) deriving from nn.Module
        self.kb_methods = kb_methods
        self.tensor_functions: set[str] = set()  # the file's functions annotated `-> torch.Tensor`

    def constructs_module(self, call: cst.Call) -> bool:
        if any(_is_layer_class(n) for n in _torch_names(self.qn, call.func)):
            return True
        func = call.func
        simple = func.value if isinstance(func, cst.Name) else func.attr.value if isinstance(func, cst.Attribute) else None
        return simple in self.module_classes

    def is_module(self, node: cst.BaseExpression, scope: Scope) -> bool:
        if isinstance(node, cst.Name):
            return node.value in scope.modules
        if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value == "self":
            return scope.cls is not None and node.attr.value in scope.cls.layers
        if isinstance(node, cst.Call):
            if self.constructs_module(node):
                return True
            # model.to(device), model.cuda(), model.eval() return the module
            if isinstance(node.func, cst.Attribute) and node.func.attr.value in ("to", "cuda", "cpu", "eval", "train", "float", "double", "half"):
                return self.is_module(node.func.value, scope)
            if "copy.deepcopy" in self.qn(node.func) and node.args:  # a copy of a module is one
                return self.is_module(node.args[0].value, scope)
        return False

    def is_tensor(self, node: cst.BaseExpression, scope: Scope) -> bool:
        if isinstance(node, cst.Name):
            return node.value in scope.tensors
        if isinstance(node, cst.Attribute):
            if node.attr.value in NON_TENSOR_ATTRS:
                return False
            if isinstance(node.value, cst.Name) and node.value.value == "self":
                return scope.cls is not None and node.attr.value in scope.cls.tensors
            if node.attr.value in ("T", "mT", "data", "real", "imag", "grad"):
                # `m.weight.data` of any module `m` (an init function applied to every layer): a tensor
                return self.is_tensor(node.value, scope) or (
                    node.attr.value == "data" and isinstance(node.value, cst.Attribute)
                    and node.value.attr.value in LAYER_TENSORS)
            return False
        if isinstance(node, cst.Subscript):
            return self.is_tensor(node.value, scope)
        if isinstance(node, cst.BinaryOperation):
            return self.is_tensor(node.left, scope) or self.is_tensor(node.right, scope)
        if isinstance(node, cst.UnaryOperation):
            return self.is_tensor(node.expression, scope)
        if isinstance(node, cst.Comparison):
            return self.is_tensor(node.left, scope) or any(self.is_tensor(c.comparator, scope)
                                                           for c in node.comparisons)
        if isinstance(node, cst.IfExp):
            return self.is_tensor(node.body, scope) or self.is_tensor(node.orelse, scope)
        if isinstance(node, cst.Call):
            return self._call_returns_tensor(node, scope)
        return False

    def _call_returns_tensor(self, call: cst.Call, scope: Scope) -> bool:
        if _is_name(call.func, "next", scope) and call.args:  # `next(self.parameters())`, `next(iter(...))`
            it = call.args[0].value
            if isinstance(it, cst.Call) and _is_name(it.func, "iter", scope) and it.args:
                it = it.args[0].value
            return _tensor_iterator(it) == "tensors"
        names = _torch_names(self.qn, call.func)
        if names:
            n = names[0]
            if n.startswith("torch.nn.") and n.rsplit(".", 1)[1][:1].isupper():
                return False  # constructing a layer
            return not n.startswith(("torch.cuda", "torch.device", "torch.is_", "torch.backends", "torch.get_",
                                     "torch.set_", "torch.manual_seed", "torch.no_grad", "torch.save",
                                     "torch.load", "torch.Size"))
        func = call.func
        if isinstance(func, cst.Name) and func.value in self.tensor_functions and func.value not in scope.local_names():
            return True
        if isinstance(func, cst.Attribute):
            if self.is_tensor(func.value, scope):
                return func.attr.value not in NON_TENSOR_METHODS
            if self.is_module(func.value, scope) and func.attr.value in ("forward", "construct"):
                return True
        return self.is_module(func, scope)  # self.layer(x), model(x)

    def bind_targets(self, target: cst.BaseExpression, value: cst.BaseExpression, scope: Scope) -> None:
        """Record what an assignment `target = value` tells about names."""
        if isinstance(target, (cst.Tuple, cst.List)):
            if isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == len(target.elements):
                for t, v in zip(target.elements, value.elements):
                    self.bind_targets(t.value, v.value, scope)
                return
            # unpacking a layer's or a torch function's result: every part is a tensor
            if isinstance(value, cst.Call) and self._call_returns_tensor(value, scope):
                for t in target.elements:
                    self._mark_all(t.value, scope)
            return
        if isinstance(target, cst.Name):
            if self.is_module(value, scope):
                scope.modules.add(target.value)
            elif self.is_tensor(value, scope):
                scope.tensors.add(target.value)
        elif isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) and target.value.value == "self":
            if scope.cls is None:
                return
            if isinstance(value, cst.Call) and self.constructs_module(value):
                scope.cls.layers.add(target.attr.value)
            elif isinstance(value, cst.Call) and any(
                n in ("torch.nn.Parameter", "torch.nn.parameter.Parameter") for n in self.qn(value.func)
            ):
                scope.cls.tensors.add(target.attr.value)
            elif self.is_tensor(value, scope):
                scope.cls.tensors.add(target.attr.value)

    def bind_loop(self, target: cst.BaseExpression, it: cst.BaseExpression, scope: Scope) -> None:
        """Record what `for target in it` tells: the parameters and buffers a module yields are tensors
        (`for p in model.parameters()`, `for name, p in self.named_buffers()`)."""
        kind = _tensor_iterator(it)
        if kind == "tensors":
            self._mark_all(target, scope)
        elif kind == "named" and isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) == 2:
            self._mark_all(target.elements[1].value, scope)

    def _mark_all(self, target: cst.BaseExpression, scope: Scope) -> None:
        if isinstance(target, cst.Name):
            scope.tensors.add(target.value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for e in target.elements:
                self._mark_all(e.value, scope)


def _is_name(node: cst.BaseExpression, name: str, scope: Scope) -> bool:
    """NODE is the builtin NAME (not a name the function binds itself)."""
    return isinstance(node, cst.Name) and node.value == name and name not in scope.local_names()


def _tensor_iterator(node: cst.BaseExpression) -> str | None:
    """'tensors' for `X.parameters()` / `X.buffers()`, 'named' for their `named_` forms (pairs of a name
    and a tensor), None for anything else."""
    if not (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)):
        return None
    method = node.func.attr.value
    if any(a.keyword is None for a in node.args):
        return None  # `x.parameters(a)` is not a module's
    return "tensors" if method in ("parameters", "buffers") else "named" if method in (
        "named_parameters", "named_buffers") else None


def function_params(fn: cst.FunctionDef, in_module_class: bool, qn: QN, in_autograd: bool = False) -> set[str]:
    """Parameters known to be tensors: forward's arguments, an autograd Function's backward's gradients
    (after ctx), and anything annotated as a tensor."""
    params = [*fn.params.posonly_params, *fn.params.params, *fn.params.kwonly_params]
    if in_autograd and fn.name.value == "backward":
        star = fn.params.star_arg
        return {p.name.value for p in params[1:]} | ({star.name.value} if isinstance(star, cst.Param) else set())
    out = set()
    is_forward = in_module_class and fn.name.value in ("forward", "construct")
    for p in params:
        name = p.name.value
        if name in ("self", "cls"):
            continue
        if annotation_is_tensor(p.annotation, qn):
            out.add(name)
        elif is_forward and not _annotation_is_scalar(p.annotation):
            default = p.default
            literal_default = isinstance(default, (cst.Integer, cst.Float, cst.SimpleString)) or (
                isinstance(default, cst.Name) and default.value in ("True", "False"))
            if not literal_default:
                out.add(name)
    if fn.params.star_arg and isinstance(fn.params.star_arg, cst.Param) and is_forward:
        out.add(fn.params.star_arg.name.value)
    return out




def module_params(fn: cst.FunctionDef, qn: QN, module_classes: set[str]) -> set[str]:
    """Parameters annotated as a module (`m: nn.Module`, `block: nn.Linear`, `net: MyNet`, a repo module
    class); unannotated ones a torch file names as its model (`def evaluate(model, loader)`) or whose
    module-only methods the function calls (`layer.parameters()`)."""
    params = [*fn.params.posonly_params, *fn.params.params, *fn.params.kwonly_params]
    plain = {p.name.value for p in params if p.annotation is None}
    called: set[str] = set()

    class _Calls(Visitor):
        def visit_Call(self, node: cst.Call) -> None:
            f = node.func
            if isinstance(f, cst.Attribute) and f.attr.value in MODULE_ONLY_METHODS and isinstance(f.value, cst.Name):
                called.add(f.value.value)

    visit(fn.body, _Calls())
    return {p.name.value for p in params if _annotation_names(
        p.annotation, qn, lambda n: _is_layer_class(n) or n.rsplit(".", 1)[-1] in module_classes)} \
        | (plain & (MODEL_PARAMS | called))


_NOT_LAYERS = {"Parameter", "Buffer", "UninitializedParameter", "UninitializedBuffer", "PackedSequence"}


def _is_layer_class(name: str) -> bool:
    """torch.nn.Conv2d, torch.nn.Sequential, ...: a module class (subclassing one makes a module)."""
    if not name.startswith("torch.nn."):
        return False
    last = name.rsplit(".", 1)[1]
    return last[:1].isupper() and last not in _NOT_LAYERS and ".functional." not in name and ".init." not in name


def class_is_module(cls: cst.ClassDef, qn: QN, module_classes: set[str]) -> bool:
    for base in cls.bases:
        names = qn(base.value)
        if any(n in ("torch.nn.Module", "torch.nn.modules.module.Module") or _is_layer_class(n) for n in names):
            return True
        v = base.value
        simple = v.value if isinstance(v, cst.Name) else v.attr.value if isinstance(v, cst.Attribute) else None
        if simple in module_classes:
            return True
    return False


__all__ = ["Inference", "Scope", "ClassFacts", "function_params", "module_params", "class_is_module"]
