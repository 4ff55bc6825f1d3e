"""Training-script rewrites: the structural part of migrating a training loop, run after the KB pass.

    loss = criterion(model(x), y)                def forward_fn(x, y):
    optimizer.zero_grad()              →             return criterion(model(x), y)
    loss.backward()                              grad_fn = ms.value_and_grad(forward_fn, None, optimizer.parameters)
    optimizer.step()                             loss, grads = grad_fn(x, y)
                                                 optimizer(grads)

plus, around it: `model.parameters()` passed to an optimizer becomes `model.trainable_params()`
and that model's `.train()/.eval()/.to(device)` become `set_train`/nothing; `DataLoader(ds,
batch_size, shuffle, drop_last)` becomes `GeneratorDataset(ds, column_names, shuffle).batch(...)`
when the columns can be read off the Dataset's `__getitem__` return tuple; `torch.save(m.state_dict(),
f)` → `save_checkpoint(m, f)`; `m.load_state_dict(torch.load(f))` → `load_param_into_net(m,
load_checkpoint(f))`; an unconverted `nn.CrossEntropyLoss(...)` → `ops.cross_entropy` with its
keywords bound (the nn loss wants int32 labels on CPU). Anything else around a training step
(statements between backward() and step(), a loss over several statements) is marked.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import libcst as cst

from agent.scan.names import FileNames, Resolver
from agent.rules.catalog import rewrite
from agent.rules.walk import Transformer, Visitor, statements, visit

MARKER = "# msagent:"
_LOADER_KEEP = {"dataset", "batch_size", "shuffle", "drop_last"}
_LOADER_DROP = {"num_workers", "pin_memory", "persistent_workers", "prefetch_factor", "pin_memory_device", "timeout"}
# Loss modules whose KB target may be unusable on the device, and a functional form that takes the
# same keywords (the constructor's keywords are bound with functools.partial).
LOSS_FUNCTIONAL = {"torch.nn.CrossEntropyLoss": "mindspore.ops.cross_entropy"}
_LOSS_KEYWORDS = {"torch.nn.CrossEntropyLoss": ("weight", "size_average", "ignore_index", "reduce", "reduction",
                                                "label_smoothing")}


@dataclass
class TrainingResult:
    module: cst.Module
    converted: int = 0
    calls: int = 0  # torch-style calls this pass found that the KB pass did not count
    markers: list[str] = field(default_factory=list)  # new marker reasons
    resolved: set[str] = field(default_factory=set)  # torch APIs whose KB-pass markers are now obsolete
    dropped: set[str] = field(default_factory=set)  # the marker comment texts removed


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def _is_call_stmt(stmt: cst.BaseStatement, method: str) -> str | None:
    """`X.method()` as a whole statement -> X's code."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return None
    expr = stmt.body[0]
    if isinstance(expr, cst.Expr) and isinstance(expr.value, cst.Call):
        f = expr.value.func
        if isinstance(f, cst.Attribute) and f.attr.value == method and not expr.value.args:
            return _code(f.value)
    return None


def _loss_assign(stmt: cst.BaseStatement, loss: str):
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Assign):
        a = stmt.body[0]
        if len(a.targets) == 1 and _code(a.targets[0].target) == loss:
            return a.value
    return None


def _inputs(expr: cst.BaseExpression, skip: set[str]) -> list[str]:
    """Names the loss expression reads as data: not callees, not attribute roots of callees."""
    callees: set[int] = set()
    names: list[cst.Name] = []

    class _V(Visitor):
        def visit_Call(self, node: cst.Call) -> None:
            f = node.func
            while isinstance(f, cst.Attribute):
                f = f.value
            callees.add(id(f))

        def visit_Attribute(self, node: cst.Attribute) -> bool:
            root = node.value
            while isinstance(root, cst.Attribute):
                root = root.value
            if isinstance(root, cst.Name):
                names.append(root)
            return False

        def visit_Name(self, node: cst.Name) -> None:
            names.append(node)

    visit(expr, _V())
    out: list[str] = []
    for n in names:
        if id(n) in callees or n.value in skip or n.value in out or n.value in ("self", "True", "False", "None"):
            continue
        out.append(n.value)
    return out


def _comments(stmt) -> list[str]:
    return [l.comment.value for l in getattr(stmt, "leading_lines", ()) if l.comment is not None]


def _drop_comments(stmt, pred):
    keep = [l for l in stmt.leading_lines if l.comment is None or not pred(l.comment.value)]
    return stmt.with_changes(leading_lines=keep)


