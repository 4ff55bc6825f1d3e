"""In-place Tensor methods (`x.mul_(y)`, `x.sqrt_()`): MindSpore's in-place arithmetic does nothing on CPU,
so the rules compute the out-of-place result and put it where torch's would be. A local name is rebound
(`x = x.mul(y)`; inside an expression `(x := x.mul(y))`): writing into the tensor instead would bump its
version under MindSpore's autograd, and the gradient of any op that saved it (the out-of-place op itself)
then raises. A function's parameter (the caller's tensor), a module's parameter or buffer, a loop
variable, a possible view and any name this function does not own keeps its identity through `copy_`,
which does work in place; an indexed receiver (`x[:, 1:].mul_(a)`) alone on its line is an item
assignment (`x[:, 1:] = x[:, 1:].mul(a)`), as MindSpore's copy_ into a strided slice does nothing on
CPU. On a temporary (a call's result) the out-of-place call alone is exact, unless that call is itself
in place: `x.mul_(k).add_(n)` writes both into x."""
from __future__ import annotations

import libcst as cst

from agent.rules.catalog import rewrite
from agent.rules.walk import Visitor, visit


def local_names(fn: cst.FunctionDef) -> frozenset[str]:
    """Names FN binds itself (its assignment targets, nested scopes excluded) and may rebind with `:=`:
    not its parameters (the caller's tensors), not those declared global or nonlocal, no comprehension
    or loop variable, none whose tensor FN gives another name (`alias = x`, `feats.append(x)`) or that
    may be another tensor or a view of one (`y = x[0]`, `buf = self.buf`, `a, b = x.chunk(2)`): those must
    see the write."""
    params = fn.params
    # a parameter is the caller's tensor: a helper that updates it in place (`param.add_(update)`) is
    # called for that effect, so it keeps copy_
    excluded = {p.name.value for p in [*params.posonly_params, *params.params, *params.kwonly_params]}
    found: set[str] = set()

    class _Bindings(Visitor):
        def visit_FunctionDef(self, node) -> bool:
            return node is fn

        def visit_ClassDef(self, node) -> bool:
            return False

        def visit_Lambda(self, node) -> bool:
            return False

        def visit_Assign(self, node: cst.Assign) -> None:
            _aliased(node.value, excluded)
            if _a_view(node.value):  # `y = x[0]`, `buf = self.buf`: writes into them reach that tensor in torch
                for target in node.targets:
                    _names(target.target, excluded)

        def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
            _names(node.target, found)

        def visit_Call(self, node: cst.Call) -> None:
            if isinstance(node.func, cst.Attribute) and node.func.attr.value in _STORING_METHODS:
                for arg in node.args:
                    _aliased(arg.value, excluded)

        def visit_AugAssign(self, node: cst.AugAssign) -> None:
            _names(node.target, found)

        def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
            _names(node.target, found)
            if node.value is not None:
                _aliased(node.value, excluded)
                if _a_view(node.value):
                    _names(node.target, excluded)

        def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
            _names(node.target, found)

        def visit_For(self, node: cst.For) -> None:
            _names(node.target, excluded)  # `for p in params: p.mul_(d)` writes into the container's tensors

        def visit_AsName(self, node: cst.AsName) -> None:
            _names(node.name, found)

        def visit_CompFor(self, node: cst.CompFor) -> None:
            _names(node.target, excluded)

        def visit_Global(self, node: cst.Global) -> None:
            excluded.update(n.name.value for n in node.names)

        def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
            excluded.update(n.name.value for n in node.names)

    visit(fn, _Bindings())
    return frozenset(found - excluded)


_STORING_METHODS = {"append", "extend", "insert", "add", "setdefault", "update", "put", "register_buffer"}


# Tensor methods whose result may share the receiver's storage in torch.
_VIEW_METHODS = {"view", "view_as", "reshape", "transpose", "permute", "t", "narrow", "select", "expand", "expand_as",
                 "chunk", "split", "unbind", "squeeze", "unsqueeze", "flatten", "unflatten", "diagonal", "detach",
                 "movedim", "swapaxes", "as_strided", "unfold", "tensor_split", "hsplit", "vsplit",
                 # these return the receiver itself when nothing needs converting (`x.float()` of a float32)
                 "float", "double", "half", "bfloat16", "to", "type", "type_as", "contiguous", "cpu", "cuda"}


_LOOKUPS = {"get", "pop", "setdefault"}  # `state.get("exp_avg")`: a tensor something else holds
_LOOKUP_FUNCTIONS = {"getattr", "next"}


