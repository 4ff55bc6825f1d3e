"""Guess how to build a unit: constructor arguments from the signature's defaults plus guesses for the
required ones, by name (`heads` is 2, `dropout` 0.0), by use (`verify/usage.py`: a shape, an index, an
instance of a class the constructor checks) and by what the other arguments say (an image size a multiple
of the patch sizes). Runs in the worker, on the torch side; the harness keeps the first call torch
accepts. Also how a built unit is called with positional inputs only (`keyword_only_defaults`).
"""
from __future__ import annotations

import inspect
import re
import traceback

from agent.verify import config_objects, usage
from agent.verify.name_guesses import (count_by_name, guess_value, int_tuple_arity,  # noqa: F401 - importers use them here
                                         names_object)
from agent.verify.init_sizes import IMAGE_SIZE, divisible_by_groups, divisible_by_patches, smaller_images

# (pattern over the lower-cased parameter name, guessed value); first match wins.
def required_params(sig: inspect.Signature) -> list[inspect.Parameter]:
    return [
        p for p in sig.parameters.values()
        if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and p.name != "self"
    ]




IDENTITY = "__msagent_identity__"  # a stand-in for a wrapped submodule; each side binds its own
FILLED = "__msagent_filled__"  # a container given two identity children; each side binds its own
SEQUENCE = "__msagent_sequence__"  # a Sequential of two identities; each side binds its own
LINEAR = "__msagent_linear__"  # a model given to a wrapper (`Ema(model)`): a Linear with fixed weights
STAND_INS = (IDENTITY, FILLED, SEQUENCE, LINEAR)
_MODEL_ARG = re.compile(r"^(model|base_model|wrapped_model|inner_model)$")
_WRAPPED = re.compile(r"^([fgh]|fn|func|net|module|block|layer|sublayer|inner|body|transformer|encoder|backbone|"
                      r"teacher|self_attn|src_attn|attn|attention|feed_forward|ff|ffn|mlp|head)$")


class _Code(str):
    """An argument written as code, not as a literal (`fn=__msagent_identity__()`)."""

    def __repr__(self) -> str:
        return str(self)


def _instance_of(cls, name: str, depth: int) -> str | None:
    """The first constructor expression of the module class NAME (as CLS's module spells it), for a
    parameter CLS asserts is one; None for anything else or past one level of nesting."""
    fn = cls if inspect.isfunction(cls) else getattr(cls, "__init__", None)
    found = getattr(fn, "__globals__", {}).get(name)
    if depth > 0 or not inspect.isclass(found) or found is cls or not callable(getattr(found, "forward", None)):
        return None
    inits = default_inits(name, found, _depth=depth + 1)
    return inits[0] if inits else None


_NAMED_FACTORY = re.compile(r"^from_(name|config|arch|variant|preset)s?$")
_MODEL_NAME = re.compile(r"name|arch|variant|preset|config")


def named_inits(name: str, cls) -> list[str]:
    """`Model.from_name('model-b0')`: a class built through a classmethod that takes one name, with the
    first name its module lists (a module-level tuple, list or set of strings, or the string keys of a
    dict: `VALID_MODELS = ('model-b0', ...)`). A registry of configurations, as model zoos write them."""
    if not inspect.isclass(cls):
        return []
    own = [getattr(v, "__func__", v) for v in vars(cls).values()]
    module = next((f.__globals__ for f in own if inspect.isfunction(f)), {})  # the defining module's names
    names = []
    for var, value in module.items():
        if var.startswith("_"):  # __all__, __builtins__
            continue
        items = list(value) if isinstance(value, (tuple, list, set, frozenset, dict)) else []
        if items and len(items) <= 500 and all(isinstance(i, str) for i in items):
            first = sorted(items)[0] if isinstance(value, (set, frozenset)) else items[0]
            if first not in names:
                names.append(first)
    inits = []
    for attr, member in inspect.getmembers(cls, inspect.ismethod):
        if member.__self__ is not cls or not _NAMED_FACTORY.match(attr):
            continue
        required = required_params(inspect.signature(member))
        if len(required) == 1 and _MODEL_NAME.search(required[0].name.lower()):
            inits += [f"{name}.{attr}({n!r})" for n in names[:2]]
    return inits


