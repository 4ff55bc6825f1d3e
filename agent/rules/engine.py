"""The rules stage: one LibCST pass that applies KB entries to every torch reference in a file.

Matching is by qualified name (scan/names.py), so every import style resolves.
Tensor methods are rewritten only on receivers known to be tensors (rules/tensors.py).
What cannot be converted is left as it was and carries a `# msagent:` marker line.

The pass is one rewriter: its state, markers, positions and assignments are here; its rewrites of
calls (rules/call_rules.py), of torch names used as values and isinstance narrowing
(rules/references.py), and of classes and functions (rules/classes.py) are mixins of it.
"""
from __future__ import annotations

import ast
import re

import functools
import gc
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field

import libcst as cst

from agent.kb.schema import Entry
from agent.kb.store import KB
from agent.rules import structural, training
from agent.rules.buffers import BufferRules
from agent.rules.call_rules import CallRules
from agent.rules.calls import MS_NAME, code, helper_name
from agent.rules.catalog import rewrite
from agent.rules.classes import ClassRules
from agent.rules.complex_arithmetic import ComplexRules, computes_complex
from agent.rules.numpy_scalars import NumpyScalarRules
from agent.rules.slice_writes import SliceWriteRules, slice_variables
from agent.rules.strided_slices import StridedSliceRules
from agent.rules.fallback_imports import FallbackImportRules
from agent.rules.packed_sequences import PackedSequenceRules
from agent.rules.imports import ImportPlan
from agent.rules.imports_pass import finish_imports, imports_torch_only
from agent.rules.in_place import InPlaceRules
from agent.scan.names import Resolver, referenced_names, scan_names
from agent.rules.positions import Positions, Unchanged, top_level_lines
from agent.rules.references import ReferenceRules
from agent.rules.tensors import ClassFacts, Inference, Scope, annotation_is_tensor
from agent.rules.walk import TRIVIA, Transformer, visit, with_deep_stack
from agent.verify.observe import STORE

MARKER = "# msagent:"


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


class _Rewriter(ClassRules, ReferenceRules, CallRules, InPlaceRules, BufferRules, ComplexRules, PackedSequenceRules,
                FallbackImportRules, NumpyScalarRules, StridedSliceRules, SliceWriteRules, Transformer):
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
        self.assigned: set[int] = set()  # assignment targets: `x.requires_grad = True` is written, not read
        self.complex_stores: set[int] = set()  # `z.real` / `z.imag` assigned to
        self.complex_seen = True  # whether the file may compute in complex numbers (see complex_arithmetic)
        self.complex_memo: dict[int, bool] = {}
        self.packs_sequences = True  # whether the file may call pack_padded_sequence (see packed_sequences)
        self.fquotes: list[str] = []  # quote of each enclosing f-string
        self.layer_bases: list = []  # per enclosing class: the torch layer entry it derives from, or None
        self.overrides = overrides or {}
        self.type_context: set[int] = set()  # torch class references used as types (isinstance, bases)
        self.annotations: list[bool] = []  # per enclosing annotation: whether a torch name in it stays unmapped
        self.handlers = 0  # enclosing except blocks (see fallback_imports)
        self.typing_args: set[int] = set()  # names inside a typing generic's brackets (`Type[...]`)
        self.module_attrs: set[str] = set()  # attributes of self that module-only methods are called on
        self.class_bases: set[int] = set()  # those that are a class's bases
        self.instance_checks: set[int] = set()  # those of them that isinstance/issubclass test against
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
        # `hasattr(torch.x, "y")` / `getattr(torch.x, "y", d)` calls -> (torch name asked about, is a getattr)
        self.probes: dict[int, tuple[str, bool]] = {}
        self.probe_args: set[int] = set()  # their first two arguments: not torch references to convert
        self.module_checks: dict[int, tuple[str, bool]] = {}  # `alias is None` of a torch module -> (module, is)
        self.unconverted_roots: set[str] = set()  # local names of torch bindings still referenced
        self.rebound: dict[int, cst.NamedExpr] = {}  # `(x := x.op(...))` written for an in-place `x.op_(...)`
        self.copied_into: dict[int, tuple] = {}  # `R.copy_(...)` written for one: (that call, R)

    # -- helpers -------------------------------------------------------------------------
    def _qn(self, node: cst.CSTNode) -> set[str]:
        return self.resolver.qualified(node)

    def _torch_name(self, node: cst.CSTNode) -> str | None:
        if id(node) in self.not_refs:
            return None
        return self.resolver.torch_name(node)

    def _target(self, entry: Entry):
        return self.overrides.get(entry.api) or self.kb.target_for(entry, self.device)

    def add_helper(self, source: str) -> None:
        """A KB target's helper (a def or class), once per file, its MindSpore names imported."""
        name = helper_name(source)
        if name not in self.adapters:
            self.adapters[name] = MS_NAME.sub(lambda m: self.plan.render(m.group(0)), source)
            for used in dict.fromkeys(re.findall(r"\b(_ms_\w+|_Ms\w+)\(", source)):  # a helper that calls another
                if used != name and (other := self.kb.helper_source(used)):
                    self.add_helper(other)

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
    visit_While = visit_With = visit_Try = _push

    def visit_For(self, node: cst.For) -> bool:
        self.inf.bind_loop(node.target, node.iter, self.scope)  # `for p in self.parameters()`: tensors
        return self._push(node)

    def leave_SimpleStatementLine(self, original, updated):
        if self.frames[-1] == [] and _became_self_assignment(original, updated) and not updated.leading_lines:
            self.frames.pop()  # `model = model.to(device)` left as `model = model`: the statement goes
            return cst.RemoveFromParent()
        return self._pop(updated)

    def leave_IndentedBlock(self, original, updated):
        if not updated.body:  # its only statement went (above)
            return updated.with_changes(body=[cst.SimpleStatementLine([cst.Pass()])])
        return updated

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
        self.slice_names = slice_variables(node)  # loop variables over slice objects (rules/slice_writes.py)
        # module subclasses defined in this file count too
        self.module_classes |= structural.module_classes_of(node, self._qn, self.module_classes)
        self.inf.module_classes = self.module_classes
        self.inf.tensor_functions = {s.name.value for s in node.body if isinstance(s, cst.FunctionDef)
                                     and s.returns is not None and annotation_is_tensor(s.returns, self._qn)}
        return True

    # -- assignments ---------------------------------------------------------------------------
    def visit_Assign(self, node: cst.Assign) -> None:
        self.assigned.update(id(t.target) for t in node.targets)
        for t in node.targets:
            self.inf.bind_targets(t.target, node.value, self.scope)
            if isinstance(t.target, cst.Name):  # `best = x.max(dim=1)`: `best.values` later is `best[0]`
                (self.scope.pairs.add if self._returns_pair(node.value) else self.scope.pairs.discard)(t.target.value)
            self.bind_complex(t.target, node.value)
            if self.packs_sequences:
                self.bind_packed(t.target, node.value)
        if self._dropped_setting(node):  # not references to convert: the statement goes
            for t in node.targets:
                part = t.target
                while isinstance(part, cst.Attribute):
                    self.not_refs.add(id(part))
                    part = part.value
                self.not_refs.add(id(part))

    @rewrite("backend-switches-dropped")
    def _dropped_setting(self, node: cst.Assign) -> str | None:
        """`torch.backends.cudnn.benchmark = True`, `torch._dynamo.config.cache_size_limit = 10**6`: a switch of a
        torch backend or compiler MindSpore has no counterpart of."""
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
        stored = self.buffer_assign(original, updated)
        if stored is not None:
            return stored
        written = self.slice_write(original, updated) if self.slice_names else None
        if written is not None:
            return written
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
        self.bind_complex(node.target, node.value)

    # -- imports are handled by the imports pass ------------------------------------------
    def visit_Import(self, node) -> bool:
        return False

    def visit_ImportFrom(self, node) -> bool:
        return False

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


