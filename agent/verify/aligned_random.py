"""Random draws aligned across the two sides: a unit that samples (a VAE's reparameterisation, a diffusion
step's noise and timestep, an init function called in forward) is compared on the same numbers.

When a unit's torch outputs change with torch's seed, the torch side tries again with its sampling
functions drawing from one numpy stream instead (`torch.randn`, `rand`, `randint`, `randperm`, their
`_like` forms, `Tensor.normal_` / `uniform_`). If the outputs then stop changing, all of the unit's
randomness went through those functions, and the MindSpore side gets the same stream behind its own
(`ops.randn`, `standard_normal`, `uniform`, `randint`, `mint.randn`, ...): each side starts the stream
afresh at every operation the judge sends, so a faithful translation draws the same numbers in the same
order and matches, and one that samples differently (another distribution, another shape, another order)
does not. Both sides compute a draw identically: float64 numpy samples cast to the requested dtype.

Runs in the sandboxed children only (each unit's process is fresh: nothing here outlives the unit).
"""
from __future__ import annotations

import functools
from contextlib import contextmanager

import numpy as np

SEED = 20240613
NOTE = ("random: the torch original samples (its outputs change with torch's seed), all through torch's sampling "
        "functions; both sides drew the same numbers from one stream, started afresh for every run, so what was "
        "compared is the computation around the draws (that MindSpore's sampler has torch's distribution is the "
        "KB's mapping, not this check)")
_S = {"rng": None, "on": False, "paused": 0, "draws": 0}


def enable() -> None:
    _S["on"] = True
    reset()


def disable() -> None:
    _S["on"] = False


def enabled() -> bool:
    return _S["on"]


def reset() -> None:
    """The stream from its start: every operation (a forward, a backward) draws the same numbers."""
    _S["rng"], _S["draws"] = np.random.default_rng(SEED), 0


def draws() -> int:
    return _S["draws"]


@contextmanager
def paused():
    """Building a model (its init) draws from the framework's own generator, not from the stream."""
    _S["paused"] += 1
    try:
        yield
    finally:
        _S["paused"] -= 1


def _active() -> bool:
    return _S["on"] and not _S["paused"]


def resetting(op):
    """A side's operation, with the stream started afresh before it when alignment is on."""
    @functools.wraps(op)
    def run(args, arrays):
        if _S["on"]:
            reset()
        return op(args, arrays)
    return run


# -- the draws, identical on both sides ----------------------------------------------------------
def _normal(shape) -> np.ndarray:
    _S["draws"] += 1
    return _S["rng"].standard_normal(shape)


def _uniform(shape, low=0.0, high=1.0) -> np.ndarray:
    _S["draws"] += 1
    return low + (high - low) * _S["rng"].random(shape)


def _integers(low, high, shape) -> np.ndarray:
    _S["draws"] += 1
    return _S["rng"].integers(int(low), int(high), size=shape)


def _permutation(n) -> np.ndarray:
    _S["draws"] += 1
    return _S["rng"].permutation(int(n))


def _sizes(size) -> tuple:
    """`f(2, 3)`, `f((2, 3))`, `f([2, 3])`, `f(torch.Size([2, 3]))` -> (2, 3)."""
    if len(size) == 1 and not isinstance(size[0], (int, np.integer)):
        size = tuple(size[0])
    return tuple(int(s) for s in size)


def _randint_args(args, kwargs) -> tuple:
    """(low, high, size) from randint(high, size) / randint(low, high, size) and keywords."""
    args = list(args)
    size = kwargs.pop("size", None)
    if size is None and args and not isinstance(args[-1], (int, np.integer)):
        size = args.pop()
    low = kwargs.pop("low", None)
    high = kwargs.pop("high", None)
    if len(args) == 2:
        low, high = args
    elif len(args) == 1:
        if high is None:
            high = args[0]
        else:
            low = args[0]
    return int(low or 0), int(high), tuple(int(s) for s in size)