def compared_values(fn, names: list[str], kind: type = str) -> dict[str, list]:
    """{parameter: the strings (or KIND values: int) the function first compares it with} for NAMES: `if mode
    == "sum"`, `rnn_type in ['LSTM', 'GRU']`, `{'RNN_TANH': 'tanh'}[rnn_type]`, `if dims == 2`."""
    import ast
    import textwrap

    if not names:
        return {}
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return {}
    found: dict[str, list[str]] = {}

    def fits(node) -> bool:
        return isinstance(node, ast.Constant) and type(node.value) is kind

    def strings(node) -> list:
        if fits(node):
            return [node.value]
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            return [e.value for e in node.elts if fits(e)]
        if isinstance(node, ast.Dict):
            return [k.value for k in node.keys if fits(k)]
        return []

    for node in ast.walk(tree):
        pairs = []
        if isinstance(node, ast.Compare) and len(node.comparators) == 1 and isinstance(node.ops[0], (ast.Eq, ast.In, ast.NotIn)):
            pairs = [(node.left, node.comparators[0]), (node.comparators[0], node.left)]
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Dict):
            pairs = [(node.slice, node.value)]
        for name_node, values in pairs:
            if isinstance(name_node, ast.Name) and name_node.id in names and name_node.id not in found:
                words = strings(values)
                if words:
                    found[name_node.id] = words
    return found


def default_inits(name: str, cls, _depth: int = 0) -> list[str]:
    """Constructor expressions to try: defaults alone, or defaults plus guesses for required args,
    then the class's named configurations (`named_inits`). CLS may also be a function that builds a
    module. A subclass of a torch container is also tried holding two identity children (after the
    repo's own models that contain it): left empty, it may compute nothing (its forward merges what its
    children return)."""
    inits = _signature_inits(name, cls, _depth) + named_inits(name, cls)
    inits = smaller_images(cls, inits) + inits
    return inits + [f"{FILLED}({i})" for i in inits] if _container(cls) else inits


def _container(cls) -> bool:
    import torch.nn as tnn

    return isinstance(cls, type) and issubclass(cls, (tnn.Sequential, tnn.ModuleList, tnn.ModuleDict)) \
        and cls not in (tnn.Sequential, tnn.ModuleList, tnn.ModuleDict)


def _signature_inits(name: str, cls, _depth: int) -> list[str]:
    try:
        sig = inspect.signature(cls if inspect.isfunction(cls) else cls.__init__)
    except (TypeError, ValueError):
        return [f"{name}()"]
    inits = _inits_for(name, cls, sig, _depth)
    passed = passed_on(cls, sig)
    return inits + [i for i in _inits_for(name, cls, passed, _depth) if i not in inits] if passed is not sig else inits


