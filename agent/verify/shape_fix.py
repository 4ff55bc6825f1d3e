"""Inputs corrected from torch's own shape errors.

Inferred inputs are guesses; when torch refuses one, its error often says what it wanted: a broadcast
that needs size 8 where the input has 16 (a positional table of width d_model), a matrix product that
needs 8 features (a Linear behind a reshape, or fewer where the unit appends features of its own), a
token count that must be a square grid or one longer than a model's fixed length (`x[:, :-1]`), or a
multiple of the frames an einops group splits it into (after a class token cut off), a
convolution that needs 3 channels, an embedding that needs integer indices, an integer argument given a
tensor or a number given one (`if p > 0.5` on a tensor), a deep stack of strided convolutions that needs a larger map, a fraction where a guessed number
is out of a stated bound ('a cutoff above 0.5 ...'). One corrected input per error,
tried before the next guess; the torch side stays the oracle (a corrected input that still fails is one
more entry in `tried`).
"""
from __future__ import annotations

import math
import re

from agent.verify.constructors import FRACTION, states_fraction

_BROADCAST = re.compile(r"size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\) at non-singleton "
                        r"dimension (\d+)")
_MATMUL = re.compile(r"mat1 and mat2 shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)")
# `x.view(-1, 320)` before a Linear(320, ...): the map reaching it is smaller or larger than the one it was written for
_FLATTEN = re.compile(r"shape '\[-1, (\d+)\]' is invalid for input of size (\d+)")
_SIDES = (8, 12, 16, 24, 28, 32, 48, 64, 96, 128, 224)  # image sides tried, MNIST's 28 and CIFAR's 32 among them
_HIDDEN = re.compile(r"Expected hidden size \(([\d, ]+)\), got \[([\d, ]+)\]")  # a recurrent layer's state
_CHANNELS = re.compile(r"expected input\[[\d, ]+\] to have (\d+) channels, but got (\d+) channels")
_FEATURES = re.compile(r"expected input with shape \[\*, ([\d, ]+)\], but got input of size\s*\[([\d, ]+)\]")
_INDICES = re.compile(r"'indices' to have one of the following scalar types: Long, Int")
_TOO_SMALL = re.compile(r"Kernel size can't be greater than actual input size|Output size is too small|"
                        r"Expected output size .* less than or equal|input size .* is too small")
# a signal (audio, a sequence) too short for the unit's window: the length needed, when the error says it
_PADDED = re.compile(r"Calculated padded input size per channel: \((\d+)\)\. Kernel size: \((\d+)\)")
_REFLECT = re.compile(r"padding \((\d+), (\d+)\) at dimension \d+ of input \[[\d, ]*?(\d+)\]")
_SHORTER = re.compile(r"(?i)\b(signal|input|sequence|audio|waveform)\b[^.\n]{0,40}\b(shorter than|too short)")
_RANK = re.compile(r"Dimension out of range \(expected to be in range of \[-(\d+), \d+\], but got (-?\d+)\)")
_EINSUM = re.compile(r"subscript \w has size (\d+) for operand \d+ which does not broadcast with previously seen "
                     r"size (\d+)")
_GRID = re.compile(r"Input tensor shape: torch\.Size\(\[([\d, ]+)\]\)\. Additional info: \{[^}]*\}\.\s*Shape mismatch, "
                   r"(\d+) != (\d+)")
_CHUNKS = re.compile(r"can't divide axis of length (\d+) in chunks of (\d+)")
# an integer argument given a tensor: `t.expand(-1, k)`, `range(n)`, `torch.zeros(n)` with a guessed tensor n
_WANTS_INT = re.compile(r"tuple of ints,\s*but got Tensor|'Tensor' object cannot be interpreted as an integer|"
                        r"must be int, not Tensor")
_AMBIGUOUS = re.compile(r"Boolean value of Tensor with more than one value is ambiguous")
# `GroupNorm(32, channels)` built from a number the unit was given: a multiple of the group count
_DIVISIBLE = re.compile(r"\((\d+)\) must be divisible by [\w ]*?\((\d+)\)")
_COMPARED = re.compile(r"\[compared sizes: (\(?[\d, ]+\)?) != (\(?[\d, ]+\)?)\]")  # see assert_sizes
_NUM_FEATURES = re.compile(r"expected input's size at dim=(\d+) to match num_features \((\d+)\), but got: (\d+)")
# `torch.split(x, [3, 3], dim=-1)`: the axis holds the pieces' sum (positions and view directions in one input)
_SPLIT = re.compile(r"split_sizes to sum exactly to (\d+) \(input tensor's size at dimension (-?\d+)\), "
                    r"but got split_sizes=\[([\d, ]+)\]")


