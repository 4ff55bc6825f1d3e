"""The rules stage: one LibCST pass that applies KB entries to every torch reference in a file.

Matching is by qualified name (rules/names.py), so every import style resolves.
Tensor methods are rewritten only on receivers known to be tensors (rules/tensors.py).
What cannot be converted is left as it was and carries a `# msagent:` marker line.
"""
from __future__ import annotations

import functools
import gc
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field

import libcst as cst

from agent.kb.schema import Entry
from agent.kb.store import KB
from agent.rules import structural, training
from agent.rules.calls import (MS_NAME, DependsOnRuntime, Unconvertible, build_args, code, expression, fill_template,
                               has_arg_rules)
from agent.rules.adapters import adapter_name, adapter_source
from agent.rules.imports import ImportPlan
from agent.rules.imports_pass import finish_imports
from agent.rules.names import Resolver, referenced_names, scan_names
from agent.rules.positions import Positions, Unchanged, top_level_lines
from agent.rules.signature import BindError, Binding, SpreadArguments, bind
from agent.rules.tensors import ClassFacts, Inference, Scope, function_params
from agent.rules.walk import TRIVIA, Transformer, visit, with_deep_stack
from agent.verify.observe import STORE

MARKER = "# msagent:"
_PAIR_RESULTS = {"max", "min", "sort", "topk", "kthvalue", "median", "mode", "cummax", "cummin"}


@dataclass
class Marker:
    line: int
    reason: str


@dataclass
class RulesResult:
    code: str
    api_calls: int = 0
    api_converted: int = 0
    markers: list[Marker] = field(default_factory=list)
    uses_torch: bool = False

    @property
    def api_marked(self) -> int:
        return self.api_calls - self.api_converted