def passed_on(cls, sig: inspect.Signature) -> inspect.Signature:
    """SIG with the parameters a subclass passes on through **kwargs to its repository base class, as keywords
    (`SuperResModel(image_size, in_channels, *args, **kwargs)` building a UNetModel), tried after SIG's own."""
    if not isinstance(cls, type) or not any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
        return sig
    base = next((b for b in cls.__mro__[1:] if "__init__" in vars(b)), None)
    if base is None or base.__module__.split(".")[0] in ("torch", "builtins"):
        return sig
    try:
        parent = inspect.signature(base.__init__)
    except (TypeError, ValueError):
        return sig
    own = [p for p in sig.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    extra = [p.replace(kind=p.KEYWORD_ONLY) for p in parent.parameters.values() if p.name != "self"
             and p.name not in {q.name for q in own} and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return sig.replace(parameters=own + extra) if extra else sig


def _inits_for(name: str, cls, sig: inspect.Signature, _depth: int) -> list[str]:
    required = required_params(sig)
    if not required:
        return [f"{name}()"]
    guesses = {p.name: guess_value(p.name, p.annotation) for p in required}
    for k, kind in usage.parameter_kinds(cls if inspect.isfunction(cls) else cls.__init__).items():
        if kind.startswith(usage.LENGTH) and k in guesses and not isinstance(guesses[k], tuple):  # `ph, pw = size`
            item = guesses[k] if isinstance(guesses[k], int) and not isinstance(guesses[k], bool) else 8
            guesses[k] = (item,) * int(kind[len(usage.LENGTH):])
        if kind == usage.SHAPE and k in guesses and not isinstance(guesses[k], tuple):  # `len(shape)`
            guesses[k] = (8, 8)
        if kind.startswith(usage.INSTANCE) and k in guesses and guesses[k] is inspect.Parameter.empty:
            built = _instance_of(cls, kind[len(usage.INSTANCE):], _depth)
            if built:  # `assert isinstance(net, Backbone)`: a Backbone, built as its own unit would be
                guesses[k] = _Code(built)
    unknown = [k for k, v in guesses.items() if v is inspect.Parameter.empty]
    choices = compared_values(cls if inspect.isfunction(cls) else cls.__init__, unknown)
    guesses.update({k: words[0] for k, words in choices.items()})  # `rnn_type in ['LSTM', 'GRU']`: the first
    unknown = [k for k in unknown if k not in choices]
    if len(unknown) == 1 and len(required) == 1 and config_objects.CONFIG_PARAM.search(unknown[0].lower()):
        return config_objects.config_inits(name, cls, unknown[0])  # one config object: see config_objects
    for k in unknown:
        if _WRAPPED.search(k.lower()):  # the module a wrapper applies (`PreNorm(dim, fn)`): an identity stands in
            guesses[k] = _Code(f"{IDENTITY}()")
        elif _MODEL_ARG.search(k.lower()):  # a model it keeps a copy of or steps (`Ema(model)`): one with weights
            guesses[k] = _Code(f"{LINEAR}(8)")
    unknown = [k for k in unknown if not isinstance(guesses[k], _Code)]
    if any(names_object(k) for k in unknown):
        return []  # a submodule or callable we cannot build: nothing sensible to guess
    guesses.update({k: 8 for k in unknown})  # a size nobody named: the generic width
    divisible_by_patches(guesses, sig)
    divisible_by_groups(guesses, sig)
    inits = [name + "(" + ", ".join(f"{k}={v!r}" for k, v in guesses.items()) + ")"]
    if any(v == 8 for v in guesses.values()):  # wider variant, e.g. for divisibility by heads
        inits.append(name + "(" + ", ".join(f"{k}={16 if v == 8 else v!r}" for k, v in guesses.items()) + ")")
    strides = [k for k, v in guesses.items() if v == 1 and _STRIDE.search(k.lower())]
    if strides:  # a transposed convolution with output_padding needs stride > 1; a downsampling block too
        inits.append(name + "(" + ", ".join(f"{k}={2 if k in strides else v!r}" for k, v in guesses.items()) + ")")
    sized = {p.name: 64 if IMAGE_SIZE.search(p.name.lower()) else 16 for p in sig.parameters.values()
             if p.default is None and (IMAGE_SIZE.search(p.name.lower()) or _SEQUENCE_LENGTH.search(p.name.lower()))}
    if sized:  # an image size or sequence length left None that the constructor then requires (asserts it)
        given = {**guesses, **sized}
        inits.append(name + "(" + ", ".join(f"{k}={v!r}" for k, v in given.items()) + ")")
    sequences = [k for k in guesses if _SEQUENCE_PARAM.search(k.lower()) or _holds_modules(sig.parameters[k].annotation)]
    for stand_in in _SEQUENCE_STAND_INS if sequences else ():
        # `blocks` may be the blocks themselves (`Sequential(blocks)`, `ReversibleSequence([(f, g), ...])`),
        # or a Sequential the module walks (`for m in down_seq._modules.values()`)
        given = dict(guesses, **{k: _Code(stand_in) for k in sequences})
        inits.append(name + "(" + ", ".join(f"{k}={v!r}" for k, v in given.items()) + ")")
    for k, words in choices.items():  # the other choices the code names, last (an LSTM whose state is a pair)
        for word in words[1:3]:
            inits.append(name + "(" + ", ".join(f"{a}={(word if a == k else v)!r}" for a, v in guesses.items()) + ")")
    return inits + _flipped_flags(name, sig, guesses) + _sentinels_set(name, sig, guesses)


_NOT_A_ROLE = re.compile(r"^(training|train|inplace|deterministic|verbose|debug|bias|affine)$")


def _sentinels_set(name: str, sig: inspect.Signature, guesses: dict) -> list[str]:
    """The guesses with every count left at a -1 default ("not set": `num_heads=-1, num_head_channels=-1`, of
    which the constructor asserts one is set) given what its name says (`num_heads` 2), last."""
    unset = {p.name: count_by_name(p.name) for p in sig.parameters.values()
             if type(p.default) is int and p.default == -1 and count_by_name(p.name) is not None}
    if not unset:
        return []
    return [name + "(" + ", ".join([*(f"{a}={v!r}" for a, v in guesses.items()),
                                    *(f"{k}={v!r}" for k, v in unset.items())]) + ")"]


def _flipped_flags(name: str, sig: inspect.Signature, guesses: dict) -> list[str]:
    """The guesses with one boolean flag turned from its default, after everything else: a block whose
    defaults describe no usable instance (a U-Net level neither innermost nor given its submodule)."""
    flags = [p for p in sig.parameters.values() if isinstance(p.default, bool) and not _NOT_A_ROLE.match(p.name)]
    return [name + "(" + ", ".join([*(f"{a}={v!r}" for a, v in guesses.items()), f"{p.name}={not p.default!r}"]) + ")"
            for p in flags[:4]]


_MATMUL = re.compile(r"mat1 and mat2 shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)")
_INPUT_WIDTH = re.compile(r"\b(?:dim_in|in_dim|input_dim|in_features|in_channels|input_size|d_in)=(\d+)\b")
_RESIDUAL = re.compile(r"size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\) at non-singleton "
                       r"dimension 1\b")
_RESIDUAL_WIDTH = re.compile(r"\b(?:inplanes|in_planes|in_channels|in_chs|inp|in_dim|dim_in|in_features)=(\d+)\b")


def residual_width(init: str, message: str) -> str | None:
    """INIT with its input width set to the width of the branch the input is added to, as torch's broadcast
    error says (`out + residual`: a bottleneck block (inplanes=8, planes=8) widens to planes * 4 = 32 and
    adds its input, so without a downsample its input must be 32 wide); None when the error is another or
    no input-width argument holds the input's width."""
    m = _RESIDUAL.search(message)
    return None if m is None else _set_width(init, _RESIDUAL_WIDTH, m.group(2), m.group(1))


def input_width(init: str, message: str) -> str | None:
    """INIT with the input width torch's matrix-product error asks for (`SirenWrapper(net=SirenNet(dim_in=8))`
    multiplying the 2-d coordinates it builds itself by an 8-wide Linear: dim_in=2); None when the error is
    another or no input-width argument holds the width the layer has."""
    m = _MATMUL.search(message)
    if m is None or m.group(2) == m.group(3):
        return None
    return _set_width(init, _INPUT_WIDTH, m.group(3), m.group(2))


def _set_width(init: str, widths: re.Pattern, old: str, new: str) -> str | None:
    """INIT with the first argument WIDTHS names that holds OLD set to NEW; None when none holds it."""
    for arg in widths.finditer(init):
        if arg.group(1) == old:
            return init[:arg.start(1)] + new + init[arg.end(1):]
    return None


def _holds_modules(annotation) -> bool:
    """An annotation naming a torch container (`down_seq: nn.Sequential`; a string where the repo's modules
    are loaded with annotations unevaluated)."""
    import torch.nn as tnn

    if isinstance(annotation, str):
        return re.search(r"(^|\.)(Sequential|ModuleList)$", annotation.strip()) is not None
    return isinstance(annotation, type) and issubclass(annotation, (tnn.Sequential, tnn.ModuleList))


def naming_none(init: str, message: str, cls, lines: tuple[str, ...] = ()) -> str | None:
    """INIT again as the constructor's error MESSAGE asks: a parameter left None that it names gets a guess
    (`Window(dim=8)` asserting 'give the window size (n=h=w)': n=8), a guessed number it says must be a
    tuple becomes one (`depth must be a tuple of 3`: depth=(2, 2, 2)), as does a number the failing source
    LINES iterate or index (`zip(dims, num_layers)`: 'int' object is not iterable), and a guessed float those
    lines use where an integer is due becomes one (`scale=1.0`: 2); None when it asks for none of these."""
    try:
        sig = inspect.signature(cls if inspect.isfunction(cls) else cls.__init__)
    except (TypeError, ValueError):
        return None
    sig = passed_on(cls, sig)
    if not init.endswith(")"):
        return None
    if NOT_ITERABLE.search(message):
        return _numbers_as_tuples(init, lines, sig, _source(cls))
    if _FLOAT_NOT_INT.search(message):  # `scale=1.0` guessed for an upsampling factor: an integer, 2
        given = [m for m in re.finditer(r"\b(\w+)=(\d+\.\d*)(?=[,)])", init)
                 if m.group(1) in sig.parameters and any(re.search(rf"\b{m.group(1)}\b", line) for line in lines)]
        for m in reversed(given):
            init = init[:m.start(2)] + str(max(2, int(float(m.group(2))))) + init[m.end(2):]
        return init if given else None
    if (fractions := _as_fractions(init, message, sig)) is not None:
        return fractions
    if m := _MUST_BE_TUPLE.search(message):
        name, count = m.group(1), int(m.group(2) or 2)
        given = re.search(rf"\b{re.escape(name)}=(?:\((\d+)(?:, \d+)*\)|(\d+)\b)", init)
        if given and name in sig.parameters and 1 < count <= 4:
            value = (int(given.group(1) or given.group(2)),) * count
            return init[:given.start()] + f"{name}={value!r}" + init[given.end():]
    words = set(re.findall(r"[A-Za-z_]\w*", message))
    named = [p.name for p in sig.parameters.values() if p.default is None and p.name in words
             and not re.search(rf"\b{re.escape(p.name)}=", init)]
    if not named:
        return None
    values = {n: guess_value(n, int) for n in named}
    extra = ", ".join(f"{n}={64 if IMAGE_SIZE.search(n.lower()) else v if isinstance(v, int) else 8}"
                      for n, v in values.items())
    return init[:-1] + ("" if init.endswith("()") else ", ") + extra + ")"


_BOUND = re.compile(r"\b(above|below|exceed\w*|larger|greater|smaller|less|at most|between|range|in)\b|[<>]=?")
_FRACTIONAL = re.compile(r"(?<![\d.])0?\.\d+|\b0(?:\.0+)?\s*(?:and|,|-|to)\s*1(?:\.0+)?\b")  # '0.5', '[0, 1]'

_GIVEN_NUMBER = re.compile(r"\b(\w+)=(\((?:\d+(?:\.\d+)?, )*\d+(?:\.\d+)?,?\)|\d+(?:\.\d+)?)(?=[,)])")
FRACTION = 0.25


def states_fraction(message: str) -> bool:
    """Whether an error MESSAGE states a fractional bound ('a cutoff above 0.5', 'p must be in [0, 1]')."""
    return bool(_BOUND.search(message) and _FRACTIONAL.search(message))


def _as_fractions(init: str, message: str, sig: inspect.Signature) -> str | None:
    """INIT with the numbers it gives the parameters a bound in the constructor's MESSAGE names made a
    fraction, FRACTION (`Filter(cutoff=1.0)` raising 'a cutoff above 0.5 ...': cutoff=0.25; a tuple
    element-wise); a parameter is named by its name, its singular or one of its `_` parts. None when the
    message states no fractional bound, names no parameter INIT gives a number, or they are fractions
    already."""
    if not states_fraction(message):
        return None
    words = {w.lower() for w in re.findall(r"[A-Za-z_]\w*", message)}
    out = init
    for m in reversed(list(_GIVEN_NUMBER.finditer(init))):
        name = m.group(1)
        if name not in sig.parameters or not ({name, name.rstrip("s"), *name.split("_")} & words):
            continue
        value = re.sub(r"\d+(?:\.\d+)?", repr(FRACTION), m.group(2))
        if value != m.group(2):
            out = out[:m.start(2)] + value + out[m.end(2):]
    return out if out != init else None


def iterated(init: str, exc: Exception, cls) -> str | None:
    """INIT with the numbers a failing forward iterates made tuples (`h, w = self.fmap_size` of a
    guessed `fmap_size=8`: cannot unpack non-iterable int object), else None."""
    if not NOT_ITERABLE.search(str(exc)):
        return None
    lines = tuple(f.line or "" for f in traceback.extract_tb(exc.__traceback__)[1:])
    return naming_none(init, str(exc), cls, lines)


def _numbers_as_tuples(init: str, lines: tuple[str, ...], sig: inspect.Signature, source: str = "") -> str | None:
    """INIT with each number it gives a parameter the failing LINES name made a tuple, as long as the
    tuples INIT already gives (`dims=(32, 64, 160, 256)`: 4), else as long as the constructor's SOURCE indexes
    it (`layers[0]` ... `layers[3]`: 4), else of 2."""
    given = [m for m in re.finditer(r"\b(\w+)=(\d+)\b", init)
             if m.group(1) in sig.parameters and any(_iterates(line, m.group(1)) for line in lines)]
    if not given:
        return None
    lengths = [len(t.split(",")) for t in re.findall(r"\w+=\(([^()]*\d[^()]*)\)", init)]
    for m in reversed(given):
        indexed = [int(k) for k in re.findall(rf"(?<![\w.]){re.escape(m.group(1))}\[(\d)\]", source)]
        count = max(set(lengths), key=lengths.count) if lengths else max([2, *(k + 1 for k in indexed)])
        init = init[:m.start()] + f"{m.group(1)}={(int(m.group(2)),) * count!r}" + init[m.end():]
    return init


def _source(cls) -> str:
    """The source of CLS's constructor (or of the function CLS), '' where it cannot be read."""
    try:
        return inspect.getsource(cls if inspect.isfunction(cls) else cls.__init__)
    except (OSError, TypeError):
        return ""


def _iterates(line: str, name: str) -> bool:
    """Whether LINE iterates NAME: unpacks it (`*dims`), loops over it, zips, enumerates, measures or indexes
    it (`window_size[0]`)."""
    n = r"(?:self\.)?" + re.escape(name)  # kept on the module first (`min(self.input_resolution)`) counts too
    if re.search(rf"\*{n}\b|\bin\s+{n}\b|\b(len|list|tuple|enumerate|iter|reversed|sorted|min|max|sum)\({n}\b|"
                 rf"(?<![\w.]){n}\[\s*-?\d", line):
        return True
    if re.match(rf"\s*\w+\s*,[\w\s,*]*=\s*{n}\s*$", line):  # `h, w = self.fmap_size`
        return True
    return any(re.search(rf"\b{n}\b", args) for args in re.findall(r"\bzip\(([^()]*)\)", line))


NOT_ITERABLE = re.compile(r"'int' object is not iterable|must be an iterable, not int|object of type 'int' has no len|"
                          r"cannot unpack non-iterable int object|argument of type 'int' is not iterable|"
                          r"'int' object is not subscriptable")
_FLOAT_NOT_INT = re.compile(r"'float' object cannot be interpreted as an integer|of ints, but found element of type float|"
                            r"must be int, not float|expected int but got float")
_MUST_BE_TUPLE = re.compile(r"\b(\w+) (?:must|should|needs to) be an? (?:tuple|list)(?: of (\d+)\b)?")


_STRIDE = re.compile(r"stride")
_SEQUENCE_LENGTH = re.compile(r"^(max_)?(seq|sequence)_?(len|length)$|^(num_tokens|n_tokens|context_length)$")
# Constructor parameters that may take a sequence of submodules, and what stands in for one: identities,
# alone or in (f, g) pairs as reversible blocks take them. Tried after the numeric guesses.
_SEQUENCE_PARAM = re.compile(r"^(blocks|layers|modules|stages|branches|fns|funcs)$|_seq$")
_SEQUENCE_STAND_INS = (f"[{IDENTITY}(), {IDENTITY}()]", f"[({IDENTITY}(), {IDENTITY}()), ({IDENTITY}(), {IDENTITY}())]",
                       f"{SEQUENCE}()")


def keyword_only_defaults(obj):
    """OBJ, its forward (`construct`) given None for the keyword-only arguments it requires
    (`forward(self, x, *, mask)`): the checks pass inputs by position, the same way on both sides, and
    the torch side decides whether None is acceptable. Returns OBJ."""
    import functools

    for name in ("forward", "construct"):
        fn = getattr(obj, name, None)
        if not callable(fn) or isinstance(fn, functools.partial):
            continue
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):
            continue
        needed = {p.name: None for p in params if p.kind == p.KEYWORD_ONLY and p.default is p.empty}
        if needed:
            object.__setattr__(obj, name, functools.partial(fn, **needed))
    return obj


_MISSING_ARGS = re.compile(r"missing \d+ required (?:positional |keyword-only )?arguments?: (.+)$")


def with_missing(call: str | None, exc: TypeError) -> str | None:
    """CALL with the arguments a TypeError says are missing added as guessed keywords, when all are guessable."""
    found = _MISSING_ARGS.search(str(exc))
    if call is None or not found:
        return None
    names = re.findall(r"'(\w+)'", found.group(1))
    guesses = {n: guess_value(n.lower()) for n in names}
    # a name no guess knows is a size, as for constructors (`segments`), unless it names an object
    guesses = {n: 8 if v is inspect.Parameter.empty and not names_object(n) else v
               for n, v in guesses.items()}
    start, end = _callee_span(call, str(exc))  # the call the error is about: the outer one or one inside it
    if not names or any(v is inspect.Parameter.empty for v in guesses.values()) \
            or any(re.search(rf"\b{n}=", call[start:end]) for n in names):  # given, and not passed on under that name
        return None
    extra = ", ".join(f"{k}={v!r}" for k, v in guesses.items())
    head = call[:end]
    return f"{head}{'' if head.endswith('(') else ', '}{extra}{call[end:]}"


def _callee_span(call: str, message: str) -> tuple[int, int]:
    """(start, end) of the arguments of the call in CALL that MESSAGE says misses arguments (`PerformerLM.__init__()
    missing ...` inside `AutoregressiveWrapper(PerformerLM(), pad_value=0)`): the first call of that name after
    the outer one, else the outer call; END is its closing parenthesis."""
    outer = (call.index("(") + 1, len(call) - 1)
    named = re.search(r"(\w+)(?:\.__init__)?\(\) missing", message)
    inner = re.search(rf"\b{named.group(1)}\(", call[outer[0]:]) if named else None
    if inner is None:
        return outer
    depth, i = 0, outer[0] + inner.end() - 1
    for j in range(i, len(call)):
        depth += {"(": 1, ")": -1}.get(call[j], 0)
        if depth == 0:
            return i + 1, j
    return outer