def corrected(inputs: list[dict], error: str, vocab: int = 50) -> list[dict] | None:
    """INPUTS (input descriptors: shape, dtype, _vary) changed as ERROR asks, or None when it says nothing
    usable. A size fixed by the model stops varying between the two trial sizes."""
    floats = [i for i, d in enumerate(inputs) if "shape" in d and d.get("dtype", "").startswith("float")]
    if m := _COMPARED.search(error):
        sizes = ([int(x) for x in g.strip("()").split(",") if x.strip()] for g in m.groups())
        if (fixed := _asserted_size(inputs, floats, *sizes)) is not None:
            return fixed
        error = error[:m.start()]  # the assertion's own text, for what follows
    if not error.strip():  # a bare `assert width % (3 * self.n_heads) == 0`: sizes with more divisors
        return _more_divisors(inputs, floats)
    if _PADDED.search(error) or _REFLECT.search(error) or _SHORTER.search(error):
        return _signal_fix(inputs, floats, error)
    if m := _SPLIT.search(error):
        have, dim, want = int(m.group(1)), int(m.group(2)), sum(int(x) for x in m.group(3).split(",") if x.strip())
        return _set_axis(inputs, floats, lambda shape: dim % len(shape) if -len(shape) <= dim < len(shape) else None,
                         {have: want})
    if m := _HIDDEN.search(error):  # the state a seq-first GRU wants: its shape as said, fixed between trials
        return _stated_state(inputs, floats, *([int(x) for x in g.split(",") if x.strip()] for g in m.groups()))
    if m := _FLATTEN.search(error):  # a network written for one image size (MNIST's 28): the next side
        return _next_side(inputs, floats, want=int(m.group(1)), total=int(m.group(2)))
    if _TOO_SMALL.search(error):  # a deep stack of strided convolutions: a larger map
        return _larger_map(inputs, floats)
    if (numbers := _numbers_fix(inputs, floats, error)) is not None:
        return numbers
    if _INDICES.search(error) and floats:
        first = dict(inputs[floats[0]], dtype="int64", low=0, high=vocab)
        return _replace(inputs, floats[0], first)
    if m := _BROADCAST.search(error):
        a, b, dim = int(m.group(1)), int(m.group(2)), int(m.group(3))
        # last, for a tensor the unit made of more axes than the input (scores [B, heads, N, N] of tokens
        # [B, N, C] meeting a bias built for more tokens): the input's first axis after the batch holding a
        return _set_axis(inputs, floats, lambda shape: dim if dim < len(shape) else None, {a: b, b: a}) \
            or _grown_tokens(inputs, floats, a, b) or _grown_tokens(inputs, floats, b, a) \
            or (_set_axis(inputs, floats, lambda shape: _axis_of(a)(shape) if dim >= len(shape) else None, {a: b})
                if b > a and b % a == 0 else None)
    if m := _EINSUM.search(error):  # an axis, or a flattened map (`(hh ww)` against an n*n table)
        a, b = int(m.group(1)), int(m.group(2))
        return _set_axis(inputs, floats, _axis_of(a), {a: b}) or _scaled_map(inputs, floats, a, b) \
            or _offset_axis(inputs, a, b) or _set_axis(inputs, floats, _axis_of(b), {b: a})  # the input is the other
    if m := _GRID.search(error):  # `h = w = int(sqrt(n))`: a token count that is a square grid
        have, want = int(m.group(2)), int(m.group(3))
        side = math.isqrt(have)
        if side * side != have and want < have:
            square = (side + 1) ** 2
            return _set_axis(inputs, floats, _axis_of(have), {have: square})
        if want <= 4096:  # `(x y)` with x, y given (a feature map's size): the grouped axis takes their product
            return _set_axis(inputs, floats, _axis_of(have), {have: want})
    if m := _CHUNKS.search(error):  # `b (f n) d` with f frames: a multiple of f (the unit may cut a token first)
        have, chunk = int(m.group(1)), int(m.group(2))
        want = chunk * max(1, math.ceil(have / chunk))
        return _set_axis(inputs, floats, _axis_of(have), {have: want}) or _offset_axis(inputs, want, have)
    if m := _MATMUL.search(error):
        rows, have, want = int(m.group(1)), int(m.group(2)), int(m.group(3))
        return _set_axis(inputs, floats, lambda shape: len(shape) - 1, {have: want}, rows=rows) \
            or _widened_features(inputs, floats, rows, have, want) or _sole_last_axis(inputs, floats, rows, have, want)
    if m := _CHANNELS.search(error):
        want, have = int(m.group(1)), int(m.group(2))
        return _set_axis(inputs, floats, lambda shape: 1 if len(shape) > 1 else None, {have: want}) \
            or _scaled_channels(inputs, floats, have, want)
    if m := _NUM_FEATURES.search(error):
        dim, want, have = int(m.group(1)), int(m.group(2)), int(m.group(3))
        return _set_axis(inputs, floats, lambda shape: dim if dim < len(shape) else None, {have: want})
    if m := _RANK.search(error):  # `x.mean((2, 3))` on a 3-d input: trailing axes of 8 up to the rank asked for
        rank, axis = int(m.group(1)), int(m.group(2))
        need = axis + 1 if axis >= 0 else -axis
        for i in floats:
            shape = list(inputs[i]["shape"])
            if len(shape) == rank and need > rank:
                return _replace(inputs, i, dict(inputs[i], shape=shape + [8] * (need - rank)))
        return None
    if m := _FEATURES.search(error):
        want = [int(x) for x in m.group(1).split(",")]
        for i in floats:
            shape = list(inputs[i]["shape"])
            if len(shape) >= len(want):
                shape[len(shape) - len(want):] = want
                vary = [a for a in inputs[i].get("_vary", []) if a < len(shape) - len(want)]
                return _replace(inputs, i, dict(inputs[i], shape=shape, _vary=vary))
    return None


