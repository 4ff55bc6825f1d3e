"""The inputs a torch layer takes, read from the layer itself: a convolution's channels and rank, a
Linear's features, an embedding's table size, a norm's shape, an einops layer's pattern. The first
layers of a module tell what its forward is fed (infer.py); each candidate is only a proposal, the torch
side decides. Input dicts as infer.py describes them."""
from __future__ import annotations

import inspect
import math
import re

B1, B2 = 2, 3
IMAGE_CHANNELS = re.compile(r"^(in_?|input_)?(channels?|chans|num_channels|in_ch|image_channels)$")


def floats(shape, batch=0, vary=()):
    return {"shape": list(shape), "dtype": "float32", "_batch": batch, "_vary": list(vary)}


def ints(shape, high, batch=0, vary=()):
    return {"shape": list(shape), "dtype": "int64", "low": 0, "high": int(high), "_batch": batch, "_vary": list(vary)}


def layer_inputs(m, hints: dict | None = None) -> list[dict]:
    """Candidate single inputs accepted by layer `m`, best first; [] for layers that say nothing."""
    import torch.nn as tnn

    einops = einops_inputs(m, hints or {})
    if einops:
        return einops
    if isinstance(m, (tnn.Conv1d, tnn.ConvTranspose1d)):
        return [floats((B1, m.in_channels, 16), vary=[2])]
    if isinstance(m, (tnn.Conv2d, tnn.ConvTranspose2d)):
        return [floats((B1, m.in_channels, 16, 16), vary=[2, 3])]
    if isinstance(m, (tnn.Conv3d, tnn.ConvTranspose3d)):
        return [floats((B1, m.in_channels, 8, 8, 8), vary=[2, 3, 4])]
    if isinstance(m, tnn.Unfold):  # patches of an image: its rank, channels unknown
        return [floats((B1, 3, 16, 16), vary=[2, 3])]
    if isinstance(m, tnn.Embedding):
        return [ints((B1, 8), m.num_embeddings, vary=[1])]
    if isinstance(m, tnn.Linear):
        return [floats((B1, m.in_features)), floats((B1, 8, m.in_features), vary=[1])]
    if isinstance(m, tnn.RNNBase):
        if m.batch_first:
            return [floats((B1, 8, m.input_size), vary=[1])]
        return [floats((8, B1, m.input_size), batch=1, vary=[0])]
    if isinstance(m, tnn.LayerNorm):
        shape = tuple(m.normalized_shape)
        found = [floats((B1, 8, *shape), vary=[1]), floats((B1, *shape))]
        if type(m) is not tnn.LayerNorm and len(shape) == 1:  # a subclass (LayerNorm2d): channels-first maps
            found.append(floats((B1, shape[0], 16, 16), vary=[2, 3]))
        return found
    if isinstance(m, tnn.BatchNorm1d):
        return [floats((B1, m.num_features)), floats((B1, m.num_features, 16), vary=[2])]
    if isinstance(m, tnn.BatchNorm2d):
        return [floats((B1, m.num_features, 16, 16), vary=[2, 3])]
    if isinstance(m, (tnn.BatchNorm3d, tnn.InstanceNorm3d)):
        return [floats((B1, m.num_features, 8, 8, 8), vary=[2, 3, 4])]
    if isinstance(m, tnn.InstanceNorm1d):
        return [floats((B1, m.num_features, 16), vary=[2])]
    if isinstance(m, tnn.InstanceNorm2d):
        return [floats((B1, m.num_features, 16, 16), vary=[2, 3])]
    if isinstance(m, tnn.GroupNorm):
        return [floats((B1, m.num_channels, 16, 16), vary=[2, 3])]
    # pools say their rank, not their channels: batched inputs (torch also takes unbatched ones)
    if isinstance(m, (tnn.MaxPool1d, tnn.AvgPool1d, tnn.AdaptiveAvgPool1d, tnn.AdaptiveMaxPool1d)):
        return [floats((B1, 8, 16), vary=[2])]
    if isinstance(m, (tnn.MaxPool2d, tnn.AvgPool2d, tnn.AdaptiveAvgPool2d, tnn.AdaptiveMaxPool2d, tnn.LPPool2d)):
        return [floats((B1, 8, 16, 16), vary=[2, 3])]
    if isinstance(m, (tnn.MaxPool3d, tnn.AvgPool3d, tnn.AdaptiveAvgPool3d, tnn.AdaptiveMaxPool3d)):
        return [floats((B1, 8, 8, 8, 8), vary=[2, 3, 4])]
    return []


EINOPS_AXES = re.compile(r"\(([^)]*)\)|(\.\.\.|…)|(\S+)")


