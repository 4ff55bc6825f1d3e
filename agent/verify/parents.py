"""Specs found inside a parent: a module no spec builds on its own (a wrapper taking a submodule,
`PreNorm(dim, fn)`; a block whose arguments only its model knows) is built by a module of the
repo that contains it, taken out of that model by its path, and fed inputs of the shapes and
dtypes its parent actually passed it.

Runs on the torch side, after every other spec failed. The spec it returns is an ordinary one:
`init` is `__msagent_part__(Parent(...), "blocks.0.attn")`, evaluated on both sides (each side
binds `__msagent_part__` to its framework's submodule lookup), and `inputs` are size
descriptions, so both sides get the same freshly generated arrays as for any other spec.
"""
from __future__ import annotations

import inspect
import re

from agent.verify import constructors, infer
from agent.verify.weights import seed_torch

PART = "__msagent_part__"
MAX_PARENTS = 8
MAX_FACTORIES = 8
_SCALARS = (bool, int, float, str, type(None))


IDENTITY = constructors.IDENTITY  # a stand-in for a wrapped submodule (`PreNorm(dim, fn)`): returns its input


def torch_identity():
    """A torch module returning its first argument whatever else it is given (`fn(x, mask=m)`)."""
    import torch

    class Identity(torch.nn.Module):
        def forward(self, x, *args, **kwargs):
            return x

    return Identity()


def torch_linear(features: int):
    """The stand-in model (inputs.stand_in) on torch: a Linear with the fixed weights."""
    import torch

    from agent.verify.inputs import stand_in_weights

    layer = torch.nn.Linear(features, features)
    weight, bias = stand_in_weights(features)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(weight))
        layer.bias.copy_(torch.from_numpy(bias))
    return layer


FILLED = constructors.FILLED
SEQUENCE = constructors.SEQUENCE
LINEAR = constructors.LINEAR  # torch_linear, in an `init`


def torch_sequence():
    """A torch Sequential of two identities (a stand-in for a sequence of modules the unit walks)."""
    import torch

    return torch.nn.Sequential(torch_identity(), torch_identity())


def torch_filled(container):
    """CONTAINER (a torch Sequential, ModuleList or ModuleDict subclass) with two identity children
    added when it has none."""
    if not len(container._modules):
        for i in range(2):
            container.add_module(str(i), torch_identity())
    return container


def torch_part(model, path: str):
    """The submodule at PATH (dotted attribute names and list indices) of a torch module."""
    return model.get_submodule(path) if path else model


def _parents(imp, unit: dict, cls) -> list[tuple[str, type]]:
    """(name as the unit's module sees it, class or builder) of the repo's modules and builder
    functions that name the unit's class, then those naming them (two levels up), nearest first.
    Repo files that mention the class by name are imported for the search."""
    _load_mentioning(imp, unit, cls.__name__)
    found: list[tuple[str, object]] = []
    seen = {id(cls)}
    wanted = {cls.__name__}
    for _depth in range(3):
        level = [(name, obj) for name, obj in _definitions(imp, unit)
                 if id(obj) not in seen and any(_mentions(obj, w) for w in wanted)]
        for name, obj in level:
            seen.add(id(obj))
        found += level
        wanted = {getattr(obj, "__name__", "") for _, obj in level}
        if not wanted or len(found) >= MAX_PARENTS:
            break
    return found[:MAX_PARENTS]


def _definitions(imp, unit: dict):
    """(name as the unit's module sees it, object) of every module class and public function the
    loaded repo modules define, the unit's own module first."""
    import torch

    home = imp.modules.get(unit["module"])
    modules = [(unit["module"], home)] + [(n, m) for n, m in imp.modules.items() if n != unit["module"]]
    for mod_name, mod in modules:
        for name, obj in list(vars(mod).items()) if mod is not None else []:
            if getattr(obj, "__module__", "") != mod_name:
                continue
            builder = inspect.isfunction(obj) and not name.startswith("_")  # `def MLPMixer(*, dim, depth)`
            if builder or (isinstance(obj, type) and issubclass(obj, torch.nn.Module)):
                yield (name if mod_name == unit["module"] else f"{mod_name}.{name}"), obj


def _load_mentioning(imp, unit: dict, name: str, limit: int = 8) -> None:
    """Import the repo's files whose text names NAME (a model in another file of the package)."""
    loaded = 0
    for path in sorted(imp.root.rglob("*.py")):
        if loaded >= limit:
            break
        rel = path.relative_to(imp.root)
        module = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
        if module in imp.modules or any(part.startswith(".") for part in rel.parts):
            continue
        try:
            if name not in path.read_text(encoding="utf-8", errors="replace"):
                continue
            with imp.active():
                imp.load(module)
            loaded += 1
        except Exception:  # noqa: BLE001 - a file that does not import is no parent
            continue


