"""Sizes a guessed constructor call must respect, and sizes it had better not keep: a guessed image size
made a multiple of the patch sizes, guessed channels of the group counts; a large default image size
(`img_size=1024` of a segmentation encoder) brought down to what MindSpore's CPU kernels run in seconds."""
from __future__ import annotations

import ast
import inspect
import math
import re

IMAGE_SIZE = re.compile(r"^(image|img|input|in|crop)_?(size|res|resolution)$|^resolution$")
SMALL_IMAGE = 64  # pixels a side: four 16-pixel patches, enough for a window or two of attention


def smaller_images(cls, inits: list[str]) -> list[str]:
    """INITS again with each defaulted image size above SMALL_IMAGE set to it (a multiple of the patch
    sizes), to try first: at its default, a ViT-style encoder's forward on MindSpore's CPU runs for minutes."""
    try:
        sig = inspect.signature(cls if inspect.isfunction(cls) else cls.__init__)
    except (TypeError, ValueError):
        return []
    large = {p.name: SMALL_IMAGE for p in sig.parameters.values() if IMAGE_SIZE.search(p.name.lower())
             and type(p.default) is int and p.default > SMALL_IMAGE}
    if not large:
        return []
    divisible_by_patches(large, sig)
    extra = ", ".join(f"{k}={v}" for k, v in large.items())
    out = []
    for init in inits:
        if init.endswith(")") and not any(f"{k}=" in init for k in large):
            out.append(init[:-1] + (", " if not init.endswith("()") else "") + extra + ")")
    return out


def divisible_by_patches(guesses: dict, sig: inspect.Signature) -> None:
    """A guessed image size made a multiple of every patch size the constructor has (guessed or default):
    `CrossViT(image_size, sm_patch_size=12, lg_patch_size=16)` asserts divisibility, so 48."""
    given = {p.name: p.default for p in sig.parameters.values() if isinstance(p.default, int)} | guesses
    patches = [v for k, v in given.items() if "patch" in k.lower() and isinstance(v, int) and not isinstance(v, bool)
               and 0 < v <= 64]
    if not patches:
        return
    step = math.lcm(*patches)
    for k, v in guesses.items():
        if IMAGE_SIZE.search(k.lower()) and isinstance(v, int) and v % step:
            guesses[k] = step * math.ceil(v / step)


_DIVISIBLE = re.compile(r"\((\d+)\) must be divisible by [\w ]*\((\d+)\)")  # GroupNorm(32, channels)'s error
_CHANNEL_ARG = re.compile(r"\b(\w*(?:channels?|features|planes|hidden|width|dim|embed\w*|filters)|ch|chs)=(\d+)\b")


def divisible_from_error(init: str, message: str) -> str | None:
    """INIT with each channel-like argument that equals the count torch's error MESSAGE names made a multiple
    of the divisor it names: `nn.GroupNorm(num_groups=32, num_channels=ch)` written in the code refuses a
    guessed ch=8 ('num_channels (8) must be divisible by num_groups (32)'), so ch=32. None for other errors."""
    m = _DIVISIBLE.search(message)
    if m is None:
        return None
    value, divisor = int(m.group(1)), int(m.group(2))
    if not 0 < divisor <= 256:
        return None
    wanted = math.lcm(value, divisor)
    new = _CHANNEL_ARG.sub(lambda a: f"{a.group(1)}={wanted}" if int(a.group(2)) == value else a.group(0), init)
    return new if new != init else None


_GROUPS = re.compile(r"(^|_)groups?$")
_CHANNELS = re.compile(r"channels?|features|planes|hidden|width|^dim$|_dim$|embed")


def divisible_by_groups(guesses: dict, sig: inspect.Signature) -> None:
    """Guessed channel counts made a multiple of every group count the constructor has (guessed or
    default): `GroupNorm(num_channels, num_groups=32)` needs num_channels divisible by 32, so 32."""
    given = {p.name: p.default for p in sig.parameters.values() if isinstance(p.default, int)} | guesses
    groups = [v for k, v in given.items() if _GROUPS.search(k.lower()) and isinstance(v, int)
              and not isinstance(v, bool) and 1 < v <= 64]
    if not groups:
        return
    step = math.lcm(*groups)
    for k, v in guesses.items():
        if _CHANNELS.search(k.lower()) and isinstance(v, int) and not isinstance(v, bool) and v % step:
            guesses[k] = step * math.ceil(v / step)


PARAMETER_BUDGET = 1 << 22  # parameters a default-built model may have before smaller sizes are tried first
_DEPTH = re.compile(r"^(depth|n_?layers?|num_?(hidden_|encoder_|decoder_)?layers|(encoder|decoder)_?layers|"
                    r"n_?blocks?|num_?blocks|num_?res_?blocks)$")
