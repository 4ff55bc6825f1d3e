"""Guess what to feed a unit, when neither the user nor the repo says (how to build it: constructors.py).

Runs in the worker. Inputs come from the first layers of the constructed torch module, the geometry its
constructor was given and how the forward uses its parameters; a function's from its parameters' names
and uses. Everything here only proposes candidates: the harness keeps the first one the torch side accepts.
Input dicts may carry private keys `_batch` (batch axis, or axes: a graph's nodes x nodes matrix) and
`_vary` (axes that may change size for the second trial size); `public_spec` strips them.
"""
from __future__ import annotations

import ast
import inspect
import math
import re

from agent.verify import usage
from agent.verify.constructors import compared_values, count_by_name, guess_value, int_tuple_arity, required_params
from agent.verify.init_sizes import IMAGE_SIZE
from agent.verify.input_shapes import B1, B2, IMAGE_CHANNELS as _IMAGE_CHANNELS, floats as _f, ints as _i
from agent.verify.input_shapes import grid_sizes, int_sequence, layer_inputs as _layer_inputs, one_per_sample
from agent.verify.inputs import stand_in
from agent.scan.names import MODEL_PARAMS, parse_python

SHRINK = {16: 12, 8: 6}  # second trial size along spatial / sequence axes

# ---- inputs -------------------------------------------------------------------------------------

_LABEL = re.compile(r"label|target")
_LENGTHS = re.compile(r"^(lengths|lens|seq_lens|seq_lengths|src_lengths|input_lengths|text_lengths|x_lens)$")
_EDGES = re.compile(r"^(edge_?index|edge_?idx|edges|edge_list)$")
_ADJACENCY = re.compile(r"^(adj|adjacency|adj_?mat(rix)?|a_hat|adj_norm|norm_adj|laplacian)$")
_INT_ARG = re.compile(r"(^|_)(idx|ids|tokens?|input_ids|indices)$")
_MASK = re.compile(r"(^|_)mask$")
_ELAPSED = re.compile(r"^(ts|dt|timespans?|elapsed(_times?)?|delta_t|time_deltas?)$")
_TIMESTEPS = re.compile(r"^(timesteps?|time_?steps?|noise_levels?)$")  # a diffusion model's step per sample
_FORWARD_TIMESTEPS = re.compile(r"^(t|timesteps?|time_?steps?|noise_levels?)$")  # `forward(x, t)` too (not a helper's `t`)
_IMAGE_ARG = re.compile(r"^(x|img|image|images|inputs?|pixel_values|x_t|x_noisy|noisy)$")
_CLASS_LABELS = re.compile(r"^(labels?|class_labels|y_true)$")
_GENERIC = [[_f((B1, 16))], [_f((B1, 8, 16), vary=[1])], [_f((B1, 3, 16, 16), vary=[2, 3])]]
# one number per sample, last: a diffusion timestep embedding (`x[:, None] * freqs[None, :]`)
_STEPS = {**_f((B1,)), "low": 0.0, "high": 100.0}


def _generic(hints: dict) -> list[dict]:
    """Inputs for a module with no shape-carrying layer: shaped by its channel count when its
    constructor has one (`ChannelShuffle(channels=8, groups=2)`), then plain guesses."""
    named = next(((k, v) for k, v in hints.items() if _CHANNELS.search(k.lower()) and isinstance(v, int)), None)
    if named is None:
        return [g[0] for g in _GENERIC] + [_STEPS]
    name, channels = named
    shaped = [_f((B1, channels, 16, 16), vary=[2, 3]), _f((B1, channels, 16), vary=[2]), _f((B1, channels))]
    if "features" in name.lower():  # `in_features`: a matrix of feature rows (`torch.mm(x, self.weight)`)
        shaped = shaped[-1:] + shaped[:-1]
    return shaped + [g[0] for g in _GENERIC] + [_STEPS]


_CHANNELS = re.compile(r"^(in_?)?(channels?|chans|planes|num_features|features|dim)$")