def _a_view(value: cst.BaseExpression) -> bool:
    """An expression that may be a tensor held elsewhere or a view of one: an index (`state["exp_avg"]`),
    an attribute (`self.buf`), a lookup (`state.get(...)`), a view method (`x.view(...)`), or a tuple or
    list with any of those (`exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]`)."""
    if isinstance(value, (cst.Subscript, cst.Attribute)):
        return True
    if isinstance(value, (cst.Tuple, cst.List)):
        return any(_a_view(el.value) for el in value.elements)
    if not isinstance(value, cst.Call):
        return False
    func = value.func
    if isinstance(func, cst.Attribute):
        return func.attr.value in _VIEW_METHODS or func.attr.value in _LOOKUPS
    return isinstance(func, cst.Name) and func.value in _LOOKUP_FUNCTIONS


def _aliased(value: cst.BaseExpression, into: set[str]) -> None:
    """Names whose object VALUE stores under another name: itself, or the items of a display."""
    if isinstance(value, cst.Name):
        into.add(value.value)
    elif isinstance(value, (cst.Tuple, cst.List, cst.Set)):
        for el in value.elements:
            _aliased(el.value, into)
    elif isinstance(value, cst.Dict):
        for el in value.elements:
            if isinstance(el, cst.DictElement):
                _aliased(el.value, into)


def _names(target: cst.BaseExpression, into: set[str]) -> None:
    if isinstance(target, cst.Name):
        into.add(target.value)
    elif isinstance(target, (cst.Tuple, cst.List)):
        for el in target.elements:
            _names(el.value, into)
    elif isinstance(target, cst.StarredElement):
        _names(target.value, into)


def _in_place_receiver(call: cst.BaseExpression) -> cst.BaseExpression | None:
    """The tensor an in-place call (or a chain of them) writes into: None for a temporary (a call's result)."""
    while isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute):
        method = call.func.attr.value
        if not (method.endswith("_") and not method.startswith("__")):
            return None
        call = call.func.value
    # a name, an attribute or an index (`x[i].mul_(2)`); anything else (`(a / b).clamp_(min=1)`) is a temporary
    return call if isinstance(call, (cst.Name, cst.Attribute, cst.Subscript)) else None


class InPlaceRules:
    """Mixin of the engine's rewriter: writes an in-place method's out-of-place result back."""

    @rewrite("in-place-written-back")
    def _written_back(self, original: cst.Call, updated: cst.Call, out: cst.BaseExpression) -> cst.BaseExpression:
        """`x.op_(...)` computed as `x.op(...)` and rebound (a local name) or copied into the receiver."""
        receiver = updated.func.value
        if self.rebound.get(id(receiver)) is receiver:  # a chain: `(x := x.mul(k)).add_(n)` is `(x := x.mul(k).add(n))`
            out = out.deep_replace(receiver, receiver.value)
        owner = _in_place_receiver(original.func.value)
        if owner is None:
            return out
        if isinstance(owner, cst.Name) and owner.value in self.scope.local_names():
            named = cst.NamedExpr(target=cst.Name(owner.value), value=out, lpar=[cst.LeftParen()],
                                  rpar=[cst.RightParen()])
            self.rebound[id(named)] = named  # kept: a node's id is only its own while it lives
            return named
        written, into = self.copied_into.get(id(receiver), (None, receiver))
        if written is not receiver:
            into = receiver
        new = cst.Call(func=cst.Attribute(value=into, attr=cst.Name("copy_")), args=[cst.Arg(out)])
        self.copied_into[id(new)] = (new, into)
        return new

    def leave_Expr(self, original: cst.Expr, updated: cst.Expr):
        """`(x := x.mul(y))` alone on its line is `x = x.mul(y)`; `x[i].copy_(x[i].add(y))` alone on its line is
        `x[i] = x[i].add(y)`: MindSpore's copy_ into a strided slice does nothing on CPU, its item assignment
        writes through (into the tensor the slice or view came from, as torch's add_ does)."""
        value = updated.value
        if self.rebound.get(id(value)) is value:
            return cst.Assign(targets=[cst.AssignTarget(value.target)], value=value.value.with_changes(lpar=[], rpar=[]),
                              semicolon=updated.semicolon)
        written, into = self.copied_into.get(id(value), (None, None))
        if written is value and isinstance(into, cst.Subscript):
            return cst.Assign(targets=[cst.AssignTarget(into)], value=value.args[0].value, semicolon=updated.semicolon)
        return updated

    def leave_Return(self, original: cst.Return, updated: cst.Return):
        """`return (x := x.mul(y)) if inplace else x * y`: the rebinding is not read again, so it goes."""
        value = updated.value
        if value is None or not self.rebound:
            return updated
        for named in [n for n in _nodes(value) if self.rebound.get(id(n)) is n]:
            name = named.target.value
            if _reads(value, name) == _reads(named, name):
                value = value.deep_replace(named, named.value) if named is not value else named.value
        return updated.with_changes(value=value)


def _nodes(node: cst.CSTNode):
    yield node
    for child in node.children:
        yield from _nodes(child)


def _reads(node: cst.CSTNode, name: str) -> int:
    return sum(1 for n in _nodes(node) if isinstance(n, cst.Name) and n.value == name)