_WIDTH = re.compile(r"(^|_)(dim|d_model|hidden|hidden_size|hidden_dim|embed_dim|embedding_dim|n_embd|width|channels|"
                    r"ffn_dim|ffn_embed_dim|mlp_dim|intermediate_size|d_ff|dim_feedforward|inner_dim|model_channels)$")
_HEADS = re.compile(r"(^|_)(n_?heads?|num_?(attention_)?heads|heads|attention_heads|nhead)$")
SMALL_WIDTH = 64  # the narrowest defaulted width of a smaller model (the others keep their ratios to it)


def smaller_model(cls, init: str) -> str | None:
    """INIT (a call of CLS) with the defaulted depths at most 2 and the defaulted widths divided by one power
    of two, so that the narrowest is at most SMALL_WIDTH, each still a multiple of every head count: the same code
    at a size the sandbox builds and runs quickly (ESM-2 at its defaults has 650M parameters). None when CLS
    defaults no depth or width larger than that."""
    try:
        sig = inspect.signature(cls if inspect.isfunction(cls) else cls.__init__)
    except (TypeError, ValueError):
        return None
    ints = {p.name: p.default for p in sig.parameters.values() if type(p.default) is int and f"{p.name}=" not in init}
    depths = {k: 2 for k, v in ints.items() if _DEPTH.search(k.lower()) and v > 2}
    widths = {k: v for k, v in ints.items() if _WIDTH.search(k.lower()) and v > SMALL_WIDTH}
    heads = [v for k, v in ints.items() if _HEADS.search(k.lower()) and v > 0]
    factor = 1
    while widths and min(widths.values()) // factor > SMALL_WIDTH:
        factor *= 2
    step = math.lcm(*heads) if heads else 1
    smaller = {**depths, **{k: max(step, step * round(v / factor / step)) for k, v in widths.items()}}
    if not smaller or not init.endswith(")"):
        return None
    extra = ", ".join(f"{k}={v}" for k, v in smaller.items())
    return init[:-1] + (", " if not init.endswith("()") else "") + extra + ")"


def smaller_first(cls, inits: list[str], build) -> list[str]:
    """INITS, after the first of them at a smaller depth and width (smaller_model) when the model that
    BUILD(init) makes on torch's meta device (nothing allocated) holds more than PARAMETER_BUDGET parameters."""
    smaller = smaller_model(cls, inits[0]) if inits and isinstance(cls, type) else None
    if smaller is None:
        return inits
    import torch

    try:
        with torch.device("meta"):
            built = build(inits[0])
        count = sum(p.numel() for p in built.parameters()) if isinstance(built, torch.nn.Module) else 0
    except (Exception, SystemExit):  # noqa: BLE001 - a constructor that needs real tensors: built as it is
        count = 0
    return [smaller, *inits] if count > PARAMETER_BUDGET else inits


_WINDOW = re.compile(r"(^|_)window_?size$")
_GRID_SIZE = re.compile(r"^(input_resolution|resolution|patches_resolution|grid_size|feat_size|fmap_size)$")
_INVALID_VIEW = re.compile(r"shape '\[[-\d, ]+\]' is invalid for input of size \d+")


def windows_dividing(init: str, message: str, cls) -> str | None:
    """INIT with a window size that does not divide the image or token grid it is built for made the largest
    divisor below it: a Swin block guessed for an (8, 8) grid keeps its default window_size=7, and splitting
    the grid into windows fails ("shape '[2, 1, 7, 1, 7, 8]' is invalid for input of size 1024"): 4. None
    for other errors, or when every window divides the grid."""
    if not _INVALID_VIEW.search(message) or not init.endswith(")"):
        return None
    try:
        sig = inspect.signature(cls if inspect.isfunction(cls) else cls.__init__)
    except (TypeError, ValueError):
        return None
    given = {p.name: p.default for p in sig.parameters.values()}
    given.update({m.group(1): ast.literal_eval(m.group(2))
                  for m in re.finditer(r"\b(\w+)=(\(\d+(?:, \d+)*,?\)|\d+)(?=[,)])", init)})
    grid = [n for k, v in given.items() if IMAGE_SIZE.search(k.lower()) or _GRID_SIZE.match(k.lower())
            for n in (v if isinstance(v, tuple) else (v,)) if type(n) is int and n > 0]
    windows = {k: v for k, v in given.items() if _WINDOW.search(k.lower()) and type(v) is int and v > 1}
    wrong = {k: v for k, v in windows.items() if grid and any(g % v for g in grid)}
    if not wrong:
        return None
    out = init
    for k, v in wrong.items():
        fit = max(d for d in range(1, v + 1) if all(g % d == 0 for g in grid))
        out = re.sub(rf"\b{k}=\d+", f"{k}={fit}", out) if f"{k}=" in out else \
            out[:-1] + ("" if out.endswith("()") else ", ") + f"{k}={fit})"
    return out