def _entry_layers(module, hints: dict | None = None) -> list:
    """The first informative layer of the module, then of each top-level branch, in order."""
    firsts = []
    for child in [module, *module.children()]:
        for sub in child.modules():
            if _layer_inputs(sub, hints):
                if sub not in firsts:
                    firsts.append(sub)
                break
    return firsts


def vocab(module) -> int:
    """The first Embedding's table size (integer inputs stay in range); without one, 10 or the smallest
    size of the module's own parameters when less (tags indexing a (tags x tags) transition table)."""
    import torch.nn as tnn

    if not isinstance(module, tnn.Module):
        return 10
    emb = next((m for m in module.modules() if isinstance(m, tnn.Embedding)), None)
    if emb is not None:
        return emb.num_embeddings
    return min([10, *(n for n in _own_parameter_sizes(module) if n >= 2)])


def _own_parameter_sizes(module) -> list[int]:
    """The sizes of the module's own parameters (not its layers'), in order, each once."""
    sizes: list[int] = []
    if not callable(getattr(module, "parameters", None)):
        return sizes
    for p in module.parameters(recurse=False):
        sizes += [n for n in p.shape if n not in sizes]
    return sizes


def _parameter_shaped(module) -> list[dict]:
    """Inputs for a module whose only weights are its own parameters (a CRF's transition scores, a custom
    projection): a feature axis the size of one of their axes."""
    return [shape for n in _own_parameter_sizes(module)[:2] if 2 <= n <= 512
            for shape in (_f((B1, n)), _f((B1, 8, n), vary=[1]))]


_INT_TENSOR = re.compile(r"^(torch\.)?(Long|Int|Short|Byte|Char)Tensor$")


def _annotation(p: inspect.Parameter) -> str:
    """A parameter's annotation as written (`torch.LongTensor`), '' without one."""
    a = p.annotation
    return "" if a is inspect.Parameter.empty else a if isinstance(a, str) else \
        f"{getattr(a, '__module__', '')}.{getattr(a, '__qualname__', '')}".lstrip(".")


def forward_params(fn) -> list[inspect.Parameter]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    req = [p for p in required_params(sig) if p.kind != p.KEYWORD_ONLY]
    if not req and any(p.kind == p.VAR_POSITIONAL for p in sig.parameters.values()):
        return [inspect.Parameter("x", inspect.Parameter.POSITIONAL_ONLY)]
    positional = [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                  and p.name not in ("self", "cls")]
    after = positional[len(req)] if req and len(positional) > len(req) and positional[:len(req)] == req else None
    if after is not None and after.default is None and (_CLASS_LABELS.search(after.name.lower())
                                                        or _FORWARD_TIMESTEPS.search(after.name.lower())):
        req.append(after)  # a loss's `forward(embeddings, labels=None)`, a UNet's `forward(x, timesteps=None)`
    return req


_AXES = re.compile(r"^(input_axis|input_axes|num_axes|n_axes|num_input_axes)$")


def _axes_inputs(hints: dict) -> list[list[dict]]:
    """[B, 8, ..., C]: a model told how many input axes it reads (`input_axis=2`) takes data with that
    many axes between the batch and the channels (channels last)."""
    axes = next((v for k, v in hints.items() if _AXES.search(k.lower()) and isinstance(v, int)), None)
    if not isinstance(axes, int) or isinstance(axes, bool) or not 1 <= axes <= 3:
        return []
    channels = next((v for k, v in hints.items() if _IMAGE_CHANNELS.search(k.lower()) and isinstance(v, int)), 3)
    return [[_f((B1, *[8] * axes, channels), vary=list(range(1, axes + 1)))]]


def geometry_hints(module, init: str | None) -> dict[str, object]:
    """Constructor arguments that describe the input (image_size=32, channels=3): from the init
    expression's keywords, else the constructor's defaults. Values are literals only."""
    hints: dict[str, object] = {}
    try:
        for p in inspect.signature(type(module).__init__).parameters.values():
            if p.default is not p.empty and isinstance(p.default, (int, tuple, list)):
                hints[p.name] = p.default
    except (TypeError, ValueError):
        pass
    if init:
        try:
            call = parse_python(init, mode="eval").body
            for kw in getattr(call, "keywords", []):
                if kw.arg:
                    try:
                        hints[kw.arg] = ast.literal_eval(kw.value)
                    except ValueError:
                        pass
        except SyntaxError:
            pass
    return hints