def _mark(stmt, reason: str, res: TrainingResult):
    res.markers.append(reason)
    line = cst.EmptyLine(indent=True, comment=cst.Comment(f"{MARKER} {reason}"))
    return stmt.with_changes(leading_lines=[*stmt.leading_lines, line])


class _TrainingRewriter(Transformer):
    def __init__(self, kb, plan, res: TrainingResult, datasets: dict[str, list[str]], resolver: Resolver,
                 has_optimizers: bool = True):
        super().__init__()
        self.resolver, self.has_optimizers = resolver, has_optimizers
        self.skip: set[int] = set()  # top-level statements with nothing to rewrite
        self.kb, self.plan, self.res, self.datasets = kb, plan, res, datasets
        optims = [e for e in kb.entries if e.api.startswith("torch.optim.") and ".lr_scheduler" not in e.api]
        # MindSpore targets, and the torch names themselves where the KB pass left a call unconverted
        self.optimizer_apis = {t.api for e in optims for t in e.targets} | {n for e in optims for n in e.names}
        self.models: list[set[str]] = [set()]  # per function: names whose parameters feed an optimizer
        self.optimizers: list[set[str]] = [set()]  # per function: names assigned an optimizer
        self.loaders: list[set[str]] = [set()]
        self.fn_count = 0

    def on_visit(self, node: cst.CSTNode) -> bool:
        return id(node) not in self.skip and super().on_visit(node)

    def on_leave(self, original_node, updated_node):
        if id(original_node) in self.skip:
            return updated_node  # neither entered nor visited: no hook sees it
        return super().on_leave(original_node, updated_node)

    # -- names ------------------------------------------------------------------------------
    def _qualified(self, node: cst.BaseExpression) -> str | None:
        """Qualified name of a dotted expression: torch names via metadata, MindSpore ones via the plan."""
        text = _code(node)
        head, _, rest = text.partition(".")
        if head in self.plan.needed:
            module, name = self.plan.needed[head]
            base = f"{module}.{name}" if name else module
            return f"{base}.{rest}" if rest else base
        return next(iter(sorted(self.resolver.qualified(node))), None)

    # -- scopes -----------------------------------------------------------------------------
    def visit_Module(self, node: cst.Module) -> bool:
        self.models[0] = self._models_in(node)  # a script's top level builds its optimizer too
        return True

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.models.append(self._models_in(node))
        self.optimizers.append(set(self.optimizers[-1]))
        self.loaders.append(set())
        return True

    def leave_FunctionDef(self, original, updated):
        self.models.pop()
        self.optimizers.pop()
        self.loaders.pop()
        return updated

    def _models_in(self, node) -> set[str]:
        found: set[str] = set()
        if not self.has_optimizers:
            return found
        outer = self

        class _V(Visitor):
            def visit_Call(self, call: cst.Call) -> None:
                if call.args and outer._qualified(call.func) in outer.optimizer_apis:
                    v = call.args[0].value
                    if (isinstance(v, cst.Call) and isinstance(v.func, cst.Attribute)
                            and v.func.attr.value in ("parameters", "trainable_params", "get_parameters")):
                        found.add(_code(v.func.value))

        visit(node, _V())
        return found

    # -- calls ------------------------------------------------------------------------------
    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        f = updated.func
        name = self._qualified(original.func)
        if isinstance(f, cst.Attribute) and _code(f.value) in self.models[-1]:
            method = f.attr.value
            if method in ("parameters", "get_parameters") and not updated.args:
                self.res.calls += 1
                self.res.converted += 1
                return updated.with_changes(func=f.with_changes(attr=cst.Name("trainable_params")))
            if method in ("train", "eval") and len(updated.args) <= 1:
                mode = "False" if method == "eval" else (_code(updated.args[0].value) if updated.args else "True")
                self.res.calls += 1
                self.res.converted += 1
                return cst.parse_expression(f"{_code(f.value)}.set_train({mode})")
            if method in ("to", "cuda", "cpu"):
                return f.value
        if isinstance(f, cst.Attribute) and f.attr.value == "to" and len(updated.args) == 1 and _is_device(
                updated.args[0].value):
            return f.value
        if name == "torch.save":
            return self._save(original, updated)
        if isinstance(f, cst.Attribute) and f.attr.value == "load_state_dict" and len(updated.args) == 1:
            return self._load(original, updated)
        if name == "torch.utils.data.DataLoader":
            return self._loader(updated)
        if name in LOSS_FUNCTIONAL:
            return self._loss(name, updated)
        return updated

    @rewrite("checkpoints")
    def _save(self, original, updated):
        """`torch.save(m.state_dict(), f)` is `save_checkpoint(m, f)`; `m.load_state_dict(torch.load(f))` is
        `load_param_into_net(m, load_checkpoint(f))` (see `_load`)."""
        args = updated.args
        if len(args) == 2 and isinstance(args[0].value, cst.Call) and isinstance(args[0].value.func, cst.Attribute) \
                and args[0].value.func.attr.value == "state_dict" and not args[0].value.args:
            self.res.converted += 1
            self.res.resolved.add("torch.save")
            save = self.plan.render("mindspore.save_checkpoint")
            return cst.parse_expression(f"{save}({_code(args[0].value.func.value)}, {_code(args[1].value)})")
        return updated

    def _load(self, original, updated):
        inner, orig_inner = updated.args[0].value, original.args[0].value
        if (isinstance(inner, cst.Call) and isinstance(orig_inner, cst.Call) and inner.args
                and self._qualified(orig_inner.func) == "torch.load"):
            self.res.converted += 1
            self.res.resolved.add("torch.load")
            load = self.plan.render("mindspore.load_checkpoint")
            into = self.plan.render("mindspore.load_param_into_net")
            return cst.parse_expression(f"{into}({_code(updated.func.value)}, {load}({_code(inner.args[0].value)}))")
        return updated

    @rewrite("dataloader-is-a-generator-dataset")
    def _loader(self, call: cst.Call):
        """`DataLoader(ds, batch_size, shuffle, drop_last)` is `GeneratorDataset(ds, columns, shuffle).batch(...)`,
        the columns read off the Dataset class's `__getitem__` return tuple; worker options are dropped."""
        kw = {}
        for i, a in enumerate(call.args):
            key = a.keyword.value if a.keyword else ("dataset", "batch_size", "shuffle")[i] if i < 3 else None
            if key is None:
                return updated_mark(self, call, "DataLoader: positional arguments beyond shuffle: rewrite by hand")
            kw[key] = a.value
        odd = [k for k in kw if k not in _LOADER_KEEP | _LOADER_DROP]
        if odd or "dataset" not in kw:
            return updated_mark(self, call, f"DataLoader arguments {', '.join(odd) or 'dataset'} have no "
                                            "GeneratorDataset rewrite: rewrite by hand")
        data = kw["dataset"]
        columns = self.datasets.get(_code(data.func if isinstance(data, cst.Call) and isinstance(data.func, cst.Name)
                                          else data))
        if not columns:
            return updated_mark(self, call, "DataLoader: the dataset's columns cannot be inferred from its "
                                            "__getitem__; wrap it in GeneratorDataset(column_names=...) by hand")
        gen = self.plan.render("mindspore.dataset.GeneratorDataset")
        shuffle = _code(kw["shuffle"]) if "shuffle" in kw else "False"
        text = f"{gen}({_code(kw['dataset'])}, column_names={columns!r}, shuffle={shuffle})"
        batch = _code(kw["batch_size"]) if "batch_size" in kw else "1"
        drop = f", drop_remainder={_code(kw['drop_last'])}" if "drop_last" in kw else ""
        self.res.converted += 1
        self.res.resolved.add("torch.utils.data.DataLoader")
        return cst.parse_expression(f"{text}.batch({batch}{drop})")

    def _loss(self, name: str, call: cst.Call):
        allowed = _LOSS_KEYWORDS[name]
        if any(a.keyword is None or a.keyword.value not in allowed for a in call.args) or any(
                a.keyword.value in ("size_average", "reduce") for a in call.args):
            return call
        fn = self.plan.render(LOSS_FUNCTIONAL[name])
        partial = self.plan.render("functools.partial") if call.args else None
        self.res.converted += 1
        self.res.resolved.add(name)
        if not call.args:
            return cst.parse_expression(fn)
        kws = ", ".join(f"{a.keyword.value}={_code(a.value)}" for a in call.args)
        return cst.parse_expression(f"{partial}({fn}, {kws})")

    # -- loops ------------------------------------------------------------------------------
    def leave_For(self, original: cst.For, updated: cst.For):
        it = updated.iter
        if isinstance(it, cst.Name) and it.value in self.loaders[-1]:
            return updated.with_changes(iter=cst.parse_expression(f"{it.value}.create_tuple_iterator()"))
        return updated

    def leave_SimpleStatementLine(self, original, updated):
        """`x = x` left behind by a removed `.to(device)` goes."""
        if len(updated.body) == 1 and isinstance(updated.body[0], cst.Assign) and len(updated.body[0].targets) == 1:
            a = updated.body[0]
            if a.value is original.body[0].value or not isinstance(a.value, (cst.Name, cst.Attribute, cst.Tuple)):
                return updated  # unchanged here, or not names: cannot have become `x = x`
            if _code(a.targets[0].target) == _code(a.value) and _code(original.body[0].value) != _code(a.value):
                return cst.RemoveFromParent()
        return updated

    def visit_Assign(self, node: cst.Assign) -> None:
        if len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name) and isinstance(node.value, cst.Call):
            name = self._qualified(node.value.func)
            if name == "torch.utils.data.DataLoader":
                self.loaders[-1].add(node.targets[0].target.value)
            if name in self.optimizer_apis:
                self.optimizers[-1].add(node.targets[0].target.value)

    def leave_IndentedBlock(self, original, updated):
        return updated.with_changes(body=self._steps(list(updated.body)))

    def leave_Module(self, original, updated):
        return updated.with_changes(body=self._steps(list(updated.body)))

    def _steps(self, body: list) -> list:
        for i, stmt in enumerate(body):
            loss = _is_call_stmt(stmt, "backward")
            if loss is None:
                continue
            step_at = next((j for j in range(i + 1, len(body)) if _is_call_stmt(body[j], "step")), None)
            if step_at is None or _is_call_stmt(body[step_at], "step") not in self.optimizers[-1]:
                continue  # no optimizer built here steps after it: a look-alike, or an optimizer passed in
            assign_at = next((j for j in range(i - 1, -1, -1) if _loss_assign(body[j], loss) is not None), None)
            if step_at is None or assign_at is None:
                body[i] = _mark(stmt, "loss.backward() without a matching loss assignment and optimizer.step() in "
                                "the same block: rewrite with mindspore.value_and_grad by hand", self.res)
                return body
            opt = _is_call_stmt(body[step_at], "step")
            if step_at != i + 1:
                body[i] = _mark(stmt, "statements between backward() and step() (gradient clipping or scaling?) "
                                "need the grads tuple: rewrite with mindspore.value_and_grad by hand", self.res)
                return body
            return self._rewrite_step(body, assign_at, i, step_at, loss, opt)
        return body

    @rewrite("train-step-is-value-and-grad")
    def _rewrite_step(self, body, assign_at, backward_at, step_at, loss, opt) -> list:
        """loss = f(...); zero_grad(); backward(); step() is a forward function, value_and_grad and the step."""
        expr = _loss_assign(body[assign_at], loss)
        skip = set(self.plan.needed) | self.models[-1]
        params = _inputs(expr, skip)
        self.fn_count += 1
        suffix = "" if self.fn_count == 1 else f"_{self.fn_count}"
        vag = self.plan.render("mindspore.value_and_grad")
        args = ", ".join(params)
        fn = cst.parse_statement(f"def forward_fn{suffix}({args}):\n    return {_code(expr)}\n")
        grad_fn = cst.parse_statement(f"grad_fn{suffix} = {vag}(forward_fn{suffix}, None, {opt}.parameters)\n")
        run = cst.parse_statement(f"{loss}, grads = grad_fn{suffix}({args})\n")
        apply = cst.parse_statement(f"{opt}(grads)\n")
        first = body[assign_at]
        fn = fn.with_changes(leading_lines=first.leading_lines)
        removed = {backward_at, step_at}
        # optimizer.zero_grad() or the model's own (its parameters are the optimizer's): value_and_grad
        # computes fresh gradients each step, and a Cell has no zero_grad
        zero = [j for j, s in enumerate(body) if _is_call_stmt(s, "zero_grad") in {opt} | self.models[-1]]
        removed |= set(zero)
        out = []
        for j, s in enumerate(body):
            if j == assign_at:
                out += [fn, grad_fn, run, apply]
            elif j not in removed:
                out.append(s)
        self.res.calls += 1
        self.res.converted += 1
        return out