def _set_axis(inputs: list[dict], floats: list[int], axis_of, swap: dict[int, int], rows: int | None = None):
    """The first float input whose axis (axis_of(shape)) holds a size SWAP names, set to its partner."""
    for i in floats:
        shape = list(inputs[i]["shape"])
        axis = axis_of(shape)
        if axis is None or shape[axis] not in swap:
            continue
        if rows is not None and math.prod(shape[:-1]) != rows:
            continue  # not the matrix torch multiplied
        shape[axis] = swap[shape[axis]]
        vary = [a for a in inputs[i].get("_vary", []) if a != axis]
        return _replace(inputs, i, dict(inputs[i], shape=shape, _vary=vary))
    return None


def _numbers_fix(inputs: list[dict], floats: list[int], error: str):
    """Plain numbers among the inputs, or tensors that should have been numbers, as ERROR asks; None when
    it asks nothing of them."""
    if (m := _DIVISIBLE.search(error)) and any(d.get("value") == int(m.group(1)) for d in inputs):
        have, by = int(m.group(1)), int(m.group(2))  # `GroupNorm(32, channels)` of a number the unit was given
        return [dict(d, value=by * -(-have // by)) if d.get("value") == have else d for d in inputs]
    numbers = [i for i, d in enumerate(inputs) if isinstance(d.get("value"), float) and d["value"] != FRACTION]
    if numbers and states_fraction(error):  # `lowpass(x, cutoff)` given 1.0: 'a cutoff above 0.5 ...'
        return [dict(d, value=FRACTION) if i in numbers else d for i, d in enumerate(inputs)]
    if _WANTS_INT.search(error) and len(floats) > 1:  # the last tensor after the first is a count
        return _replace(inputs, floats[-1], {"value": 2})
    if _AMBIGUOUS.search(error) and len(floats) > 1:  # `if cutoff > 0.5`: the last tensor after the first is a number
        return _replace(inputs, floats[-1], {"value": 1.0})
    return None


def _larger_map(inputs: list[dict], floats: list[int]):
    """The first float map input (rank 3 or more) with its spatial axes doubled, up to 128."""
    for i in floats:
        shape = list(inputs[i]["shape"])
        if len(shape) >= 3 and max(shape[2:]) < 128:
            return _replace(inputs, i, dict(inputs[i], shape=shape[:2] + [2 * s for s in shape[2:]]))
    return None


def _asserted_size(inputs: list[dict], floats: list[int], seen: list[int], wanted: list[int]):
    """An assertion compared sizes: a single size (`assert t == self.block_size`) is set on the input axis
    holding it; shapes differing in one place by a whole ratio (`assert x.shape[1:] == pos.shape` after a
    stride-2 convolution) scale the input's last axis by it, the axis a sequence or signal runs along."""
    if len(seen) == 1 == len(wanted):
        return _set_axis(inputs, floats, lambda shape: next((k for k in range(len(shape) - 1, 0, -1)
                                                             if shape[k] == seen[0]), None), {seen[0]: wanted[0]})
    diff = [(a, b) for a, b in zip(seen, wanted) if a != b]
    if len(seen) != len(wanted) or len(diff) != 1 or not floats:
        return None
    (a, b), i = diff[0], floats[0]
    shape = list(inputs[i]["shape"])
    if len(shape) < 2 or (shape[-1] * b) % a or not 0 < shape[-1] * b // a <= 1 << 16:
        return None
    shape[-1] = shape[-1] * b // a
    return _replace(inputs, i, dict(inputs[i], shape=shape, _vary=[x for x in inputs[i].get("_vary", [])
                                                                    if x != len(shape) - 1]))


def _signal_fix(inputs: list[dict], floats: list[int], error: str):
    """A signal too short for the unit's window, by as much as ERROR says."""
    if m := _PADDED.search(error):  # a 1-d window (an STFT's kernel) longer than the signal
        return _longer_signal(inputs, floats, int(m.group(2)))
    if m := _REFLECT.search(error):  # reflect padding needs more samples than it pads
        return _longer_signal(inputs, floats, max(int(m.group(1)), int(m.group(2))) + 1, seen=int(m.group(3)))
    return _longer_signal(inputs, floats, None)  # too short, by how much unsaid: 16 times longer (n_fft 2048: two fixes)


def _grown_tokens(inputs: list[dict], floats: list[int], seen: int, table: int):
    """The unit added a token or two (a class token, the map's mean) to the sequence it took from the input
    and met a table of TABLE positions with SEEN: the input's sequence (an axis after the batch, or a square
    map's last two axes) made that many short of TABLE (an attention pool written for one map size)."""
    for extra in (1, 2):
        have, want = seen - extra, table - extra
        side = math.isqrt(max(want, 0))
        for i in floats if have > 0 and want > 0 else ():
            shape = list(inputs[i]["shape"])
            axis = next((k for k in range(2, len(shape)) if shape[k] == have), None)
            if axis is not None:
                shape[axis] = want
            elif len(shape) >= 4 and shape[-1] * shape[-2] == have and side * side == want:
                axis, shape[-2:] = len(shape) - 1, [side, side]
            else:
                continue
            vary = [a for a in inputs[i].get("_vary", []) if a < len(shape) - 2]
            return _replace(inputs, i, dict(inputs[i], shape=shape, _vary=vary))
    return None


def _scaled_channels(inputs: list[dict], floats: list[int], have: int, want: int):
    """The first float image input whose channels the unit multiplied or divided before the convolution
    (a Focus layer stacks four pixel phases: 3 channels in, 12 at its convolution), scaled by as much:
    WANT channels at the convolution, HAVE seen there."""
    for i in floats:
        shape = list(inputs[i]["shape"])
        if len(shape) >= 3 and shape[1] != have and (want * shape[1]) % have == 0 and want * shape[1] >= have:
            shape[1] = want * shape[1] // have
            vary = [a for a in inputs[i].get("_vary", []) if a != 1]
            return _replace(inputs, i, dict(inputs[i], shape=shape, _vary=vary))
    return None


def _widened_features(inputs: list[dict], floats: list[int], rows: int, have: int, want: int):
    """The first float input whose leading axes make the ROWS torch multiplied, its last axis changed by
    WANT - HAVE: the unit added features to it before the Linear (Fourier features concatenated to the
    input's channels), so the input must carry that many more or fewer."""
    for i in floats:
        shape = list(inputs[i]["shape"])
        if len(shape) >= 2 and math.prod(shape[:-1]) == rows and shape[-1] < have and shape[-1] + want - have > 0:
            shape[-1] += want - have
            vary = [a for a in inputs[i].get("_vary", []) if a != len(shape) - 1]
            return _replace(inputs, i, dict(inputs[i], shape=shape, _vary=vary))
    return None


def _sole_last_axis(inputs: list[dict], floats: list[int], rows: int, have: int, want: int):
    """The one float input whose last axis is HAVE and whose rows divide the ROWS torch multiplied, set to
    WANT (`pos[:, :, None] - pos[:, None]`: pairwise offsets of 3-d points, b*n*n rows from b*n)."""
    holding = [i for i in floats if len(inputs[i]["shape"]) >= 2 and inputs[i]["shape"][-1] == have
               and rows % math.prod(inputs[i]["shape"][:-1]) == 0]
    if len(holding) != 1:
        return None
    return _set_axis(inputs, holding, lambda shape: len(shape) - 1, {have: want})


def _offset_axis(inputs: list[dict], want: int, seen: int):
    """The first array input (float or integer) with an axis one or two longer than SEEN, the size the unit
    derived from it (`x[:, :-1]`: tokens shifted for next-token prediction), grown or cut by as much as
    SEEN must change to become WANT (a model that takes exactly `seq_len` positions)."""
    for i, d in enumerate(inputs):
        shape = list(d.get("shape") or ())
        for k in range(1, len(shape)):
            if 0 < shape[k] - seen <= 2 and shape[k] + want - seen > 0:
                shape[k] += want - seen
                return _replace(inputs, i, dict(d, shape=shape, _vary=[a for a in d.get("_vary", []) if a != k]))
    return None


def _longer_signal(inputs: list[dict], floats: list[int], need: int | None, seen: int | None = None):
    """The first float input of rank 1 to 3 (a signal: samples last) whose last axis (of size SEEN, when
    given) grows to the power of two at or above NEED (16 times its length when NEED is None), within
    2**16 samples."""
    for i in floats:
        shape = list(inputs[i]["shape"])
        if not 1 <= len(shape) <= 3 or (seen is not None and shape[-1] != seen):
            continue
        want = 1 << max(need - 1, 1).bit_length() if need is not None else shape[-1] * 16
        if shape[-1] < want <= 1 << 16:
            return _replace(inputs, i, dict(inputs[i], shape=shape[:-1] + [want]))
    return None


def _axis_of(size: int):
    """For _set_axis: the first axis after the batch holding SIZE."""
    return lambda shape: next((k for k in range(1, len(shape)) if shape[k] == size), None)


def _scaled_map(inputs: list[dict], floats: list[int], have: int, want: int):
    """The first float input whose spatial axes (after batch and channels) multiply to HAVE, each scaled
    alike so that they multiply to WANT (16x16 for 8x8)."""
    for i in floats:
        shape = list(inputs[i]["shape"])
        if len(shape) < 4 or math.prod(shape[2:]) != have:
            continue
        factor = (want / have) ** (1 / len(shape[2:]))
        new = [round(d * factor) for d in shape[2:]]
        if math.prod(new) == want and all(n > 0 for n in new):
            return _replace(inputs, i, dict(inputs[i], shape=shape[:2] + new, _vary=[]))
    return None


def _replace(inputs: list[dict], i: int, new: dict) -> list[dict]:
    return [new if j == i else d for j, d in enumerate(inputs)]


def _next_side(inputs: list[dict], floats: list[int], want: int, total: int) -> list[dict] | None:
    """The first image input at the next larger square side (the flattened map per sample, TOTAL over the
    batch, is smaller than the WANT features the view asks for) or the next smaller one; its sides stop
    varying between the trial sizes."""
    for i in floats:
        shape = list(inputs[i]["shape"])
        if len(shape) != 4 or not shape[0]:
            continue
        side = max(shape[2:])
        grow = total / shape[0] < want
        sides = [s for s in _SIDES if (s > side if grow else s < side)]
        if not sides:
            return None
        new = sides[0] if grow else sides[-1]
        return _replace(inputs, i, dict(inputs[i], shape=shape[:2] + [new, new],
                                        _vary=[a for a in inputs[i].get("_vary", []) if a < 2]))
    return None


def _more_divisors(inputs: list[dict], floats: list[int]) -> list[dict] | None:
    """The float inputs with each guessed 8 past the batch made 24 (divisible by 2, 3, 4, 6, 8 and 12), once."""
    widened = [dict(d, shape=[d["shape"][0], *(24 if n == 8 else n for n in d["shape"][1:])]) if i in floats
               else d for i, d in enumerate(inputs)]
    return widened if widened != inputs else None


def _stated_state(inputs: list[dict], floats: list[int], want: list[int], got: list[int]) -> list[dict] | None:
    """The float input of shape GOT given the shape WANT torch's error states, the same at both trial sizes."""
    for i in floats:
        if list(inputs[i]["shape"]) == got:
            return _replace(inputs, i, dict(inputs[i], shape=want, _batch=[], _vary=[]))
    return None