class _Rewriter(Transformer):
    def __init__(self, kb: KB, device: str, plan: ImportPlan, module_classes: set[str], nearest,
                 overrides: dict | None = None, observed: set | None = None, *, resolver: Resolver,
                 positions: Positions):
        super().__init__()
        self.resolver, self.positions = resolver, positions
        self.top: cst.CSTNode | None = None  # the top-level statement being rewritten (for positions)
        self.member: cst.CSTNode | None = None  # and the statement of its class body, when it is a class
        self._tops: set[int] = set()
        self._members: set[int] = set()
        self.not_refs: set[int] = set()  # Name nodes that name no variable: attributes, keywords
        self.fquotes: list[str] = []  # quote of each enclosing f-string
        self.layer_bases: list = []  # per enclosing class: the torch layer entry it derives from, or None
        self.overrides = overrides or {}
        self.type_context: set[int] = set()  # torch class references used as types (isinstance, bases)
        self.pending_narrow: dict[int, dict] = {}  # if-body id -> {name: {torch param: MindSpore param}}
        self.narrowed: list[dict] = []  # per indented block: names narrowed by an enclosing isinstance
        self.adapters: dict[str, str] = {}  # adapter function name -> source
        self.observed = observed or set()  # (line, column, method) where torch ran, seen by execution
        # (line, column) of an attribute store -> {attribute: torch layer class}, seen by execution
        self.stores: dict[tuple[int, int], dict[str, str]] = {}
        for line, col, what in self.observed:
            if what.startswith(STORE):
                attr, _, cls = what[len(STORE):].partition(":")
                self.stores.setdefault((line, col), {})[attr] = cls
        self.kb, self.device, self.plan, self.nearest = kb, device, plan, nearest
        self.inf = Inference(self._qn, module_classes, set())
        self.module_classes = module_classes
        self.scopes: list[Scope] = [Scope(cls=None)]
        self.classes: list[ClassFacts] = []
        self.frames: list[list[str]] = [[]]  # marker comments waiting for their statement
        self.markers: list[Marker] = []
        self.api_calls = self.api_converted = 0
        self.roots: set[int] = set()  # torch-name expressions (outermost)
        self.call_funcs: set[int] = set()
        self.unconverted_roots: set[str] = set()  # local names of torch bindings still referenced

    # -- helpers -------------------------------------------------------------------------
    def _qn(self, node: cst.CSTNode) -> set[str]:
        return self.resolver.qualified(node)

    def _torch_name(self, node: cst.CSTNode) -> str | None:
        if id(node) in self.not_refs:
            return None
        return self.resolver.torch_name(node)

    def _target(self, entry: Entry):
        return self.overrides.get(entry.api) or self.kb.target_for(entry, self.device)

    def _add_helper(self, source: str) -> None:
        """A KB target's helper (a def or class), once per file, its MindSpore names imported."""
        name = source.split("(", 1)[0].split()[-1].rstrip(":")
        if name not in self.adapters:
            self.adapters[name] = MS_NAME.sub(lambda m: self.plan.render(m.group(0)), source)

    def _seen_on_tensor(self, call: cst.Call, method: str) -> bool:
        """Execution of the torch original saw a Tensor method called here."""
        if not self.observed:
            return False
        start = self.positions.start(self.top, call)
        return start is not None and (start.line, start.column, method) in self.observed

    def _line(self, node: cst.CSTNode) -> int:
        return self.positions.line(self.top, self.member, node) or 0

    def mark(self, node: cst.CSTNode, reason: str, api: str | None = None) -> None:
        hint = self.nearest(api or reason) if self.nearest else None
        text = f"{reason} (nearest KB candidate: {hint})" if hint and hint != api else reason
        self.markers.append(Marker(self._line(node), text))
        self.frames[-1].append(f"{MARKER} {text}")

    def _root_name(self, node: cst.BaseExpression) -> str | None:
        while isinstance(node, cst.Attribute):
            node = node.value
        return node.value if isinstance(node, cst.Name) else None

    @property
    def scope(self) -> Scope:
        return self.scopes[-1]

    # -- statements carry markers ----------------------------------------------------------
    def _push(self, _node: cst.CSTNode) -> bool:
        self.frames.append([])
        return True

    def _pop(self, updated: cst.CSTNode) -> cst.CSTNode:
        comments = self.frames.pop()
        if not comments or not hasattr(updated, "leading_lines"):
            self.frames[-1].extend(comments)
            return updated
        lines = [cst.EmptyLine(indent=True, comment=cst.Comment(c)) for c in dict.fromkeys(comments)]
        return updated.with_changes(leading_lines=[*updated.leading_lines, *lines])

    visit_SimpleStatementLine = _push
    visit_For = visit_While = visit_With = visit_Try = _push

    def leave_SimpleStatementLine(self, original, updated):
        return self._pop(updated)

    def leave_If(self, original, updated):
        return self._pop(updated)

    def leave_For(self, original, updated):
        return self._pop(updated)

    def leave_While(self, original, updated):
        return self._pop(updated)

    def leave_With(self, original, updated):
        return self._pop(updated)

    def leave_Try(self, original, updated):
        return self._pop(updated)

    # -- scopes ------------------------------------------------------------------------------
    def on_visit(self, node: cst.CSTNode) -> bool:
        # walk.Transformer.on_visit inlined (it runs for every node), plus where-am-I for positions
        kind = type(node)
        if kind in TRIVIA:
            return False
        key = id(node)
        if key in self._tops:
            self.top, self.member = node, None
            body = node.body if kind is cst.ClassDef else None
            self._members = {id(s) for s in body.body} if isinstance(body, cst.IndentedBlock) else set()
        elif key in self._members:
            self.member = node
        fn = self.visit_hook(kind)
        return fn is None or fn(self, node) is not False

    def visit_Module(self, node: cst.Module) -> bool:
        self._tops = {id(s) for s in node.body}
        # module subclasses defined in this file count too
        self.module_classes |= structural.module_classes_of(node, self._qn, self.module_classes)
        self.inf.module_classes = self.module_classes
        return True

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        for base in node.bases:
            self._type_positions(base.value)
        facts = structural.collect_class_facts(node, self.inf, self._qn, self.module_classes)
        self.classes.append(facts)
        base = self._layer_base(node)
        if base is not None:  # the base layer's parameters are tensors here too (self.weight)
            facts.tensors |= {"weight", "bias"} | set(self._target(base).param_map)
        self.layer_bases.append(base)
        self.frames.append([])
        return True

    def leave_ClassDef(self, original, updated):
        self.classes.pop()
        self.layer_bases.pop()
        return self._pop(updated)

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

    def _base_attribute(self, name: str) -> str | None:
        """In a layer subclass, `self.groups` is the base's constructor argument kept as an attribute:
        MindSpore's layer keeps it under its own argument name (`group`). Parameters keep theirs."""
        target = self._target(self.layer_bases[-1])
        if name in ("weight", "bias") or name in target.param_map:
            return None
        renamed = target.args.get(name)
        return renamed if renamed and renamed != name else None

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
        return updated.with_changes(args=_fix_commas(args))

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        cls = self.classes[-1] if self.classes and self._directly_in_class(node) else None
        in_module = cls is not None and cls.is_module
        self.scopes.append(Scope(cls=cls, tensors=function_params(node, in_module, self._qn)))
        self.frames.append([])
        return True

    def _directly_in_class(self, node: cst.FunctionDef) -> bool:
        return len(self.classes) > 0 and len(self.scopes) == len(self.classes)

    def leave_FunctionDef(self, original, updated):
        scope = self.scopes.pop()
        if scope.cls is not None and scope.cls.is_module and updated.name.value == "forward":
            updated = updated.with_changes(name=cst.Name("construct"))
        return self._pop(updated)

    def visit_Assign(self, node: cst.Assign) -> None:
        for t in node.targets:
            self.inf.bind_targets(t.target, node.value, self.scope)
        if self._dropped_setting(node):  # not references to convert: the statement goes
            for t in node.targets:
                part = t.target
                while isinstance(part, cst.Attribute):
                    self.not_refs.add(id(part))
                    part = part.value
                self.not_refs.add(id(part))

    def _dropped_setting(self, node: cst.Assign) -> str | None:
        """`torch.backends.cudnn.benchmark = True`: a torch backend switch MindSpore has no counterpart of."""
        names = [self.resolver.torch_name(t.target) if isinstance(t.target, cst.Attribute) else None
                 for t in node.targets]
        if names and all(n is not None and n.startswith(structural.DROPPED_SETTINGS) for n in names):
            return names[0]
        return None

    def leave_Assign(self, original: cst.Assign, updated: cst.Assign):
        """`wte.weight = head.weight` where execution saw `wte` is an Embedding: MindSpore's name.
        A torch backend switch is dropped, with a comment saying so."""
        dropped = self._dropped_setting(original)
        if dropped:
            self.api_calls += 1
            self.api_converted += 1
            self.frames[-1].append(f"# dropped by msagent: {dropped} = {code(original.value)} "
                                   "(a torch backend switch; MindSpore has none)")
            return cst.Pass()
        if not self.stores:
            return updated
        targets = list(updated.targets)
        for i, t in enumerate(original.targets):
            if not isinstance(t.target, cst.Attribute):
                continue
            start = self.positions.start(self.top, t.target)
            cls = self.stores.get((start.line, start.column), {}).get(t.target.attr.value) if start else None
            entry = self.kb.get(cls) if cls else None
            target = self._target(entry) if entry else None
            renamed = target.param_map.get(t.target.attr.value) if target else None
            if renamed and isinstance(targets[i].target, cst.Attribute):
                targets[i] = targets[i].with_changes(target=targets[i].target.with_changes(attr=cst.Name(renamed)))
        return updated.with_changes(targets=targets)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self.inf.bind_targets(node.target, node.value, self.scope)

    # -- imports are handled by the imports pass ------------------------------------------
    def visit_Import(self, node) -> bool:
        return False

    def visit_ImportFrom(self, node) -> bool:
        return False

    # -- torch references ---------------------------------------------------------------------
    def visit_Attribute(self, node: cst.Attribute) -> bool:
        if _dotted(node) and self._torch_name(node) is not None:
            self.roots.add(id(node))
            return False
        self.not_refs.add(id(node.attr))
        return True

    def visit_Name(self, node: cst.Name) -> bool:
        if self._torch_name(node) is not None:
            self.roots.add(id(node))
        return False

    def visit_Arg(self, node: cst.Arg) -> bool:
        if node.keyword is not None:
            self.not_refs.add(id(node.keyword))
        return True

    def visit_Call(self, node: cst.Call) -> bool:
        self.call_funcs.add(id(node.func))
        if isinstance(node.func, cst.Name) and node.func.value in ("isinstance", "issubclass") and len(node.args) == 2:
            self._type_positions(node.args[1].value)
        return True

    def visit_Comparison(self, node: cst.Comparison) -> bool:
        self._type_positions(node.left)  # type(m) is nn.Linear
        for c in node.comparisons:
            self._type_positions(c.comparator)
        return True

    def _type_positions(self, node: cst.BaseExpression) -> None:
        """Where a torch class stands for its type, it is renamed, never wrapped."""
        if isinstance(node, (cst.Tuple, cst.List)):
            for e in node.elements:
                self._type_positions(e.value)
        else:
            self.type_context.add(id(node))

    def leave_Attribute(self, original, updated):
        if original.attr.value in ("values", "indices") and self._returns_pair(original.value):
            # torch's (values, indices) results are named tuples; MindSpore's are plain tuples
            index = "0" if original.attr.value == "values" else "1"
            return cst.Subscript(value=updated.value, slice=[cst.SubscriptElement(cst.Index(cst.Integer(index)))])
        if id(original) not in self.roots and self.narrowed and isinstance(original.value, cst.Name):
            renamed = self.narrowed[-1].get(original.value.value, {}).get(original.attr.value)
            if renamed:
                return updated.with_changes(attr=cst.Name(renamed))
        attr = original.attr.value
        if attr in structural.TENSOR_ATTRIBUTES and self.inf.is_tensor(original.value, self.scope):
            self.api_calls += 1
            self.api_converted += 1
            return cst.parse_expression(MS_NAME.sub(lambda m: self.plan.render(m.group(0)),
                                                    structural.TENSOR_ATTRIBUTES[attr]))
        if attr in structural.MODULE_ATTRIBUTES and (
                (self.scope.cls is not None and self.scope.cls.is_module and isinstance(original.value, cst.Name)
                 and original.value.value == "self") or self.inf.is_module(original.value, self.scope)):
            return updated.with_changes(attr=cst.Name(structural.MODULE_ATTRIBUTES[attr]))
        if (self.layer_bases and self.layer_bases[-1] is not None and self.scope.cls is not None
                and isinstance(original.value, cst.Name) and original.value.value == "self"):
            renamed = self._base_attribute(original.attr.value)
            if renamed:
                return updated.with_changes(attr=cst.Name(renamed))
        return self._reference(original, updated)

    def _returns_pair(self, node: cst.BaseExpression) -> bool:
        """A torch call that returns (values, indices): max/min/sort/topk/... over a dimension."""
        if not isinstance(node, cst.Call):
            return False
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in _PAIR_RESULTS:
            if self.inf.is_tensor(func.value, self.scope) or self._torch_name(func) is not None:
                return bool(node.args) or func.attr.value in ("sort", "topk")
            return self._seen_on_tensor(node, func.attr.value)
        return False

    # -- isinstance narrowing: `if isinstance(m, nn.BatchNorm2d): m.weight` is m.gamma in MindSpore --
    def visit_If(self, node: cst.If) -> bool:
        self.frames.append([])
        names = self._narrowing(node.test)
        if names:
            self.pending_narrow[id(node.body)] = names
        return True

    def _narrowing(self, test: cst.BaseExpression) -> dict[str, dict[str, str]]:
        if not (isinstance(test, cst.Call) and isinstance(test.func, cst.Name) and test.func.value == "isinstance"
                and len(test.args) == 2 and isinstance(test.args[0].value, cst.Name)):
            return {}
        types = test.args[1].value
        nodes = [e.value for e in types.elements] if isinstance(types, (cst.Tuple, cst.List)) else [types]
        maps = []
        for n in nodes:
            name = self._torch_name(n)
            entry = self.kb.get(name) if name else None
            target = self._target(entry) if entry else None
            maps.append({k: v for k, v in (target.param_map if target else {}).items() if v and v != k})
        # only renames every narrowed class agrees on
        common = {k: v for k, v in maps[0].items() if all(m.get(k) == v for m in maps[1:])} if maps else {}
        return {test.args[0].value.value: common} if common else {}

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> bool:
        names = self.pending_narrow.pop(id(node), None)
        base = self.narrowed[-1] if self.narrowed else {}
        self.narrowed.append({**base, **names} if names else base)
        return True

    def leave_IndentedBlock(self, original, updated):
        self.narrowed.pop()
        return updated

    # -- f-strings: a rewritten expression must not close its string (no same quotes before 3.12) --
    def visit_FormattedString(self, node: cst.FormattedString) -> bool:
        self.fquotes.append(node.start.lstrip("rRfFbBuU"))
        return True

    def leave_FormattedString(self, original, updated):
        self.fquotes.pop()
        return updated

    def leave_FormattedStringExpression(self, original, updated):
        quote = self.fquotes[-1] if self.fquotes else '"""'
        text = code(updated.expression)
        if len(quote) == 3 or (quote not in text and "\\" not in text):
            return updated
        other = '"' if quote == "'" else "'"
        if other not in text and "\\" not in text:
            return updated.with_changes(expression=cst.parse_expression(text.replace(quote, other)))
        self.mark(original, "the translation of this f-string expression needs both quote kinds: rewrite it "
                            "outside the f-string")
        return original

    def leave_Name(self, original, updated):
        return self._reference(original, updated)

    def _reference(self, original, updated):
        if id(original) not in self.roots or id(original) in self.call_funcs:
            return updated
        name = self._torch_name(original)
        self.api_calls += 1
        entry = self.kb.get(name)
        target = self._target(entry) if entry else None
        if target is None:
            self._unconverted(original, f"no MindSpore mapping for {name} on {self.device}", name)
            return updated
        if entry.kind == "class" and has_arg_rules(target) and id(original) not in self.type_context:
            try:  # called later with torch's arguments: a function with torch's signature builds the layer
                self.adapters.setdefault(adapter_name(entry), adapter_source(entry, target, self.plan.render))
            except Unconvertible as exc:
                self._unconverted(original, f"{name} used as a value: {exc}", name)
                return updated
            self.api_converted += 1
            return cst.Name(adapter_name(entry))
        if target.helper:
            self._add_helper(target.helper)
        self.api_converted += 1
        return expression(self.plan.render(target.api))

    def _unconverted(self, node: cst.CSTNode, reason: str, api: str | None = None) -> None:
        root = self._root_name(node.func if isinstance(node, cst.Call) else node)
        if root:
            self.unconverted_roots.add(root)
        self.mark(node, reason, api)

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        if id(original.func) in self.roots:
            return self._torch_call(original, updated)
        func = original.func
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if self.inf.is_tensor(func.value, self.scope) or self._seen_on_tensor(original, method):
                return self._tensor_method(original, updated, method)
            if self.inf.is_module(func.value, self.scope) or (
                    isinstance(func.value, cst.Name) and func.value.value == "self" and self.scope.cls is not None
                    and self.scope.cls.is_module and method in structural.SELF_MODULE_METHODS):
                return self._module_method(original, updated, method)
            if method == "forward" and isinstance(func.value, cst.Call) and code(func.value.func) == "super":
                return updated.with_changes(func=updated.func.with_changes(attr=cst.Name("construct")))
            if (method == "__init__" and isinstance(func.value, cst.Call) and code(func.value.func) == "super"
                    and self.layer_bases and self.layer_bases[-1] is not None):
                return self._super_init(original, updated)
        return updated

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

    def _apply(self, original, updated, entry: Entry, target, receiver):
        try:
            binding = bind(updated, entry.signature) if entry.signature else Binding()
            if not entry.signature and updated.args:
                raise Unconvertible("the KB has no torch signature to check this call against")
            if target.template:
                if target.helper:
                    self._add_helper(target.helper)
                new = fill_template(binding, target, self.plan.render, receiver)
                self.api_converted += 1
                return new
            args = build_args(binding, target, self.plan.render)
        except SpreadArguments as exc:
            if not has_arg_rules(target) and not target.template and (receiver is not None
                                                                       or target.namespace != "tensor"):
                args = list(updated.args)  # a plain rename: the spread reaches the same parameters
            elif receiver is None and entry.kind != "method" and self._use_adapter(entry, target):
                self.api_converted += 1  # the adapter has torch's signature and applies the rule at run time
                return updated.with_changes(func=cst.Name(adapter_name(entry)))
            else:
                self._unconverted(original, f"{entry.api}: {exc}", entry.api)
                return updated
        except DependsOnRuntime as exc:
            # the value decides at run time: call an adapter that converts, or raises a clear error
            if receiver is None and entry.kind != "method" and self._use_adapter(entry, target):
                self.api_converted += 1
                return updated.with_changes(func=cst.Name(adapter_name(entry)))
            self._unconverted(original, f"{entry.api}: {exc}", entry.api)
            return updated
        except (BindError, Unconvertible) as exc:
            self._unconverted(original, f"{entry.api}: {exc}", entry.api)
            return updated
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
        if target.helper:  # a function the target names, written into the file once
            self._add_helper(target.helper)
        self.api_converted += 1
        return updated.with_changes(func=func, args=_fix_commas(args))

    def _use_adapter(self, entry: Entry, target) -> bool:
        """Write (once) the function with torch's signature that builds the target at run time."""
        try:
            self.adapters.setdefault(adapter_name(entry), adapter_source(entry, target, self.plan.render))
        except Unconvertible:
            return False
        return True

    def _tensor_method(self, original, updated, method: str):
        special = structural.tensor_method(method, updated, self)
        if special is not None:
            self.api_calls += 1
            self.api_converted += 1
            return special
        entry = self.kb.get(f"torch.Tensor.{method}")
        if entry is None:
            return updated  # not a torch API we know: user-defined or dynamic, leave it
        self.api_calls += 1
        target = self._target(entry)
        if target is None:
            self._unconverted(original, f"no MindSpore mapping for Tensor.{method} on {self.device}", entry.api)
            return updated
        out = self._apply(original, updated, entry, target, receiver=updated.func.value)
        if target.assign_result and out is not updated and not isinstance(original.func.value, cst.Call):
            # in-place: MindSpore's in-place arithmetic is a silent no-op on CPU, copy_ is not; writing the
            # out-of-place result back keeps torch's aliasing (other names, parameters) and its return value.
            # On a temporary (a call's result) the out-of-place form alone is exact.
            receiver = updated.func.value
            return cst.Call(func=cst.Attribute(value=receiver, attr=cst.Name("copy_")), args=[cst.Arg(out)])
        return out

    def _module_method(self, original, updated, method: str):
        special = structural.module_method(method, updated, self)
        if special is not None:
            self.api_calls += 1
            self.api_converted += 1
            return special
        entry = self.kb.get(f"torch.nn.Module.{method}")
        if entry is None:
            return updated
        self.api_calls += 1
        target = self._target(entry)
        if target is None:
            self._unconverted(original, f"no MindSpore mapping for Module.{method}", entry.api)
            return updated
        return self._apply(original, updated, entry, target, receiver=updated.func.value)