def _is_device(node: cst.BaseExpression) -> bool:
    if (isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "str"
            and len(node.args) == 1):
        node = node.args[0].value  # torch.device("cuda:0") as the KB pass writes it
    if isinstance(node, cst.SimpleString):
        return node.evaluated_value.split(":")[0] in ("cpu", "cuda", "mps")
    text = _code(node)
    return "device" in text.rsplit(".", 1)[-1].lower()


def updated_mark(rw: _TrainingRewriter, call: cst.Call, reason: str) -> cst.Call:
    rw.res.markers.append(reason)
    return call


def dataset_columns(module: cst.Module) -> dict[str, list[str]]:
    """Dataset variable or class name -> column names, for `v = Cls(...)` (and `Cls(...)` itself) where the
    file's class Cls returns a tuple from __getitem__ (element `self.images[i]` is column 'images', a name
    is itself)."""
    classes: dict[str, list[str]] = {}
    instances: dict[str, str] = {}
    for stmt in statements(module):
        if isinstance(stmt, cst.ClassDef):
            for item in stmt.body.body:
                if isinstance(item, cst.FunctionDef) and item.name.value == "__getitem__":
                    cols = _return_columns(item)
                    if cols:
                        classes[stmt.name.value] = cols
        elif isinstance(stmt, cst.SimpleStatementLine):
            for node in stmt.body:
                if (isinstance(node, cst.Assign) and len(node.targets) == 1
                        and isinstance(node.targets[0].target, cst.Name)
                        and isinstance(node.value, cst.Call) and isinstance(node.value.func, cst.Name)):
                    instances[node.targets[0].target.value] = node.value.func.value
    return {**classes, **{v: classes[c] for v, c in instances.items() if c in classes}}


