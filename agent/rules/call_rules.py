"""The rules pass on calls (a mixin of the engine's rewriter, whose state it uses): a torch function or
class called, a Tensor method on a receiver known (or seen by execution) to be a tensor, an nn.Module
method; each bound against its KB entry's torch signature and rewritten as the target the device
picks, by its argument rules, its template or an adapter with torch's signature."""
from __future__ import annotations

import libcst as cst

from agent.kb.schema import Entry
from agent.rules import structural
from agent.rules.catalog import rewrite
from agent.rules.adapters import adapter_name, adapter_source, adapter_sources
from agent.rules.calls import (DependsOnRuntime, Unconvertible, build_args, code, expression, fill_template,
                               fix_commas, has_arg_rules, helper_name)
from agent.rules.signature import BindError, Binding, SpreadArguments, bind, takes_numpy_names
from agent.scan.names import MODULE_ONLY_METHODS
from agent.verify.observe import FLOAT_OF_INTEGER, INTEGER_INPUT


class CallRules:
    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        if id(original) in self.probes:
            return self._probe_answer(original, updated)
        updated = self._written_through_data(original, updated)
        special = self.complex_call(original, updated) or self.packed_call(original, updated)
        if special is not None:
            return special
        if id(original.func) in self.roots:
            return self._torch_call(original, updated)
        func = original.func
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if self.inf.is_tensor(func.value, self.scope) or self._seen_on_tensor(original, method) \
                    or self._torch_keywords(original, method):
                return self._tensor_method(original, updated, method)
            if self.inf.is_module(func.value, self.scope) or (
                    isinstance(func.value, cst.Name) and func.value.value == "self" and self.scope.cls is not None
                    and self.scope.cls.is_module and method in structural.SELF_MODULE_METHODS) or (
                    method in MODULE_ONLY_METHODS and isinstance(func.value, (cst.Name, cst.Attribute))):
                return self._module_method(original, updated, method)
            if method == "forward" and isinstance(func.value, cst.Call) and code(func.value.func) == "super":
                return updated.with_changes(func=updated.func.with_changes(attr=cst.Name("construct")))
            if (method == "__init__" and isinstance(func.value, cst.Call) and code(func.value.func) == "super"
                    and self.layer_bases and self.layer_bases[-1] is not None):
                return self._super_init(original, updated)
            if method == "size" and self._unknown_receiver(func.value):
                return structural.guarded_size(updated, self) or updated
        return updated

    @rewrite("data-written-is-the-tensor")
    def _written_through_data(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        """`w.data.uniform_(-s, s)` / `init.xavier_uniform_(w.data)`: written through `.data` (an in-place
        method, an init function), the tensor itself: MindSpore's `.data` of a Parameter is a copy, so
        writes to it are lost. Reads of `.data` (detached values) stay."""
        func = original.func
        if (isinstance(func, cst.Attribute) and func.attr.value.endswith("_") and not func.attr.value.startswith("__")
                and _data_of_tensor(func.value, self)
                and isinstance(updated.func, cst.Attribute) and isinstance(updated.func.value, cst.Attribute)):
            return updated.with_changes(func=updated.func.with_changes(value=updated.func.value.value))
        if (original.args and original.args[0].keyword is None and _data_of_tensor(original.args[0].value, self, True)
                and isinstance(updated.args[0].value, cst.Attribute)
                and (self._torch_name(func) or "").startswith("torch.nn.init.")):
            first = updated.args[0].with_changes(value=updated.args[0].value.value)
            return updated.with_changes(args=[first, *updated.args[1:]])
        return updated

    def _torch_keywords(self, call: cst.Call, method: str) -> bool:
        """`(a * b).sum(dim=-1, keepdim=True)` on values nothing types (a custom autograd backward's saved
        tensors): a Tensor method called with `dim`/`keepdim`, keywords of torch's tensors only (numpy's
        are axis and keepdims), on a receiver that is not a module or self."""
        receiver = call.func.value
        return (any(a.keyword is not None and a.keyword.value in ("dim", "keepdim") for a in call.args)
                and not (isinstance(receiver, cst.Name) and receiver.value == "self") and not self._imported(receiver)
                and not self.inf.is_module(receiver, self.scope) and self.kb.get(f"torch.Tensor.{method}") is not None)

    def _imported(self, node: cst.BaseExpression) -> bool:
        """NODE is a name an import binds (`lmu` of `from ..utils import loss_utils as lmu`): a module, class
        or function of the repo's or a library's, not a tensor, unless the function binds it itself."""
        return (isinstance(node, cst.Name) and node.value in self.resolver.imported
                and node.value not in self.scope.local_names())

    def _unknown_receiver(self, node: cst.BaseExpression) -> bool:
        """A name, `self.x` or `m.weight` the rules know nothing of (not a module, not annotated, not a torch
        name, not imported, not self)."""
        if isinstance(node, cst.Name):
            return (node.value != "self" and self._torch_name(node) is None and not self._imported(node)
                    and node.value not in self.scope.modules | self.scope.annotated)
        if not (isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name)):
            return False
        if node.value.value == "self":
            return self.scope.cls is not None and node.attr.value not in self.scope.cls.layers
        return self._unknown_receiver(node.value) and not self.inf.is_module(node, self.scope)

    def _torch_call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        name = self._torch_name(original.func)
        self.api_calls += 1
        special = structural.torch_call(name, updated, self)
        if special is not None:
            self.api_converted += 1
            return special
        entry = self.kb.get(name)
        target = self._target(entry) if entry else None
        if target is None:
            why = "no MindSpore mapping" if entry is None or not entry.targets else "no mapping verified on this device"
            self._unconverted(original, f"{why} for {name} ({self.device})", name)
            return updated
        return self._apply(original, updated, entry, target, receiver=None)

    def _apply(self, original, updated, entry: Entry, target, receiver, fallback: bool = True):
        try:
            binding = _bound(updated, entry)
            if not entry.signature and updated.args:
                raise Unconvertible("the KB has no torch signature to check this call against")
            if target.template:
                if target.helper:
                    self.add_helper(target.helper)
                new = fill_template(binding, target, self.plan.render, receiver)
                self.api_converted += 1
                return new
            args = build_args(binding, target, self.plan.render)
        except (SpreadArguments, DependsOnRuntime, BindError, Unconvertible) as exc:
            # (not when a target is imposed: a probe checks that target's own rules)
            other = self._taking(updated, entry, target, receiver) if fallback and entry.api not in self.overrides \
                else None
            if other is not None:  # another target verified on the device takes the call as written
                return self._apply(original, updated, entry, other, receiver, fallback=False)
            return self._not_taken(original, updated, entry, target, receiver, exc)
        return self._rewritten(original, updated, entry, target, receiver, args)

    def _taking(self, updated, entry: Entry, target, receiver):
        """The first other target of ENTRY, verified on the device, whose rules express the call as written
        (`F.elu(x, alpha=1.5)`: the CPU kernel's target refuses alpha, a composed helper takes it)."""
        for other in self.kb.alternatives(entry, self.device, exclude=target):
            verdict = other.verdicts.get(self.device)
            if verdict is None or verdict.source != "probe" or verdict.status != "matched":
                continue
            try:
                binding = _bound(updated, entry)
                if other.template:
                    fill_template(binding, other, self.plan.render, receiver)
                else:
                    build_args(binding, other, self.plan.render)
            except (BindError, Unconvertible):
                continue
            return other
        return None

    def _not_taken(self, original, updated, entry: Entry, target, receiver, exc):
        """No target takes the call as written: an adapter decides at run time, else the call is marked."""
        if isinstance(exc, SpreadArguments):
            if not has_arg_rules(target) and not target.template and (receiver is not None
                                                                       or target.namespace != "tensor"):
                return self._rewritten(original, updated, entry, target, receiver, list(updated.args))
                # (a plain rename: the spread reaches the same parameters)
            passed = self._spread_into_helper(updated, entry, target, receiver)
            if passed is not None:
                return passed
            if receiver is None and entry.kind != "method" and self._use_adapter(entry, target, spread=True):
                self.api_converted += 1  # the adapter has torch's signature and applies the rule at run time
                return updated.with_changes(func=cst.Name(adapter_name(entry)))
        elif isinstance(exc, DependsOnRuntime):
            # the value decides at run time: call an adapter that converts, or raises a clear error
            if receiver is None and entry.kind != "method" and self._use_adapter(entry, target):
                self.api_converted += 1
                return updated.with_changes(func=cst.Name(adapter_name(entry)))
        self._unconverted(original, f"{entry.api}: {exc}", entry.api)
        return updated

    @rewrite("spread-calls-reach-helpers")
    def _spread_into_helper(self, updated, entry: Entry, target, receiver):
        """`self.add_module(*stage)`: a template that is its helper called with the receiver and torch's
        parameters in order (`_ms_add_module({self}, {name}, {module})`) takes a spread call as written."""
        params = [p.strip().split("=")[0].strip() for p in (entry.signature or "").strip("()").split(",") if p.strip()]
        holes = ", ".join(["{self}"] * (receiver is not None) + ["{%s}" % p for p in params])
        if not (target.template and target.helper and params and all(p.isidentifier() for p in params)
                and target.template == f"{helper_name(target.helper)}({holes})"):
            return None
        self.add_helper(target.helper)
        self.api_converted += 1
        args = [cst.Arg(receiver)] * (receiver is not None) + list(updated.args)
        return cst.Call(func=cst.Name(helper_name(target.helper)), args=fix_commas(args))

    def _rewritten(self, original, updated, entry: Entry, target, receiver, args):
        name = entry.api.rsplit(".", 1)[-1]
        if name in FLOAT_OF_INTEGER and self._seen_on_tensor(original, INTEGER_INPUT + name):
            # torch ran it on an integer tensor here, computing in float32: MindSpore's CPU kernel refuses ints
            as_float = lambda e: cst.Call(cst.Attribute(e, cst.Name("astype")),  # noqa: E731
                                          [cst.Arg(expression(self.plan.render("mindspore.float32")))])
            if receiver is not None:
                receiver = as_float(receiver)
            elif args:
                args = [args[0].with_changes(value=as_float(args[0].value)), *args[1:]]
        if target.namespace == "tensor":
            if receiver is None:  # a torch function written as a method of its first argument
                if not args:
                    self._unconverted(original, f"{entry.api}: no tensor argument to call {target.api} on")
                    return updated
                receiver, args = args[0].value, args[1:]
            func = cst.Attribute(value=receiver, attr=cst.Name(target.api))
        else:
            func = expression(self.plan.render(target.api))
            if receiver is not None:  # a Tensor method becoming a function of the tensor
                args = [cst.Arg(receiver), *args]
        new = updated.with_changes(func=func, args=fix_commas(args))
        if target.helper and _helper_needed(target, new):  # written into the file once
            self.add_helper(target.helper)
        self.api_converted += 1
        return new

    def _use_adapter(self, entry: Entry, target, spread: bool = False) -> bool:
        """Write (once) the function with torch's signature that builds the target at run time; False when
        none can be (or the target's own helper already has the adapter's name)."""
        if target.helper and helper_name(target.helper) == adapter_name(entry):
            return False
        try:
            sources = adapter_sources(entry, target, self.plan.render, spread=spread)
        except Unconvertible:
            return False
        if target.helper:  # the adapter builds the target, which may be a helper of the KB
            self.add_helper(target.helper)
        for name, source in sources:
            self.adapters.setdefault(name, source)
        return True

    def _tensor_method(self, original, updated, method: str):
        out, target = self._method_call(original, updated, method, structural.tensor_method, "torch.Tensor",
                                        f"Tensor.{method} on {self.device}")
        if target is not None and target.assign_result and out is not updated:
            return self._written_back(original, updated, out)  # in place: see rules/in_place.py
        return out

    def _module_method(self, original, updated, method: str):
        return self._method_call(original, updated, method, structural.module_method, "torch.nn.Module",
                                 f"Module.{method}")[0]

    def _method_call(self, original, updated, method: str, structural_rule, owner: str, shown: str):
        """`receiver.method(...)` rewritten by the structural rule, else by the KB entry `owner.method` (a call
        no entry knows is user code: left as it is); (the call, the KB target applied or None)."""
        special = structural_rule(method, updated, self)
        if special is not None:
            self.api_calls += 1
            self.api_converted += 1
            return special, None
        entry = self.kb.get(f"{owner}.{method}")
        if entry is None:
            return updated, None  # not a torch API we know: user-defined or dynamic, leave it
        self.api_calls += 1
        target = self._target(entry)
        if target is None:
            self._unconverted(original, f"no MindSpore mapping for {shown}", entry.api)
            return updated, None
        return self._apply(original, updated, entry, target, receiver=updated.func.value), target


def _bound(call: cst.Call, entry: Entry) -> Binding:
    """CALL bound against ENTRY's torch signature (numpy's argument names where torch's parser takes them)."""
    return bind(call, entry.signature, takes_numpy_names(entry.api, entry.kind)) if entry.signature else Binding()


def _data_of_tensor(node: cst.BaseExpression, rw, initialised: bool = False) -> bool:
    """`X.data` where X is a tensor or parameter (`self.weight.data`, `m.weight.data` of any layer); any
    `X.data` when it is what a torch.nn.init function INITIALISED (those take tensors only)."""
    return (isinstance(node, cst.Attribute) and node.attr.value == "data"
            and (initialised or rw.inf.is_tensor(node, rw.scope)))


def _helper_needed(target, call: cst.Call) -> bool:
    """A helper that only argument templates call (`_ms_pool_arg`) is needed where one of them fired;
    any other (a backend class whose definition registers it) wherever the target is used."""
    name = helper_name(target.helper)
    return name in code(call) or not any(name in t for t in target.values.values())