@functools.lru_cache(maxsize=1024)
def _statement(source: str) -> cst.BaseStatement:
    """A helper or adapter definition, parsed once per process (nodes are immutable)."""
    return cst.parse_statement(source)


def translate_source(source: str, kb: KB, device: str = "cpu", *, module_classes: set[str] | None = None,
                     nearest=None, overrides: dict | None = None, observed: set | None = None,
                     inherited: dict[str, str] | None = None) -> RulesResult:
    """Translate one file (INHERITED: torch names it gets through star imports, scan/star_imports.py).
    Raises libcst.ParserSyntaxError for unparsable source, RecursionError for source nested too deeply
    even for a deep stack."""
    args = (source, kb, device)
    kwargs = dict(module_classes=module_classes, nearest=nearest, overrides=overrides, observed=observed,
                  inherited=inherited)
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
                      overrides: dict | None, observed: set | None, inherited: dict[str, str] | None) -> RulesResult:
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError:
        raise
    except Exception as exc:  # the parser's own faults on malformed input are parse errors too
        raise cst.ParserSyntaxError(f"{type(exc).__name__}: {exc}", lines=source.splitlines(True) or [""],
                                    raw_line=1, raw_column=0) from exc
    names = scan_names(source, inherited)
    bindings = names.torch_bound
    if not bindings and not imports_torch_only(source) and not _subclasses_a_module(names.tree, module_classes):
        return RulesResult(code=source)  # (a subclass of the repo's modules still needs `forward` -> `construct`)
    taken = names.identifiers - bindings
    tops = top_level_lines(module, names.tree)
    resolver, positions = Resolver(module, names), Positions(module, tops)
    for _attempt in range(2):
        plan = ImportPlan(taken)
        rewriter = _Rewriter(kb, device, plan, set(module_classes or ()), nearest, overrides, observed,
                             resolver=resolver, positions=positions)
        rewriter.complex_seen = computes_complex(source)
        rewriter.module_attrs = names.module_attrs
        rewriter.packs_sequences = "pack_padded_sequence" in source
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


def _became_self_assignment(original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine) -> bool:
    """UPDATED is `x = x` (or `self.m = self.m`) where ORIGINAL assigned something else (a device move the
    rules removed)."""
    if len(updated.body) != 1 or not isinstance(updated.body[0], cst.Assign) or len(updated.body[0].targets) != 1:
        return False
    new, old = updated.body[0], original.body[0]
    if not isinstance(new.value, (cst.Name, cst.Attribute)) or not isinstance(old, cst.Assign):
        return False
    target = code(new.targets[0].target)
    return target == code(new.value) and code(old.value) != target


def _subclasses_a_module(tree, module_classes: set[str] | None) -> bool:
    """The file defines a class deriving from one of the repo's nn.Module subclasses (`class Loss(BaseLoss)`
    in a file with no torch import of its own)."""
    if tree is None or not module_classes:
        return False
    return any(isinstance(b, (ast.Name, ast.Attribute)) and (b.id if isinstance(b, ast.Name) else b.attr) in module_classes
               for n in ast.walk(tree) if isinstance(n, ast.ClassDef) for b in n.bases)