# -- torch -----------------------------------------------------------------------------------------
def install_torch() -> None:
    import torch

    if getattr(torch, "_msagent_aligned", False):
        return
    torch._msagent_aligned = True
    real = {n: getattr(torch, n) for n in ("randn", "randn_like", "rand", "rand_like", "randint", "randperm")}
    real_normal_, real_uniform_ = torch.Tensor.normal_, torch.Tensor.uniform_

    def tensor(values, dtype, requires_grad=False):
        t = torch.from_numpy(np.asarray(values)).to(dtype)
        return t.requires_grad_(True) if requires_grad else t

    def randn(*size, dtype=None, requires_grad=False, **kw):
        if not _active():
            return real["randn"](*size, dtype=dtype, requires_grad=requires_grad, **kw)
        size = size or (kw["size"],)  # torch.randn(size=(2, 3))
        return tensor(_normal(_sizes(size)), dtype or torch.get_default_dtype(), requires_grad)

    def rand(*size, dtype=None, requires_grad=False, **kw):
        if not _active():
            return real["rand"](*size, dtype=dtype, requires_grad=requires_grad, **kw)
        size = size or (kw["size"],)
        return tensor(_uniform(_sizes(size)), dtype or torch.get_default_dtype(), requires_grad)

    def randn_like(input, dtype=None, **kw):
        if not _active():
            return real["randn_like"](input, dtype=dtype, **kw)
        return tensor(_normal(tuple(input.shape)), dtype or input.dtype)

    def rand_like(input, dtype=None, **kw):
        if not _active():
            return real["rand_like"](input, dtype=dtype, **kw)
        return tensor(_uniform(tuple(input.shape)), dtype or input.dtype)

    def randint(*args, dtype=None, **kw):
        if not _active():
            return real["randint"](*args, dtype=dtype, **kw) if dtype is not None else real["randint"](*args, **kw)
        kw = {k: v for k, v in kw.items() if k in ("low", "high", "size")}
        low, high, size = _randint_args(args, kw)
        return tensor(_integers(low, high, size), dtype or torch.int64)

    def randperm(n, dtype=None, **kw):
        if not _active():
            return real["randperm"](n, dtype=dtype or torch.int64, **kw)
        return tensor(_permutation(n), dtype or torch.int64)

    # in place as torch's own: autograd records the overwrite (zero gradient to what was there before)
    def normal_(self, mean=0.0, std=1.0, *, generator=None):
        if not _active():
            return real_normal_(self, mean, std, generator=generator)
        return self.copy_(tensor(_normal(tuple(self.shape)) * std + mean, self.dtype))

    def uniform_(self, from_=0.0, to=1.0, *, generator=None):
        if not _active():
            return real_uniform_(self, from_, to, generator=generator)
        return self.copy_(tensor(_uniform(tuple(self.shape), from_, to), self.dtype))

    for name, fn in (("randn", randn), ("rand", rand), ("randn_like", randn_like), ("rand_like", rand_like),
                     ("randint", randint), ("randperm", randperm)):
        setattr(torch, name, fn)
    torch.Tensor.normal_, torch.Tensor.uniform_ = normal_, uniform_


# -- MindSpore -------------------------------------------------------------------------------------
def install_ms() -> None:
    import mindspore as ms
    from mindspore import mint, ops

    if getattr(ms, "_msagent_aligned", False):
        return
    ms._msagent_aligned = True

    def tensor(values, dtype):
        return ms.Tensor(np.asarray(values)).astype(dtype)

    def value(x) -> float:
        return float(x.asnumpy()) if isinstance(x, ms.Tensor) else float(x)

    def randn(*size, dtype=None, **kw):
        return tensor(_normal(_sizes(size)), dtype or ms.float32)

    def rand(*size, dtype=None, **kw):
        return tensor(_uniform(_sizes(size)), dtype or ms.float32)

    def randn_like(input, *args, dtype=None, **kw):
        return tensor(_normal(tuple(input.shape)), dtype or input.dtype)

    def rand_like(input, *args, dtype=None, **kw):
        return tensor(_uniform(tuple(input.shape)), dtype or input.dtype)

    def standard_normal(shape, *args, **kw):
        return tensor(_normal(_sizes((shape,))), ms.float32)

    def uniform(shape, minval, maxval, *args, dtype=None, **kw):
        return tensor(_uniform(_sizes((shape,)), value(minval), value(maxval)), dtype or ms.float32)

    def ops_randint(low, high, size, *args, dtype=None, **kw):
        return tensor(_integers(low, high, _sizes((size,))), dtype or ms.int64)

    def mint_randint(*args, dtype=None, **kw):
        kw = {k: v for k, v in kw.items() if k in ("low", "high", "size")}
        low, high, size = _randint_args(args, kw)
        return tensor(_integers(low, high, size), dtype or ms.int64)

    def randperm(n, *args, dtype=None, **kw):
        return tensor(_permutation(n), dtype or ms.int64)

    def gated(real, fake):
        @functools.wraps(real)
        def call(*args, **kwargs):
            return fake(*args, **kwargs) if _active() else real(*args, **kwargs)
        return call

    for module, names in ((ops, {"randn": randn, "rand": rand, "randn_like": randn_like, "rand_like": rand_like,
                                 "standard_normal": standard_normal, "uniform": uniform, "randint": ops_randint,
                                 "randperm": randperm}),
                          (mint, {"randn": randn, "rand": rand, "randn_like": randn_like, "rand_like": rand_like,
                                  "randint": mint_randint, "randperm": randperm})):
        for name, fake in names.items():
            real = getattr(module, name, None)
            if real is not None:
                setattr(module, name, gated(real, fake))