def _return_columns(fn: cst.FunctionDef) -> list[str] | None:
    rets = [small for stmt in statements(fn, into_classes=False, into_functions=False)
            if isinstance(stmt, cst.SimpleStatementLine) for small in stmt.body if isinstance(small, cst.Return)]
    if len(rets) != 1 or not isinstance(rets[0].value, cst.Tuple):
        return None
    cols = []
    for i, el in enumerate(rets[0].value.elements):
        v = el.value
        if isinstance(v, cst.Subscript):
            v = v.value
        if isinstance(v, cst.Attribute):
            cols.append(v.attr.value)
        elif isinstance(v, cst.Name):
            cols.append(v.value)
        else:
            cols.append(f"column_{i}")
    return cols if len(set(cols)) == len(cols) else [f"column_{i}" for i in range(len(cols))]


# A model's .parameters()/.train()/.eval()/.cuda() are rewritten only when its parameters feed an optimizer,
# which the file names through torch.optim: "optim" covers them.
# `.to(...)` matters here only with a device argument (the KB pass converts tensors' and modules' .to).
_HINTS = ("optim", "backward", "DataLoader", "save", "load", "CrossEntropyLoss")
_TO_DEVICE = re.compile(r"\.to\(\s*[^()]*?(device|cuda|cpu|mps)", re.IGNORECASE)