_GRID = re.compile(r"^(input_resolution|resolution|patches_resolution|grid_size|feat_size|fmap_size)$")
_WIDTH = re.compile(r"^(dim|embed_dim|hidden_dim|channels|in_channels|d_model)$")


def _token_grid_inputs(hints: dict) -> list[dict]:
    """[B, H * W, dim] for a block built for an (H, W) grid of tokens (a Swin block's `input_resolution`), which
    asserts its input holds exactly that many tokens."""
    grid = next((v for k, v in hints.items() if _GRID.match(k.lower())), None)
    width = next((v for k, v in hints.items() if _WIDTH.match(k.lower()) and type(v) is int), None)
    if not (isinstance(grid, (tuple, list)) and len(grid) == 2 and all(type(v) is int and 0 < v <= 64 for v in grid)):
        return []
    return [_f((B1, grid[0] * grid[1], width))] if width else []


def _image_inputs(hints: dict) -> list[dict]:
    """[B, C, H, W] from an image-size hint (and a channel count if there is one): a smaller square
    image first (CPU convolutions are slow; most models accept one), the hinted size last."""
    size = next((v for k, v in hints.items() if IMAGE_SIZE.search(k.lower())), None)
    if isinstance(size, int):
        size = (size, size)
    if not (isinstance(size, (tuple, list)) and len(size) == 2 and all(isinstance(v, int) and 0 < v <= 512 for v in size)):
        return []
    channels = next((v for k, v in hints.items() if _IMAGE_CHANNELS.search(k.lower()) and isinstance(v, int)), 3)
    # 64, not less: a network that downsamples 32x still has 2x2 maps there, and batch statistics over
    # a 1x1 map of two samples (train mode) are degenerate
    smaller = [(s, s) for s in (64,) if s < min(size)]
    return [_f((B1, channels, *hw)) for hw in [*smaller, tuple(size)]]