_NO_ATTRIBUTE = re.compile(r"'Identity' object has no attribute '(\w+)'")


def attribute_owners(imp, unit: dict, init: str, message: str) -> list[str]:
    """INIT with the identity standing in for a wrapped module replaced by a repo module that has the
    attribute the unit read from it, as MESSAGE says (`AutoregressiveWrapper(net)` reading `net.seq_len`:
    the repo's model that sets self.seq_len), once per constructor call tried for that module on its own;
    none when the error is another or no repo module sets that attribute."""
    if f"{IDENTITY}()" not in init:
        return []
    for attr in _attributes_wanted(imp, unit, message):
        _load_mentioning(imp, unit, f"self.{attr}")
        for name, obj in _definitions(imp, unit):
            init_fn = getattr(obj, "__init__", None) if isinstance(obj, type) else None
            if init_fn is None or attr not in getattr(getattr(init_fn, "__code__", None), "co_names", ()):
                continue
            inits = [i for i in constructors.default_inits(name, obj) if IDENTITY not in i]
            if inits:
                return [init.replace(f"{IDENTITY}()", i, 1) for i in inits]
    return []


def _attributes_wanted(imp, unit: dict, message: str) -> list[str]:
    """The attribute the error names as missing on the identity, or, for any other error, those the
    unit's constructor checks with `hasattr(net, 'max_seq_len')` and reads (an assert stops it first)."""
    found = _NO_ATTRIBUTE.search(message)
    if found is not None:
        return [found.group(1)]
    cls = getattr(imp.modules.get(unit["module"]), unit["name"], None)
    code = getattr(getattr(cls, "__init__", None), "__code__", None)
    if code is None or "hasattr" not in code.co_names:
        return []
    return [c for c in code.co_consts if isinstance(c, str) and c.isidentifier() and c in code.co_names]


def _mentions(owner, name: str) -> bool:
    """OWNER (a function, or some method of a class; lambdas and comprehensions inside included)
    reads the global NAME."""
    todo = [owner.__code__] if inspect.isfunction(owner) else [f.__code__ for f in vars(owner).values()
                                                                  if inspect.isfunction(f)]
    while todo:
        code = todo.pop()
        if name in code.co_names:
            return True
        todo += [c for c in code.co_consts if inspect.iscode(c)]
    return False


def describe(value) -> dict | None:
    """A size description of one captured argument, or None when it cannot be regenerated."""
    import torch

    if isinstance(value, torch.Tensor):
        dtype = str(value.dtype).removeprefix("torch.")
        shape = list(value.shape)
        if value.is_floating_point():
            return {"shape": shape, "dtype": "float32" if dtype in ("float16", "bfloat16") else dtype, "_batch": 0}
        if dtype == "bool":
            return {"shape": shape, "dtype": "bool", "_batch": 0}
        if dtype.startswith(("int", "uint")):
            low = int(value.min()) if value.numel() else 0
            high = int(value.max()) + 1 if value.numel() else 1
            return {"shape": shape, "dtype": "int64", "low": low, "high": max(high, low + 1), "_batch": 0}
        return None
    if isinstance(value, _SCALARS):
        return {"value": value}
    return None


def _capture(imp, parent, cls, inputs: list) -> tuple[str, list, bool] | None:
    """Run PARENT on INPUTS: the path of the first instance of CLS it called, what it was passed,
    and whether the parent's whole forward ran."""
    import torch

    from agent.verify.inputs import make_arrays
    from agent.verify.spec_choice import run_torch, torch_args

    paths = {id(m): p for p, m in parent.named_modules() if type(m) is cls}
    if not paths:
        return None
    seen: list = []

    def hook(module, args, kwargs):
        if not seen:
            seen.append((paths[id(module)], args, kwargs))

    handles = [m.register_forward_pre_hook(hook, with_kwargs=True) for _, m in parent.named_modules()
               if id(m) in paths]
    ran = False
    try:
        with imp.active(), torch.no_grad():
            run_torch(parent, torch_args(make_arrays(inputs, 0, 0)))
        ran = True
    except Exception:  # noqa: BLE001 - the parent may fail after the child ran: the capture may still do
        pass
    finally:
        for h in handles:
            h.remove()
    if not seen:
        return None
    path, args, kwargs = seen[0]
    args, kwargs = _positional(cls, args, kwargs)
    if any(isinstance(v, torch.Tensor) for v in kwargs.values()):
        return None  # keyword-only tensors: not expressible as a positional spec
    # other keyword-only values (`block(x, *, drop_connect_rate=0.2)`) are left out: the unit runs with its
    # own defaults
    described = [describe(a) for a in args]
    if any(d is None for d in described):
        return None
    return path, described, ran


