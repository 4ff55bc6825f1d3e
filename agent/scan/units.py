"""Find the units to verify: nn.Module subclasses and top-level functions that use torch."""
from __future__ import annotations

import ast
from dataclasses import asdict, dataclass

from agent.scan.names import import_aliases, qualify

_MODULE_BASES = {"torch.nn.Module", "torch.nn.modules.module.Module", "torch.nn.Sequential",
                 "torch.nn.ModuleList", "torch.nn.ModuleDict"}
# Calls that mark a function as training or data code rather than a computation on tensors.
_TRAINING_HINTS = {"backward", "zero_grad", "DataLoader", "parse_args", "save", "load_state_dict", "optim"}


@dataclass
class Unit:
    file: str
    module: str
    name: str
    kind: str  # module | function
    line: int
    skip_reason: str = ""  # set when the unit is known not to be exercisable at this level

    @property
    def key(self) -> str:
        return f"{self.module}.{self.name}" if self.module else self.name

    def as_request(self) -> dict:
        d = asdict(self)
        d.pop("skip_reason")
        return d


def _torch_layer(qualified: str | None) -> bool:
    """`torch.nn.LayerNorm`, `torch.nn.modules.conv.Conv2d`: a torch layer class a repo class may extend
    (`class LayerNorm2d(nn.LayerNorm)`); not a parameter or buffer type, nothing under torch.nn.utils."""
    if not qualified or not qualified.startswith("torch.nn.") or qualified.startswith("torch.nn.utils."):
        return False
    last = qualified.rsplit(".", 1)[1]
    return last[:1].isupper() and not any(word in last for word in ("Parameter", "Buffer"))


def module_classes(trees: dict[str, ast.Module], inherited: dict[str, dict[str, str]] | None = None) -> set[str]:
    """Simple names of every class in the repo deriving from nn.Module, transitively (INHERITED: the torch
    names files get through star imports, scan/star_imports.py)."""
    return {name for _, name in module_class_keys(trees, inherited)}


def module_class_keys(trees: dict[str, ast.Module],
                      inherited: dict[str, dict[str, str]] | None = None) -> set[tuple[str, str]]:
    """(file, class name) of every class deriving from nn.Module, transitively. A base is looked up where its
    name comes from: a class of the same file first; a name imported from a package outside the repo
    (`keras.layers.RNN`, `from tensorflow.keras.layers import Layer`) is never a repo class, so a Keras or
    Paddle twin of a torch model (the same class names in another folder) is not taken for a module."""
    ours = _import_roots(trees)
    classes: list[tuple[str, ast.ClassDef, dict[str, str], dict[str, str]]] = []
    local: dict[str, set[str]] = {}
    for rel, tree in trees.items():
        aliases = {**(inherited or {}).get(rel, {}), **import_aliases(tree, "torch")}
        outside = {k: v for k, v in import_aliases(tree).items() if v.split(".")[0] not in ours}
        for n in ast.walk(tree):
            if isinstance(n, ast.ClassDef):
                classes.append((rel, n, aliases, outside))
                local.setdefault(rel, set()).add(n.name)
    found: set[tuple[str, str]] = set()
    names: set[str] = set()
    changed = True
    while changed:
        changed = False
        for rel, cls, aliases, outside in classes:
            if (rel, cls.name) in found:
                continue
            for base in cls.bases:
                q = qualify(base, aliases)
                if q in _MODULE_BASES or _torch_layer(q) or _repo_module_base(base, rel, local, outside, found, names):
                    found.add((rel, cls.name))
                    names.add(cls.name)
                    changed = True
                    break
    return found


def _import_roots(trees) -> set[str]:
    """Top-level names the repo's own modules import as: what sits at its root or in a folder that is not
    a package (`src/pkg/`, `scripts/`); a package's subfolder named like a library (`ncps/keras/`) is not."""
    roots = set()
    for rel in trees:
        parts = rel.split("/")
        for i, part in enumerate(parts):
            if i == 0 or "/".join(parts[:i]) + "/__init__.py" not in trees:
                roots.add(part.removesuffix(".py"))
    return roots