def module_input_candidates(module, limit: int = 8, hints: dict | None = None) -> list[list[dict]]:
    """Candidate first-size argument lists for `module.forward`, from its layers and argument names
    (and, for image models, the image size its constructor was given: `hints`)."""
    import itertools

    if not callable(getattr(module, "forward", None)):
        return []  # not a module (a Dataset, a config): nothing to feed
    entry = usage.entry_point(module)
    params = forward_params(entry)
    layers = _entry_layers(module, hints)
    kinds = usage.parameter_kinds(entry)
    consumers = usage.consuming_layers(entry) if len(params) > 1 else {}
    images = _image_inputs(hints or {})
    per_arg: list[list[dict]] = []
    for i, p in enumerate(params):
        if i == 0 and images and (len(params) == 1 or _IMAGE_ARG.match(p.name.lower())):
            clips = _clips(images, _rank(kinds.get(p.name)), hints or {})
            # `B, HW, C = x.shape` of a module built for images: tokens over the grid it keeps (patches_resolution)
            kept = {k: v for k, v in vars(module).items() if isinstance(v, (int, tuple, list))} \
                if _rank(kinds.get(p.name)) == 3 else {}
            per_arg.append([*_token_grid_inputs({**kept, **(hints or {})}), *clips, *images,
                            *(_layer_inputs(layers[0], hints) if layers else [])])
            continue
        kind = kinds.get(p.name)
        named = _by_name_or_use(module, p, i, kind)
        if named is not None:
            per_arg.append(named)
            continue
        fed = getattr(module, consumers.get(p.name, ""), None) if i > 0 else None
        if fed is not None and _layer_inputs(fed, hints):  # `self.temb_proj(nonlinearity(temb))`: what it takes
            layer = fed
        else:
            layer = layers[i] if i < len(layers) else (layers[0] if layers else None)
        found = (_layer_inputs(layer, hints) if layer is not None else _parameter_shaped(module) + _generic(hints or {}))
        found = _token_grid_inputs(hints or {}) + found if i == 0 else found + one_per_sample(found)
        if i == 0 and len(params) > 1 and (width := _int_attribute(module, _INPUT_SIZE)):
            # a cell's step input (`forward(input, hx)`, its first layer fed `cat([input, hx])`): its own width
            found = [_f((B1, width))] + [x for x in found if x.get("shape") != [B1, width]]
        rank = _rank(kind)
        if rank and not any(len(x.get("shape") or ()) == rank for x in found):  # `b, n, d = x.shape`
            found = [_f((B1, *[8] * (rank - 1)), vary=list(range(1, rank)))] + found
        elif rank:  # those of that rank first (the module's parameter shapes may come before them)
            found = sorted(found, key=lambda x: len(x.get("shape") or ()) != rank)
        per_arg.append(found)
    if not params:
        return [[]]
    combos = [list(c) for c in itertools.islice(itertools.product(*per_arg), limit)]
    if len(params) == 1:
        combos = [c for c in _axes_inputs(hints or {}) if c not in combos] + combos
    if len(params) == 1 and layers:  # the first layer may not see the input first (a rearrange, a permute)
        combos += [[g] for g in _generic(hints or {})[:2] if [g] not in combos]
    import torch.nn as tnn

    first = layers[0] if layers else None
    if len(params) == 1 and isinstance(first, tnn.Linear):  # one sample, no batch axis (`torch.cat((x, z))`)
        combos.append([{"shape": [first.in_features], "dtype": "float32", "_batch": [], "_vary": []}])
    if len(params) > 1 and isinstance(first, tnn.Linear) and first.in_features % len(params) == 0:
        # forward(x, y) feeding cat([x, y]) into its first Linear: each argument carries a share
        share = first.in_features // len(params)
        combos += [[_f((B1, share)) for _ in params], [_f((B1, 8, share), vary=[1]) for _ in params]]
        floats = [j for j, options in enumerate(per_arg) if not _fixed_kind(options)]
        if 0 < len(floats) < len(params) and first.in_features % (2 * len(floats)) == 0:
            # forward(x, edge_index) concatenating x's rows for both ends of each edge: the features
            # feed the Linear twice over; the other arguments keep their kind (indices, a count)
            width = first.in_features // (2 * len(floats))
            combos.insert(0, [_f((B1, width)) if j in floats else per_arg[j][0] for j in range(len(params))])
    length = _sequence_length(hints or {})
    if length:  # a model built for sequences of this length (seq_len=16): its sequences have that length
        fixed = [[dict(x, shape=[x["shape"][0], length, *x["shape"][2:]], _vary=[]) if x.get("_vary") == [1] else x
                  for x in combo] for combo in combos]
        combos = [c for c in fixed if c not in combos] + combos
    return combos