@functools.lru_cache(maxsize=1024)
def _statement(source: str) -> cst.BaseStatement:
    """A helper or adapter definition, parsed once per process (nodes are immutable)."""
    return cst.parse_statement(source)


def _dotted(node: cst.BaseExpression) -> bool:
    """A plain dotted name (torch.nn.Conv2d), not an attribute of a call result."""
    while isinstance(node, cst.Attribute):
        node = node.value
    return isinstance(node, cst.Name)


def _fix_commas(args: list[cst.Arg]) -> list[cst.Arg]:
    if not args:
        return args
    return [*args[:-1], args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)]


def translate_source(source: str, kb: KB, device: str = "cpu", *, module_classes: set[str] | None = None,
                     nearest=None, overrides: dict | None = None, observed: set | None = None) -> RulesResult:
    """Translate one file. Raises libcst.ParserSyntaxError for unparsable source, RecursionError
    for source nested too deeply even for a deep stack."""
    args = (source, kb, device)
    kwargs = dict(module_classes=module_classes, nearest=nearest, overrides=overrides, observed=observed)
    with _collector_paused():
        try:
            return _translate_source(*args, **kwargs)
        except RecursionError:
            pass  # deeply nested code (LibCST recurses per node): once more, on a deep stack
        if longest_statement(source) > DEEP_RETRY_MAX_TOKENS:
            raise RecursionError(f"a statement of over {DEEP_RETRY_MAX_TOKENS} operators and brackets: too deeply "
                                 "nested to translate")
        return with_deep_stack(_translate_source, *args, **kwargs)