def _repo_module_base(base: ast.expr, rel: str, local: dict[str, set[str]], outside: dict[str, str],
                      found: set[tuple[str, str]], names: set[str]) -> bool:
    root = base
    while isinstance(root, ast.Attribute):
        root = root.value
    if not isinstance(root, ast.Name) or root.id in outside:
        return False  # a class of an installed package (torch's own are matched by name before)
    if isinstance(base, ast.Name) and base.id in local.get(rel, ()):
        return (rel, base.id) in found
    simple = base.id if isinstance(base, ast.Name) else base.attr if isinstance(base, ast.Attribute) else None
    return simple in names


def find_units(rel: str, module: str, tree: ast.Module, repo_modules: set[str],
               inherited: dict[str, str] | None = None) -> list[Unit]:
    aliases = {**(inherited or {}), **import_aliases(tree, "torch")}
    units: list[Unit] = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name in repo_modules:
            units.append(Unit(rel, module, node.name, "module", node.lineno))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and aliases and _uses_torch(node, aliases):
            args = node.args
            if not (args.posonlyargs or args.args or args.vararg or args.kwonlyargs):
                continue  # nothing to feed it: a script entry point or a constant factory
            unit = Unit(rel, module, node.name, "function", node.lineno)
            hint = _training_hint(node)
            if hint:
                unit.skip_reason = (f"training or data code (calls {hint}): not run by verification; the modules "
                                    f"it trains are checked by --level grad/step")
            units.append(unit)
    return units


# Methods that, in a file importing torch, only a tensor has (numpy and the builtins have none of them).
_TENSOR_ONLY_METHODS = {"unsqueeze", "permute", "contiguous", "masked_fill", "softmax", "log_softmax", "float",
                        "long", "size", "detach", "clamp", "expand", "topk", "gather", "scatter", "bmm", "matmul",
                        "chunk", "type_as", "narrow", "new_zeros", "new_ones", "sigmoid", "numel", "argmax",
                        "unbind", "masked_select", "expand_as", "view_as", "index_select", "norm", "pow", "exp",
                        "new_empty", "new_full", "new_tensor", "bernoulli_", "uniform_", "normal_", "masked_fill_"}
# Keywords torch spells and numpy does not (numpy says axis=/keepdims=).
_TORCH_KEYWORDS = {"dim", "keepdim"}


def _uses_torch(fn: ast.AST, aliases: dict[str, str]) -> bool:
    """A torch name in the body, or a method only tensors have called on something."""
    for n in ast.walk(fn):
        if isinstance(n, ast.Name) and n.id in aliases:
            return True
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and (
                n.func.attr in _TENSOR_ONLY_METHODS or any(k.arg in _TORCH_KEYWORDS for k in n.keywords)):
            return True
    return False


def _training_hint(fn: ast.AST) -> str | None:
    """A training or data call in FN, outside branches its defaults leave untaken (`if pretrained:
    model.load_state_dict(...)` in a model factory whose pretrained defaults to False)."""
    off = _off_by_default(fn)
    todo = list(ast.iter_child_nodes(fn))
    while todo:
        n = todo.pop()
        if isinstance(n, ast.If) and isinstance(n.test, ast.Name) and n.test.id in off:
            todo += n.orelse
            continue
        name = n.attr if isinstance(n, ast.Attribute) else n.id if isinstance(n, ast.Name) else None
        if name in _TRAINING_HINTS:
            return name
        todo += list(ast.iter_child_nodes(n))
    return None


def _off_by_default(fn: ast.AST) -> set[str]:
    """Parameters of FN whose default is False, None or 0."""
    args = fn.args
    positional = [*args.posonlyargs, *args.args]
    pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
    return {a.arg for a, d in pairs if isinstance(d, ast.Constant) and d.value in (False, None, 0)}