def _by_name_or_use(module, p: inspect.Parameter, i: int, kind: str | None) -> list[dict] | None:
    """The candidates for forward argument P (the I-th) that its name or its use alone decides (a device,
    a count, lengths, a graph's adjacency or edges, a recurrent state, indices), else None."""
    name = p.name.lower()
    if _DEVICE.search(name):  # `forward(self, n, device)`: where torch builds what it returns
        return [{"value": "cpu"}]
    if int_tuple_arity(p.annotation):  # `forward(self, size: Tuple[int, int])`: a grid's size, not a tensor
        return [{"value": list(guess_value(name, p.annotation))}]
    if kind == usage.INT:
        return [dict(COUNT)]
    if kind == usage.SHAPE:
        return [{"value": [B1, 3, 8, 8]}]
    if kind == usage.MAPPING:  # keyword arguments passed on (`self.f(x, **f_args)`): none
        return [{"value": {}}]
    if i > 0 and guess_value(name) is False:  # `forward(labels, train)`: a flag, off (the deterministic path)
        return [{"value": False}]
    if i > 0 and (sizes := grid_sizes(module, name, kind, _GRID)):  # `forward(x, x_size)`: (H, W)
        return sizes
    if i > 0 and _ELAPSED.search(name):  # a continuous-time cell's step: one elapsed time per sample
        return [{**_f((B1,)), "low": 0.0, "high": 1.0}]
    if i > 0 and _FORWARD_TIMESTEPS.search(name):  # `forward(x, timesteps)`: one diffusion step per sample, an integer
        return [_i((B1,), 10), {**_f((B1,)), "low": 0.0, "high": 1.0}]
    if i > 0 and _LENGTHS.search(name):  # each sequence's length, within the shorter trial size
        return [dict(_i((B1,), 7), low=1)]
    if i > 0 and _ADJACENCY.search(name):  # a graph's (nodes x nodes) matrix, nodes = batch
        return [_f((B1, B1), batch=[0, 1])]
    if i > 0 and _EDGES.search(name):  # a graph's (2 x edges) node pairs, nodes = batch
        return [dict(_i((2, 8), B1, batch=[]), _vary=[])]
    if kind == usage.VECTOR_INDEX:  # `index_select(self.weight, 0, indices)`: one index per sample, in
        # range along any axis of the module's own parameters (the indexed one is not known)
        return [_i((B1,), min([vocab(module), *_own_parameter_sizes(module)]) or 1)]
    state = _recurrent_state(module, p.name, kind) if i > 0 else None
    if state is not None:  # `forward(token, hidden, ...)` around a GRU: (layers x directions, batch, hidden)
        return [state]
    if kind == usage.INDEX or _INT_ARG.search(name) or _INT_TENSOR.search(_annotation(p)):
        one = [_i((B1,), vocab(module))] if _ONE_STEP.search(name) else []  # a decoder's step
        return [*one, _i((B1, 8), vocab(module), vary=[1])]
    if i > 0 and _CLASS_LABELS.search(name):  # a loss's `forward(embeddings, labels)`: class indices, two
        # classes (valid whatever the class count), one per sample, then one per token (a tagger's)
        return [_i((B1,), 2), _i((B1, 8), 2, vary=[1])]
    return None


_HIDDEN = re.compile(r"^(hidden|hx|h0|h_0|hidden_state|prev_hidden|state|h)$")
_ONE_STEP = re.compile(r"(^|_)(token|word|char|input_token|prev_token|last_token)$")


def _recurrent_state(module, name: str, kind: str | None = None) -> dict | None:
    """The initial state a recurrent layer of MODULE takes, for an argument named like one (`hidden`,
    `hx`): (layers x directions, batch, hidden size), its batch on axis 1; None without a GRU/RNN (an
    LSTM's state is a pair, not one tensor)."""
    import torch.nn as tnn

    if not _HIDDEN.search(name.lower()):
        return None
    rnn = next((m for m in module.modules() if isinstance(m, (tnn.GRU, tnn.RNN))), None)
    if rnn is None:  # a cell written by hand keeps its state's width (`self.hidden_size`): (batch, hidden),
        # unless the forward unpacks it (`h, c = state`: an LSTM cell's pair, guessed from that use)
        width = None if (kind or "").startswith(usage.LENGTH) else _int_attribute(module, _HIDDEN_SIZE)
        return _f((B1, width)) if width else None
    return _f((rnn.num_layers * (2 if rnn.bidirectional else 1), B1, rnn.hidden_size), batch=1)


_INPUT_SIZE = ("input_size", "input_dim", "in_features", "n_inputs")
_HIDDEN_SIZE = ("hidden_size", "hidden_dim", "state_size", "n_hidden", "units")