def may_apply(source: str) -> bool:
    """Cheap text test: without any of these words the training pass has nothing to rewrite."""
    return any(h in source for h in _HINTS) or _TO_DEVICE.search(source) is not None


def rewrite_training(module: cst.Module, kb, plan, names: FileNames, busy: set[int] | None = None
                     ) -> TrainingResult:
    """Apply the training rewrites to a module the KB pass produced (imports not yet finished);
    `names` are the original file's (the KB pass leaves the imports as they were). `busy`: indexes of the
    top-level statements worth walking (None: all)."""
    res = TrainingResult(module=module)
    # optimizers are reached through torch.optim: a file that never names it builds none
    rewriter = _TrainingRewriter(kb, plan, res, dataset_columns(module), Resolver(module, names),
                                 has_optimizers="optim" in names.identifiers)
    if busy is not None:
        rewriter.skip = {id(stmt) for i, stmt in enumerate(module.body) if i not in busy}
    new = visit(module, rewriter)
    if res.resolved:
        dropper = _DropResolvedMarkers(res.resolved)
        new = visit(new, dropper)
        res.dropped = dropper.dropped
    res.module = new
    return res


class _DropResolvedMarkers(Transformer):
    """Marker comments the KB pass wrote for APIs this pass converted."""

    def __init__(self, apis: set[str]):
        super().__init__()
        self.apis = apis
        self.dropped: set[str] = set()

    def _obsolete(self, text: str) -> bool:
        hit = text.startswith(MARKER) and any(f"for {api} " in text or f"{api}:" in text for api in self.apis)
        if hit:
            self.dropped.add(text)
        return hit

    def on_leave(self, original, updated):
        if hasattr(updated, "leading_lines") and any(l.comment is not None for l in updated.leading_lines):
            return _drop_comments(updated, self._obsolete)
        return updated