def _positional(cls, args: tuple, kwargs: dict) -> tuple[list, dict]:
    """The parent's call of CLS as positional arguments where its forward's signature allows (`layer(x,
    embeddings=e, inference=False)` is `(x, e, False)`; a parameter skipped before one given takes its
    default), and the keywords left over (keyword-only parameters)."""
    try:
        sig = inspect.signature(cls.forward)
        bound = sig.bind(None, *args, **kwargs).arguments  # None for self
    except (TypeError, ValueError):
        return list(args), dict(kwargs)
    params = list(sig.parameters.values())[1:]
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    given = [i for i, p in enumerate(positional) if p.name in bound]
    if not given or any(positional[i].default is inspect.Parameter.empty and positional[i].name not in bound
                        for i in range(given[-1] + 1)):
        return list(args), dict(kwargs)
    out = [bound[p.name] if p.name in bound else p.default for p in positional[:given[-1] + 1]]
    star = next((p.name for p in params if p.kind == p.VAR_POSITIONAL), None)
    out += list(bound.get(star, ())) if star else []
    named = {p.name for p in positional} | {star, next(iter(sig.parameters))}
    left = {k: v for k, v in bound.items() if k not in named}
    var_kw = next((p.name for p in params if p.kind == p.VAR_KEYWORD), None)
    left.update(left.pop(var_kw, {}) if var_kw else {})
    return out, left


def _smaller(described: list[dict]) -> list[dict] | None:
    """The captured inputs with image-like axes (of 4-D and 5-D float tensors) cut to at most 16."""
    out, changed = [], False
    for d in described:
        shape = d.get("shape")
        if shape and len(shape) in (4, 5) and d["dtype"].startswith("float") and max(shape[2:]) > 16:
            d = {**d, "shape": shape[:2] + [min(n, 16) for n in shape[2:]]}
            changed = True
        out.append(d)
    return out if changed else None


def _build(imp, unit: dict, init: str, seed: int):
    import torch

    from agent.verify.spec_choice import evaluate

    try:
        seed_torch(seed)
        model = evaluate(imp, unit["module"], init)
    except Exception:  # noqa: BLE001 - a parent we cannot build is no help
        return None
    if not isinstance(model, torch.nn.Module):
        return None
    return model.eval()


def _inside(imp, unit: dict, cls, init: str, seed: int, parent=None):
    """Specs for CLS as the submodule of the model INIT builds, fed what that model passes it."""
    parent = parent if parent is not None else _build(imp, unit, init, seed)
    if parent is None:
        return
    fallback = None  # a capture from a parent run that failed later: used when no run succeeds
    for first in infer.module_input_candidates(parent, hints=infer.geometry_hints(parent, init)):
        got = _capture(imp, parent, cls, first)
        if got is None:
            continue
        path, described, ran = got
        spec = {"source": "parent", "init": f"{PART}({init}, {path!r})", "inputs": [described]} if path else \
            {"source": "factory", "init": init, "inputs": [described]}  # INIT builds the unit itself
        if ran:
            small = _smaller(described)
            if small is not None:  # the same module on smaller images, when it takes them
                yield {**spec, "inputs": [small]}
            yield spec
            return
        fallback = fallback or spec
    if fallback is not None:
        yield fallback


def _factories(imp, unit: dict) -> list[str]:
    """Public functions of the unit's module callable with no arguments (a model zoo's `resnet18()`)."""
    mod = imp.modules.get(unit["module"])
    out = []
    for name, fn in list(vars(mod).items()) if mod is not None else []:
        if name.startswith("_") or not inspect.isfunction(fn) or fn.__module__ != unit["module"]:
            continue
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):
            continue
        if all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
            out.append(name)
    return out


def _factory_specs(imp, unit: dict, cls, seed: int):
    """Specs from the smallest model a zero-argument factory of the module builds that is or holds CLS."""
    import torch

    found = []
    for name in _factories(imp, unit)[:MAX_FACTORIES]:
        model = _build(imp, unit, f"{name}()", seed)
        if model is None:
            continue
        whole = type(model) is cls
        if whole or any(type(m) is cls for m in model.modules()):
            found.append((sum(p.numel() for p in model.parameters()), f"{name}()", whole))
        del model
        if len(found) == 2:
            break
    seed_torch(seed)
    for _, init, whole in sorted(found):
        if whole:
            yield {"source": "factory", "init": init, "inputs": None}
        else:
            yield from _inside(imp, unit, cls, init, seed)


def parent_specs(imp, unit: dict, cls, seed: int = 0):
    """Candidate specs for CLS found by building the repo's models that contain it, best first: the
    module's zero-argument factories (the repo's own configurations), then the classes and builder
    functions that name it (their arguments guessed)."""
    yield from _factory_specs(imp, unit, cls, seed)
    for name, parent_cls in _parents(imp, unit, cls):
        for init in constructors.default_inits(name, parent_cls):
            yield from _inside(imp, unit, cls, init, seed)