def einops_inputs(m, hints: dict) -> list[dict]:
    """The input an einops layer (`Rearrange("b c (h p1) (w p2) -> ...", p1=4, p2=4)`) takes, read
    from its pattern: one axis per name or group, a group as the product of its known lengths (its
    unknown names 1), a lone unknown name 8 (a channel axis: the constructor's channel count)."""
    pattern, lengths = getattr(m, "pattern", None), getattr(m, "axes_lengths", None)
    if not (type(m).__module__.startswith("einops") and isinstance(pattern, str) and "->" in pattern
            and isinstance(lengths, dict)):
        return []
    channels = next((v for k, v in hints.items() if IMAGE_CHANNELS.search(k.lower()) and isinstance(v, int)), 8)
    shape = []
    for group, ellipsis, name in EINOPS_AXES.findall(pattern.split("->")[0]):
        if ellipsis:
            return []  # any rank: the pattern says nothing
        if name:
            known = int(name) if name.isdigit() else lengths.get(name)
            shape.append(known if isinstance(known, int) else channels if name in ("c", "ch", "chan", "channels") else 8)
        else:
            sizes = [int(n) if n.isdigit() else lengths.get(n) for n in group.split()]
            shape.append(math.prod(v for v in sizes if isinstance(v, int)) if any(isinstance(v, int) for v in sizes) else 8)
    if len(shape) < 2:
        return []
    return [floats((B1, *shape[1:]))]


def halved(inputs: list[dict]) -> list[dict] | None:
    """INPUTS with the spatial axes (past batch and channels) of every image or volume halved, each at least 4
    after; None when none can be."""
    out, changed = [], False
    for x in inputs:
        shape = x.get("shape") if isinstance(x, dict) else None
        if shape and len(shape) >= 4 and all(n >= 8 for n in shape[2:]):
            x, changed = dict(x, shape=[*shape[:2], *(n // 2 for n in shape[2:])]), True
        out.append(x)
    return out if changed else None


_SIZE_ARG = re.compile(r"^(x_size|hw_size|hw_shape|hw|spatial_size|spatial_shape|feat_size|input_resolution|resolution)$")


def grid_sizes(module, name: str, kind: str | None, grid_names: re.Pattern) -> list[dict]:
    """For a forward argument NAME that holds the input's spatial sizes (`forward(x, x_size)` unpacking or
    indexing (H, W); KIND `length:N` says how many): the grid the module keeps (an attribute GRID_NAMES
    matches, `input_resolution`), then 8s, as tuples (as `(H, W)` is written: `x_size == self.input_resolution`
    must hold as it does in use); [] for another argument."""
    if not _SIZE_ARG.search(name) or (kind or "").startswith("rank:"):
        return []
    n = int(kind.split(":")[1]) if (kind or "").startswith("length:") else 2
    grid = next((list(v) for k, v in vars(module).items() if grid_names.match(k.lower()) and isinstance(v, (tuple, list))
                 and len(v) == n and all(type(x) is int and 0 < x <= 64 for x in v)), None)
    return [{"value": v, "tuple": True} for v in ([grid] if grid and grid != [8] * n else []) + [[8] * n]]


_INT_SEQUENCE = re.compile(r"^(typing\.)?(List|list|Tuple|tuple|Sequence)\[int(, ?int)*(, ?\.\.\.)?\]$")


def int_sequence(annotation) -> bool:
    """`List[int]`, `Tuple[int, int]`, `Sequence[int]` (as a string or a typing object)."""
    if annotation is inspect.Parameter.empty:
        return False
    text = annotation if isinstance(annotation, str) else str(annotation).replace("typing.", "")
    return bool(_INT_SEQUENCE.match(text.replace(" ", "").replace(",", ", ")))


def one_per_sample(found: list[dict]) -> list[dict]:
    """For a later forward argument: each sequence of ids among FOUND also as one id per sample (a class label
    a diffusion model is conditioned on, `forward(x, t, y)`); the first argument's ids stay sequences (an RNN
    language model fed one id per sample runs unbatched, where torch reads a state tensor as its pair)."""
    return [dict(x, shape=x["shape"][:1], _vary=[]) for x in found
            if x.get("dtype") == "int64" and len(x.get("shape") or ()) == 2]


_NONE_USED = re.compile(r"'NoneType' object (has no attribute|is not subscriptable|is not iterable)|"
                        r"expected Tensor as element \d+ in argument \d+, but got NoneType|must be Tensor, not NoneType")


def none_fed(unit, first: list[dict], message: str) -> list[dict] | None:
    """FIRST with one more input, shaped like the first, when the run used the next optional argument the
    callable left at None (`forward(x, timesteps, low_res=None)` upsampling `low_res`); None otherwise."""
    if not _NONE_USED.search(message) or not first or "shape" not in first[0]:
        return None
    fn = getattr(unit, "forward", unit) if not inspect.isfunction(unit) else unit
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in ("self", "cls")]
    except (TypeError, ValueError):
        return None
    if len(params) <= len(first) or params[len(first)].default is not None:
        return None
    return [*first, dict(first[0])]