_gc_lock = threading.Lock()
_gc_holders = 0  # translations running with the cycle collector paused
_gc_was_enabled = False


@contextmanager
def _collector_paused():
    """The cycle collector off while a file is translated: LibCST builds (and rebuilds) hundreds of
    thousands of acyclic nodes per file, and the collections those allocations trigger cost about a
    fifth of the rules' time while finding nothing to free. Reference counting still frees every
    tree; whatever cycles a translation leaves are collected once the last concurrent one ends (the
    pause is process-wide, so it is counted across threads, and an already disabled collector is
    left disabled)."""
    global _gc_holders, _gc_was_enabled
    with _gc_lock:
        if _gc_holders == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_holders += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_holders -= 1
            if _gc_holders == 0 and _gc_was_enabled:
                gc.enable()


# The deep-stack retry is slow on very long flat expressions (a 2,900-term sum takes ~25 s): past
# this many operator tokens in one statement the file is reported as too deep instead.
DEEP_RETRY_MAX_TOKENS = 1200


def longest_statement(source: str) -> int:
    """The most nesting tokens (operators and opening brackets; not dots, commas or closers) in one
    logical line of `source`: a cheap bound on how deep its expression trees go."""
    import io
    import tokenize

    most = count = 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.OP and tok.string not in (".", ",", ":", ")", "]", "}", "=", ";"):
                count += 1
            elif tok.type == tokenize.NEWLINE:
                most, count = max(most, count), 0
    except (tokenize.TokenError, SyntaxError):
        pass
    return max(most, count)


