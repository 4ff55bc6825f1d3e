"""A torch layer class used as a value (`norm_layer=nn.BatchNorm2d`, `act = nn.GELU`) is called
later with torch's arguments, where no rule can see them. It becomes a small module-level function
with torch's signature that builds the MindSpore layer the way the KB's rule would; arguments
MindSpore cannot honour raise a clear error when given."""
from __future__ import annotations

import re

import libcst as cst

from agent.kb.schema import Entry, Target
from agent.rules.calls import MS_NAME, Unconvertible, build_args, code
from agent.rules.catalog import rewrite
from agent.rules.signature import bind, parse_signature


def adapter_name(entry: Entry, keywords_only: bool = False) -> str:
    return "_ms_" + entry.api.rsplit(".", 1)[1] + ("_kwargs" if keywords_only else "")


@rewrite("layer-class-as-value")
def adapter_source(entry: Entry, target: Target, render, keywords_only: bool = False, spread: bool = False) -> str:
    """A torch layer class used as a value becomes an adapter with torch's signature. Source of the adapter. Raises Unconvertible when the entry cannot have one.
    `keywords_only`: the function returns the target's keyword arguments instead of calling it (for
    `super().__init__(**...)` in a subclass of the layer). `spread`: for a call spreading `**kwargs` into
    a function whose target takes torch's `*args` as they come (`torch.randn(*shape, **factory_kwargs)`)."""
    if not entry.signature:
        raise Unconvertible("the KB has no torch signature to build an adapter from")
    params = parse_signature(entry.signature)
    sig, passed, guards, optional, lines = [], [], [], [], []
    star_done = False
    for p in params:
        if p.kind == "vararg":
            if not target.pack_varargs and not (spread and (target.args or target.unsupported)):
                raise Unconvertible("an adapter over *args is not needed for a pure rename and not built otherwise")
            sig.append(f"*{p.name}")
            star_done = True
            if target.pack_varargs:  # zeros(2, 3) and zeros((2, 3)) alike: the sizes as one tuple
                lines.append(f"    if len({p.name}) == 1 and isinstance({p.name}[0], (tuple, list)):\n"
                             f"        {p.name} = tuple({p.name}[0])\n")
            passed.append(f"*{p.name}")  # else passed on as they came: the target takes them the same way
            continue
        if p.kind == "varkw":
            raise Unconvertible("cannot build an adapter over **kwargs")
        if p.kind == "keyword_only" and not star_done:
            sig.append("*")
            star_done = True
        default = _default(p.default, render)
        sig.append(p.name if default is None else f"{p.name}={default}")
        if p.name in target.unsupported:
            test = f"{p.name} is not None" if default == "None" else f"{p.name} != {default}"
            message = f"{p.name}={{{p.name}!r}} is not supported: {target.unsupported[p.name]}"
            guards.append(f"    if {test}:\n        raise ValueError(f{message!r})\n")
        elif p.default == "None" and p.name not in target.values and p.name not in target.defaults_from \
                and target.args.get(p.name, p.name) not in target.defaults:
            # passed on only when given, as torch callers do (MindSpore may not accept None for it)
            renamed = target.args.get(p.name, p.name)
            if renamed is not None:
                optional.append((renamed, p.name))
        else:
            passed.append(p.name)
    if target.template and not keywords_only:  # a whole-call template: its placeholders are the parameters
        holes = set(re.findall(r"\{(\w+)\}", target.template))
        if not holes <= {p.name for p in params}:
            raise Unconvertible(f"the template of {target.api} needs more than the call's arguments")
        body = MS_NAME.sub(lambda m: render(m.group(0)), re.sub(r"\{(\w+)\}", r"\1", target.template))
        built = body.split("(", 1)[0]
        return _adapter(entry, built, sig, guards, [], body, f"built as {built}")
    by_target: dict[str, str] = {}
    for name in [n for n in passed if not n.startswith("*")]:  # an alias (`keepdims` of `keepdim`): one argument
        first = by_target.setdefault(target.args.get(name, name) or name, name)
        if first != name:
            default = next(p.default for p in params if p.name == name)
            lines.append(f"    {first} = {first} if {name} == {default} else {name}\n")
            passed.remove(name)
    call = cst.parse_expression(f"X({', '.join(n if n.startswith('*') else f'{n}={n}' for n in passed)})")
    args = [code(a) for a in build_args(bind(call, entry.signature), target, render)]
    for name in target.defaults:  # given by the caller, or the rule's default when left None
        torch_name = next((t for t, m in target.args.items() if m == name), name)
        if any(p.name == torch_name and p.default == "None" for p in params):
            default = MS_NAME.sub(lambda m: render(m.group(0)), target.defaults[name])
            args = [f"{name}={torch_name} if {torch_name} is not None else {default}" if a.startswith(f"{name}=")
                    else a for a in args]
    if optional:
        pairs = ", ".join(f"{ms!r}: {torch}" for ms, torch in optional)
        lines.append(f"    given = {{k: v for k, v in {{{pairs}}}.items() if v is not None}}\n")
        args.append("**given")
    if keywords_only:
        if any(not a.partition("=")[0].isidentifier() or "=" not in a for a in args if not a.startswith("**")):
            raise Unconvertible("the target takes positional arguments: no keyword form")
        body, doc = f"dict({', '.join(args)})", f"the keyword arguments of {target.api}"
    else:
        body, doc = f"{render(target.api)}({', '.join(args)})", f"built as {target.api}"
    return _adapter(entry, target.api, sig, guards, lines, body, doc, keywords_only)