def _int_attribute(module, names: tuple) -> int | None:
    """The first of NAMES that MODULE holds as a positive int (a width its constructor kept)."""
    for name in names:
        value = getattr(module, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _fixed_kind(options: list[dict]) -> bool:
    """An argument whose candidates are not float arrays (integer indices, a value): not a feature input."""
    return bool(options) and all("value" in o or o.get("dtype", "float32") != "float32" for o in options)


def _clips(images: list[dict], rank: int | None, hints: dict) -> list[dict]:
    """The image inputs with a frame axis after the batch, for a forward that unpacks five axes from its
    input (a video model's `b, f, c, h, w = *video.shape`): as many frames as the model was built for, at
    most 4."""
    if rank != 5:
        return []
    frames = next((v for k, v in hints.items() if "frames" in k.lower() and isinstance(v, int) and v > 0), 2)
    return [dict(x, shape=[x["shape"][0], min(frames, 4), *x["shape"][1:]], _vary=[a + 1 for a in x.get("_vary", [])])
            for x in images if len(x.get("shape") or ()) == 4]


_DEVICE = re.compile(r"^(device|dev)$")
COUNT = {"value": 4, "_vary": True}  # an integer the code sizes tensors by (usage.INT): 6 at the second size
_SEQ_LEN = re.compile(r"^(max_)?(seq|sequence)_?(len|length)$|^(max_len|max_length|n_ctx|context_length|block_size|"
                      r"num_tokens_per_seq)$")


def _rank(kind: str | None) -> int | None:
    """N for a parameter whose shape the code unpacks into N names (usage.RANK), between 1 and 6."""
    n = int(kind[len(usage.RANK):]) if kind and kind.startswith(usage.RANK) else 0
    return n if 1 <= n <= 6 else None


def _sequence_length(hints: dict) -> int | None:
    value = next((v for k, v in hints.items() if _SEQ_LEN.search(k.lower())), None)
    return value if isinstance(value, int) and 1 < value <= 128 else None


def function_input_candidates(fn) -> list[list[dict]]:
    """Candidate argument lists for a torch-using function: tensors by name, python values by name. A
    TorchScript function (`@torch.jit.script`) is read through the Python function it compiled."""
    fn = getattr(fn, "_torchdynamo_inline", fn) if type(fn).__name__ == "ScriptFunction" else fn
    params = forward_params(fn)
    kinds = usage.parameter_kinds(fn)
    out, names = [], [p.name for p in params]
    chosen = compared_values(fn, names)  # `kind == 'linear'`: the string; `dims == 1`: the number, after the name's
    guesses = [chosen[p.name][0] if p.name in chosen else guess_value(p.name.lower(), p.annotation) for p in params]
    numbers = compared_values(fn, names, int)  # after the names' guesses: `== 0` may pick a branch computing nothing
    for builder in ([{"value": g} for g in guesses], [{"value": numbers.get(p.name, [g])[0]} for p, g in zip(params, guesses)]):
        if params and builder not in out and all(g["value"] is not inspect.Parameter.empty and not isinstance(
                g["value"], float) for g in builder) and not any(_INT_ARG.search(p.name.lower()) for p in params):
            out.append(builder)  # a builder (`conv3x3_block(in_channels, out_channels)`)
    named_scalars = False  # a parameter taken for a number by its name (`p`, `scale`): also tried as a tensor
    for as_tensor in (False, True):
        if as_tensor and not named_scalars:
            break
        # the last, wide one for code that takes a fraction of the last axis (top-k filtering: k = 0 of 8)
        for shape, vary in (((B1, 8), []), ((B1, 4, 8), [1]), ((B1, 3, 8, 8), [2, 3]), ((B1, 8, 8, 8), [2, 3]),
                            ((B1, 32), []), *_grouped_shapes(fn)):
            args = []
            for p in params:
                low = p.name.lower()
                kind = kinds.get(p.name)
                if _DEVICE.search(low):
                    args.append({"value": "cpu"})
                elif isinstance(chosen.get(p.name, [0])[0], str):
                    args.append({"value": chosen[p.name][0]})
                elif _TIMESTEPS.search(low) and kind != usage.INT:  # one diffusion step per sample
                    args.append(_i((B1,), 10))
                elif kind == usage.INT:
                    args.append(dict(COUNT))
                elif kind == usage.SHAPE:
                    args.append({"value": list(shape)})
                elif kind == usage.INDEX:  # valid along any axis of the data tensors, of their rank
                    args.append(_i((B1,) + (1,) * (len(shape) - 1), B1))
                elif _rank(kind):  # `b, h, w, d = q.shape`: that many axes, the others as the shape has them
                    rank = _rank(kind)
                    ranked = (tuple(shape) + (8,) * rank)[:rank]
                    args.append(_f(ranked, vary=[a for a in vary if a < rank] or list(range(1, rank))))
                elif kind == usage.VECTOR_INDEX:  # `index_select(t, dim, index)`: one index per sample
                    args.append(_i((B1,), B1))
                elif kind == usage.MAPPING:  # keyword arguments passed on: none
                    args.append({"value": {}})
                elif kind == usage.MODULE or low in MODEL_PARAMS:  # `predict(model, x)`: a Linear over the last axis
                    args.append(stand_in(shape[-1]))
                elif low in ("dim", "axis"):
                    args.append({"value": -1})
                elif _LABEL.search(low):
                    args.append(_i((B1,), shape[-1]))
                elif _INT_ARG.search(low):
                    args.append(_i(shape[:2], 10, vary=[a for a in vary if a < 2]))
                elif _MASK.search(low):  # `mask` / `key_padding_mask`: a boolean over the leading axes
                    args.append({"shape": list(shape[:2]), "dtype": "bool", "_batch": 0,
                                 "_vary": [a for a in vary if a < 2]})
                elif int_tuple_arity(p.annotation):  # `pad_hw: Tuple[int, int]`: that many numbers
                    args.append({"value": list(guess_value(low, p.annotation))})
                elif int_sequence(p.annotation):  # `kernel_size: List[int]`: one size per spatial axis
                    args.append({"value": [guess_value(low, int)] * (max(len(shape) - 2, 1))})
                elif p.annotation in (int, float, bool, "int", "float", "bool"):
                    v = guess_value(low, p.annotation)
                    if v is inspect.Parameter.empty:
                        break
                    args.append({"value": v})
                elif kind != usage.TENSOR and (guess_value(low) in (0.0, 1e-5, 1.0) or count_by_name(low) is not None) \
                        and not as_tensor:  # not `scale.unsqueeze(1)`, a tensor whatever its name says (below)
                    named_scalars = True  # `scale`, `heads`, `multiple`: a number; tried as a tensor after
                    args.append({"value": guess_value(low)})
                elif guess_value(low) in (0.0, 1e-5, 1.0) and as_tensor:  # `cos(gamma)`: one number, a tensor
                    args.append({"shape": [], "dtype": "float32", "_batch": [], "_vary": []})
                else:
                    args.append(_f(shape, vary=vary))
            else:
                if args not in out:  # the shapes loop repeats a list of plain values
                    out.append(args)
    # losses over probabilities (BCE targets, log of inputs) reject normal samples: try the unit interval too
    out += [[dict(a, low=0.0, high=1.0) if a.get("dtype", "").startswith("float") else a for a in args]
            for args in list(out)]
    return out


_GROUP_COUNT = re.compile(r"(^|_)groups?$")
def _grouped_shapes(fn) -> list[tuple[tuple, list]]:
    """Inputs whose channels are the function's default group count (`group_std(x, groups=32)` asserts
    C % groups == 0): tried after the plain shapes."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return []
    counts = {p.default for p in params if _GROUP_COUNT.search(p.name.lower()) and type(p.default) is int
              and 1 < p.default <= 64}
    if not counts:
        return []
    g = math.lcm(*counts)
    return [((B1, g, 8, 8), [2, 3]), ((B1, g, 8), [2])]


def second_sizes(first: list[dict]) -> list[list[dict]]:
    """The second trial size: batch 3 with smaller spatial/sequence axes, else batch 3 alone."""
    def resize(inp, vary: bool):
        if "shape" not in inp:  # a count the code sizes tensors by (COUNT) grows with the other axes
            return {**inp, "value": inp["value"] + 2} if vary and inp.get("_vary") else dict(inp)
        shape = list(inp["shape"])
        if shape:
            for b in (lambda b: b if isinstance(b, list) else [b])(inp.get("_batch", 0)):
                shape[b] = B2
        if vary:
            for ax in inp.get("_vary", []):
                shape[ax] = SHRINK.get(shape[ax], max(1, shape[ax] - 2))
        return {**inp, "shape": shape}

    with_vary = [resize(x, True) for x in first]
    batch_only = [resize(x, False) for x in first]
    return [with_vary, batch_only] if with_vary != batch_only else [batch_only]


def public_spec(inputs: list[list[dict]] | None) -> list[list[dict]] | None:
    if inputs is None:
        return None
    return [[{k: v for k, v in x.items() if not k.startswith("_")} for x in size] for size in inputs]