def _translate_source(source: str, kb: KB, device: str, *, module_classes: set[str] | None, nearest,
                      overrides: dict | None, observed: set | None) -> RulesResult:
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError:
        raise
    except Exception as exc:  # the parser's own faults on malformed input are parse errors too
        raise cst.ParserSyntaxError(f"{type(exc).__name__}: {exc}", lines=source.splitlines(True) or [""],
                                    raw_line=1, raw_column=0) from exc
    names = scan_names(source)
    bindings = names.torch_bound
    if not bindings:
        return RulesResult(code=source)
    taken = names.identifiers - bindings
    tops = top_level_lines(module, names.tree)
    resolver, positions = Resolver(module, names), Positions(module, tops)
    for _attempt in range(2):
        plan = ImportPlan(taken)
        rewriter = _Rewriter(kb, device, plan, set(module_classes or ()), nearest, overrides, observed,
                             resolver=resolver, positions=positions)
        new = visit(module, rewriter)
        kept = {b for b in bindings if b in rewriter.unconverted_roots}
        clash = kept & set(plan.needed)
        if clash and _attempt == 0:
            taken |= clash
            continue
        break
    unchanged = Unchanged(module, source, tops)  # prints the statements no pass changed as their source lines
    # Training-loop, data-loader and checkpoint rewrites (rules/training.py) work on the KB pass's output.
    if training.may_apply(source):
        # only the top-level statements whose own text names a training construct are walked
        lines = source.splitlines(True)
        busy = None if tops is None else {i for i, (a, b) in enumerate(tops) if training.may_apply("".join(lines[a - 1:b]))}
        tr = training.rewrite_training(new, kb, plan, names, busy)
        if kept:  # the training rewrites may have removed the last use of a torch name
            kept &= referenced_names(tr.module, unchanged.code(tr.module))
    else:
        tr = training.TrainingResult(new)
    new = tr.module
    rule_markers = [m for m in rewriter.markers if f"{MARKER} {m.reason}" not in tr.dropped]
    rule_markers += [Marker(0, r) for r in tr.markers]
    new, import_markers = finish_imports(new, plan, kept, [_statement(a) for a in rewriter.adapters.values()],
                                         nested=names.nested_torch_imports or names.shadowed)
    result = RulesResult(code=unchanged.code(new), api_calls=rewriter.api_calls + tr.calls,
                         api_converted=rewriter.api_converted + tr.converted,
                         markers=sorted(rule_markers + [Marker(l, r) for l, r in import_markers],
                                        key=lambda m: m.line),
                         uses_torch=bool(kept))
    return result
