"""Torch run with MindSpore's kernel rounding: how far float32 rounding of MindSpore's size moves a unit.

Torch's float32 error against its float64 run measures rounding at torch's precision. MindSpore's
float32 kernels for some functions are less precise on a device (on CPU `exp` misses float64 by up to
4e-6 of the result and `tanh` by 1e-4, where torch's kernels stay near 1e-7): through a deep network
such a kernel alone can move MindSpore's result past the tolerance while torch's own error stays small,
and the comparison would call rounding a wrong value. The KB records each device's measured kernel
errors (`mapping_kb/rounding/<device>.yaml`, written by `tools/measure_kernel_rounding.py`). Here, on
the torch side, every call of such a function gets an error of that size added to its float32 result
(half a sign shared by the call's elements, half independent per element: kernel errors are partly
systematic), so the judge can measure what rounding of MindSpore's size does to this unit. Runs on
the reference side; the candidate never sees it.
"""
from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def emulating(errors: dict[str, float] | None, seed: int):
    """Within this block every torch function (torch.*, Tensor methods, functional) named in ERRORS has its
    float result y moved by up to ERRORS[name] * max(|y|, 1); a no-op block without ERRORS."""
    if not errors:
        yield
        return
    import torch
    from torch.overrides import TorchFunctionMode

    gen = torch.Generator().manual_seed(int(seed))

    class _Rounding(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            eps = errors.get(getattr(func, "__name__", "").strip("_"))
            if eps and isinstance(out, torch.Tensor) and out.is_floating_point() and out.numel():
                with torch.no_grad():
                    each = torch.rand(out.shape, generator=gen, dtype=out.dtype) * 2 - 1
                    sign = 1.0 if torch.rand((), generator=gen).item() < 0.5 else -1.0
                    shift = (each + sign) * (0.5 * eps) * out.detach().abs().clamp(min=1.0)
                out = out + shift  # a constant for autograd: gradients flow as through the kernel
            return out

    with _Rounding():
        yield
