"""Sizes a guessed constructor call must respect, and sizes it had better not keep: a guessed image size
made a multiple of the patch sizes, guessed channels of the group counts; a large default image size
(`img_size=1024` of a segmentation encoder) brought down to what MindSpore's CPU kernels run in seconds."""
from __future__ import annotations

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
