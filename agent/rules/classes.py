"""The rules pass on classes and functions (a mixin of the engine's rewriter, whose state it uses):
scopes for tensor inference, `forward` renamed `construct` in nn.Module subclasses, and subclasses of a
torch layer (`class StdConv2d(nn.Conv2d)`), whose `super().__init__` and attributes take the base
layer's MindSpore names."""
from __future__ import annotations

import libcst as cst

from agent.rules import structural
from agent.rules.adapters import adapter_name, adapter_source
from agent.rules.calls import Unconvertible, build_args, fix_commas, has_arg_rules
from agent.rules.signature import BindError, SpreadArguments, bind
from agent.rules.catalog import rewrite
from agent.rules.tensors import Scope, function_params, module_params


class ClassRules:
    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self.not_refs.add(id(node.name))
        for base in node.bases:
            self._type_positions(base.value)
            self.class_bases.add(id(base.value))
        facts = structural.collect_class_facts(node, self.inf, self._qn, self.module_classes)
        if facts.is_module:  # `self.backbone.modules()` somewhere in the file: self.backbone is a module
            facts.layers |= self.module_attrs
        facts.autograd = any(self._torch_name(b.value) in _AUTOGRAD_FUNCTION for b in node.bases)
        self.classes.append(facts)
        base = self._layer_base(node)
        if base is not None:  # the base layer's parameters are tensors here too (self.weight)
            facts.tensors |= {"weight", "bias"} | set(self._target(base).param_map)
            facts.resets = base.resets_parameters and any(
                isinstance(s, cst.FunctionDef) and s.name.value == "reset_parameters" for s in node.body.body)
        self.layer_bases.append(base)
        self.frames.append([])
        return True

    def leave_ClassDef(self, original, updated):
        facts = self.classes.pop()
        if facts.autograd and _checkpoints(original):
            updated = self._recomputed(updated)
        base = self.layer_bases.pop()
        if base is not None and not any(isinstance(s, cst.FunctionDef) and s.name.value == "__init__"
                                        for s in updated.body.body):
            updated = self._inherited_init(updated, base)
        if any(isinstance(b.value, cst.Subscript) for b in original.bases):
            updated = self._plain_generic_bases(original, updated)
        return self._pop(updated)

    @rewrite("layer-subclass-without-init")
    def _inherited_init(self, updated: cst.ClassDef, entry) -> cst.ClassDef:
        """`class Linear(nn.Linear)` with no `__init__` of its own is built with torch's arguments
        (`Linear(in_features=8, out_features=4)`), which the MindSpore base does not take: an `__init__` passes
        them on through the base entry's rules."""
        name = adapter_name(entry, keywords_only=True)
        try:
            self.adapters.setdefault(name, adapter_source(entry, self._target(entry), self.plan.render, keywords_only=True))
        except Unconvertible:
            return updated
        init = cst.parse_statement(f"def __init__(self, *args, **kwargs):\n    super().__init__(**{name}(*args, **kwargs))\n")
        body = list(updated.body.body)
        at = 1 if body and isinstance(body[0], cst.SimpleStatementLine) and isinstance(body[0].body[0], cst.Expr) \
            and isinstance(body[0].body[0].value, (cst.SimpleString, cst.ConcatenatedString)) else 0
        body.insert(at, init.with_changes(leading_lines=[cst.EmptyLine(indent=False)] if at else []))
        if at < len(body) - 1:
            body[at + 1] = body[at + 1].with_changes(leading_lines=[cst.EmptyLine(indent=False), *body[at + 1].leading_lines])
        return updated.with_changes(body=updated.body.with_changes(body=body))

    @rewrite("checkpointing-function-differentiates-forward")
    def _recomputed(self, updated: cst.ClassDef) -> cst.ClassDef:
        """An autograd Function that only checkpoints (forward runs a function under no_grad, backward reruns
        it under enable_grad and calls torch.autograd.grad: the function's own gradient, guided-diffusion's and
        latent diffusion's CheckpointFunction) derives from `_MsRecompute`: MindSpore differentiates forward
        itself, with its no-gradient blocks lifted for the call; backward is left as written, never called."""
        self.add_helper(RECOMPUTE)
        bases = [b.with_changes(value=cst.Name("_MsRecompute")) if isinstance(b.value, cst.Name)
                 and b.value.value == "_MsFunction" else b for b in updated.bases]
        return updated.with_changes(bases=bases)

    @rewrite("generic-data-bases-are-plain")
    def _plain_generic_bases(self, original, updated):
        """`class Shards(Dataset[Tuple[Tensor, int]])`, `Sampler[List[int]]`: torch's data classes are
        generic, the plain class that stands for them is not (`object[...]` fails at the class statement)."""
        bases = list(updated.bases)
        for i, (old, new) in enumerate(zip(original.bases, updated.bases)):
            if (isinstance(old.value, cst.Subscript) and isinstance(new.value, cst.Subscript)
                    and isinstance(new.value.value, cst.Name) and new.value.value.value == "object"
                    and self._torch_name(old.value.value)):
                bases[i] = new.with_changes(value=cst.Name("object"))
        return updated.with_changes(bases=bases)

    def _layer_base(self, node: cst.ClassDef):
        """The KB entry of a torch layer this class derives from, when its constructor has argument rules
        (`class StdConv2d(nn.Conv2d)`: its `super().__init__` takes torch's arguments)."""
        for base in node.bases:
            name = self._torch_name(base.value)
            entry = self.kb.get(name) if name else None
            target = self._target(entry) if entry is not None and entry.kind == "class" else None
            if target is not None and has_arg_rules(target) and not target.template:
                return entry
        return None

    @rewrite("layer-subclass-attributes")
    def _base_attribute(self, name: str) -> str | None:
        """In a layer subclass, `self.groups` is the base's constructor argument kept as an attribute:
        MindSpore's layer keeps it under its own argument name (`group`). Parameters keep theirs."""
        target = self._target(self.layer_bases[-1])
        if name in ("weight", "bias") or name in target.param_map:
            return None
        renamed = target.args.get(name)
        return renamed if renamed and renamed != name else None

    @rewrite("layer-subclass-init")
    def _super_init(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        """`super().__init__(in_ch, out_ch, k, bias=False)` inside a layer subclass: the base is now
        MindSpore's, so the arguments get the base entry's rules."""
        entry = self.layer_bases[-1]
        target = self._target(entry)
        self.api_calls += 1
        try:
            args = build_args(bind(updated, entry.signature), target, self.plan.render)
        except SpreadArguments as exc:
            # spread arguments: a function with torch's signature returns the base's keyword arguments
            name = adapter_name(entry, keywords_only=True)
            try:
                self.adapters.setdefault(name, adapter_source(entry, target, self.plan.render, keywords_only=True))
            except Unconvertible:
                self._unconverted(original, f"super().__init__ of {entry.api}: {exc}", entry.api)
                return updated
            self.api_converted += 1
            return updated.with_changes(args=[cst.Arg(cst.Call(func=cst.Name(name), args=updated.args), star="**")])
        except (BindError, Unconvertible) as exc:
            self._unconverted(original, f"super().__init__ of {entry.api}: {exc}", entry.api)
            return updated
        self.api_converted += 1
        return updated.with_changes(args=fix_commas(args))

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.not_refs.add(id(node.name))  # a definition's name binds, never refers (a stand-in for a torch name)
        cls = self.classes[-1] if self.classes and self._directly_in_class(node) else None
        in_module = cls is not None and cls.is_module
        params = [*node.params.posonly_params, *node.params.params, *node.params.kwonly_params]
        autograd = cls is not None and cls.autograd
        self.scopes.append(Scope(cls=cls, tensors=function_params(node, in_module, self._qn, autograd),
                                 modules=module_params(node, self._qn, self.module_classes),
                                 annotated={p.name.value for p in params if p.annotation is not None},
                                 fn=node))
        self.frames.append([])
        return True

    def _directly_in_class(self, node: cst.FunctionDef) -> bool:
        return len(self.classes) > 0 and len(self.scopes) == len(self.classes)

    def leave_FunctionDef(self, original, updated):
        scope = self.scopes.pop()
        if scope.cls is not None and scope.cls.is_module and updated.name.value == "forward":
            updated = updated.with_changes(name=cst.Name("construct"))
        if scope.cls is not None and scope.cls.resets and updated.name.value == "__init__":
            updated = _resets_after_super_init(updated)
        return self._pop(updated)


_AUTOGRAD_FUNCTION = {"torch.autograd.Function", "torch.autograd.function.Function"}
RECOMPUTE = '''class _MsRecompute:
    """A torch.autograd.Function that only checkpoints: its forward runs a function without gradients, its
    backward reruns it and differentiates it. MindSpore differentiates forward itself, forward's own
    no-gradient block lifted for the call (the first one it enters; those inside the function it runs stay):
    the same gradient."""

    class Ctx:
        def save_for_backward(self, *tensors):
            self.saved_tensors = tensors

    @classmethod
    def apply(cls, *args):
        import contextlib

        saved = mindspore._no_grad

        def lifted(*a, **k):
            mindspore._no_grad = saved  # once: a block inside the function still stops gradients
            return contextlib.nullcontext()

        mindspore._no_grad = lifted
        try:
            return cls.forward(_MsRecompute.Ctx(), *args)
        finally:
            mindspore._no_grad = saved
'''


def _checkpoints(node: cst.ClassDef) -> bool:
    """NODE's forward runs under no_grad and its backward calls autograd.grad after enabling gradients."""
    methods = {s.name.value: _code(s) for s in node.body.body if isinstance(s, cst.FunctionDef)}
    forward, backward = methods.get("forward", ""), methods.get("backward", "")
    return "no_grad" in forward and "autograd.grad(" in backward and "enable_grad" in backward


@rewrite("layer-subclass-resets")
def _resets_after_super_init(fn: cst.FunctionDef) -> cst.FunctionDef:
    """A layer subclass's own reset_parameters is called after its `super().__init__(...)`, as torch's
    base constructor calls it there and MindSpore's does not (a fixed matrix set there, frozen with
    requires_grad=False, would stay random and trainable)."""
    body = list(fn.body.body)
    at = next((i for i, s in enumerate(body) if ".__init__(" in _code(s)), None)
    if at is None or any("self.reset_parameters()" in _code(s) for s in body[at + 1:]):
        return fn
    body.insert(at + 1, cst.parse_statement("self.reset_parameters()  # torch's base constructor calls it\n"))
    return fn.with_changes(body=fn.body.with_changes(body=body))


def _code(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node)