# torch's own names as signature defaults: its dtypes are MindSpore's; a layout or memory format has no
# MindSpore counterpart (the adapters drop those arguments), nor a default that calls into torch
_TORCH_DEFAULT = re.compile(r"^torch\.(\w+)$")
_DTYPES = {"long": "int64", "int": "int32", "float": "float32", "double": "float64", "half": "float16",
           "bool": "bool_"}
_DTYPE_NAMES = {"float16", "float32", "float64", "bfloat16", "int8", "int16", "int32", "int64", "uint8", "bool",
                "complex64", "complex128"}


def _default(text: str | None, render) -> str | None:
    """A torch signature default as the adapter's own (`torch.int64` -> `ms.int64`, `torch.strided` -> None)."""
    found = _TORCH_DEFAULT.match(text or "")
    if text is None or not text.startswith("torch."):
        return text
    if found and (found.group(1) in _DTYPE_NAMES or found.group(1) in _DTYPES):
        name = _DTYPES.get(found.group(1), found.group(1))
        return render(f"mindspore.{'bool_' if name == 'bool' else name}")
    if text == "torch.inf":
        return "float('inf')"
    return "None"


def _adapter(entry: Entry, what: str, sig: list[str], guards: list[str], lines: list[str], body: str, doc: str,
             keywords_only: bool = False) -> str:
    """The adapter's source: a class for a layer (so `isinstance(m, norm_layer)` still works), else a function."""
    name = adapter_name(entry, keywords_only)
    if entry.kind == "class" and not keywords_only:
        built = body.split("(", 1)[0]
        method = "".join(guards) + "".join(lines) + f"    return {body}\n"
        return (f"class {name}(metaclass={META_NAME}):\n"
                f'    """{entry.api} called with torch\'s arguments: builds (and isinstance checks) {what}."""\n\n'
                f"    layer_name = {entry.api.rsplit('.', 1)[1]!r}\n\n"
                f"    @staticmethod\n    def built():\n        return {built}\n\n"
                f"    def __new__(cls, {', '.join(sig)}):\n"
                + "".join("    " + line + "\n" if line else "\n" for line in method.rstrip("\n").split("\n")))
    return (f"def {name}({', '.join(sig)}):\n"
            f'    """{entry.api} called with torch\'s arguments, {doc}."""\n'
            + "".join(guards) + "".join(lines) + f"    return {body}\n")


META_NAME = "_MsLayerAdapter"
META_SOURCE = f'''class {META_NAME}(type):
    """The type of a torch layer class used as a value (`norm_layer=nn.BatchNorm2d`): isinstance against it
    checks the MindSpore layer it builds, and it equals that layer (`norm_layer != nn.BatchNorm2d` where the
    other side became the layer); its __name__ is the original layer's (`norm_layer.__name__` picks a
    variant)."""

    def __init__(cls, name, bases, namespace):
        super().__init__(name, bases, namespace)
        cls.__name__ = cls.__qualname__ = namespace.get("layer_name", name)

    def __instancecheck__(cls, obj):
        built = cls.built()
        return isinstance(built, type) and isinstance(obj, built)

    def __eq__(cls, other):
        return other is cls or other is cls.built()

    def __hash__(cls):
        return hash(cls.built())
'''


def adapter_sources(entry: Entry, target: Target, render, spread: bool = False) -> list[tuple[str, str]]:
    """(name, source) of what a file needs for the adapter of ENTRY, in definition order."""
    source = adapter_source(entry, target, render, spread=spread)
    own = (adapter_name(entry), source)
    return [(META_NAME, META_SOURCE), own] if source.startswith("class ") else [own]
