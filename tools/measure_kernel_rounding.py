"""Measure MindSpore's float32 kernel error per function on a device and write mapping_kb/rounding/<device>.yaml.

    .venv/bin/python tools/measure_kernel_rounding.py [--device cpu]

Each function runs on float32 inputs and on the same inputs widened to float64 (the device's float64
kernel, or numpy where MindSpore has none); the error is the largest |float32 - float64| / max(|y|, 1).
Functions whose error stays under FLOOR (about two units in the last place, what torch's own kernels
reach) are left out. The judge's torch side adds errors of these sizes to the same torch functions to
measure how far MindSpore-sized rounding moves a unit (agent/verify/kernel_rounding.py).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
FLOOR = 2.5e-7

_rs = np.random.RandomState(0)
_WIDE = np.concatenate([_rs.randn(100000) * 4, np.linspace(-12, 12, 100001)]).astype(np.float32)
_POSITIVE = np.abs(_WIDE) + np.float32(1e-3)
_OPEN_UNIT = (np.tanh(_WIDE) * 0.999).astype(np.float32)
_ROWS = (_rs.randn(2000, 64) * 4).astype(np.float32)

# torch function name (as torch.*, Tensor.* and functional spell it) -> (MindSpore callable, inputs)
FUNCTIONS = {
    "exp": ("ops.exp", _WIDE), "exp2": ("ops.exp2", _WIDE), "expm1": ("ops.expm1", _WIDE),
    "log": ("ops.log", _POSITIVE), "log2": ("ops.log2", _POSITIVE), "log10": ("ops.log10", _POSITIVE),
    "log1p": ("ops.log1p", _POSITIVE), "sigmoid": ("ops.sigmoid", _WIDE), "logsigmoid": ("ops.logsigmoid", _WIDE),
    "tanh": ("ops.tanh", _WIDE), "silu": ("ops.silu", _WIDE), "gelu": ("ops.gelu", _WIDE),
    "elu": ("ops.elu", _WIDE), "selu": ("ops.selu", _WIDE), "erf": ("ops.erf", _WIDE), "erfc": ("ops.erfc", _WIDE),
    "erfinv": ("ops.erfinv", _OPEN_UNIT), "sin": ("ops.sin", _WIDE), "cos": ("ops.cos", _WIDE),
    "atan": ("ops.atan", _WIDE), "sqrt": ("ops.sqrt", _POSITIVE), "rsqrt": ("ops.rsqrt", _POSITIVE),
    "reciprocal": ("ops.reciprocal", _POSITIVE), "softsign": ("ops.softsign", _WIDE),
    "softmax": ("ops.softmax", _ROWS), "log_softmax": ("ops.log_softmax", _ROWS),
    "softplus": ("ops.softplus", _WIDE), "mish": ("ops.mish", _WIDE),
}


def _softplus(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


# float64 references in numpy for functions whose MindSpore kernel has no float64 build on the device
NUMPY_REFERENCE = {"softplus": _softplus, "mish": lambda x: x * np.tanh(_softplus(x))}


def kernel_error(fn, x: np.ndarray, ms, reference=None) -> float | None:
    """Largest float32 error of FN on X against its float64 run (or REFERENCE, numpy in float64, where the
    device has no float64 kernel), as a fraction of max(|y|, 1); None when there is nothing to measure
    against (no float64 kernel: the two runs agree bit for bit, or float64 is refused; no reference)."""
    narrow = fn(ms.Tensor(x)).asnumpy().astype(np.float64)
    try:
        wide = fn(ms.Tensor(x.astype(np.float64))).asnumpy()
    except Exception:  # noqa: BLE001 - no float64 kernel
        wide = None
    if wide is None or wide.dtype != np.float64 or np.array_equal(wide, narrow):
        if reference is None:
            return None
        wide = reference(x.astype(np.float64))
    ok = np.isfinite(wide) & np.isfinite(narrow)
    return float((np.abs(narrow - wide)[ok] / np.maximum(np.abs(wide[ok]), 1.0)).max())


def measure(device: str) -> dict[str, float]:
    import mindspore as ms
    from mindspore import ops  # noqa: F401 - named by FUNCTIONS

    sys.path.insert(0, str(ROOT))
    from agent.verify.devices import ms_target

    ms.set_device(ms_target(device))
    found = {}
    for name, (path, x) in FUNCTIONS.items():
        fn = eval(path, {"ops": ops})  # noqa: S307 - names from the table above
        if name in ("softmax", "log_softmax"):
            fn = (lambda f: lambda t: f(t, -1))(fn)
        error = kernel_error(fn, x, ms, NUMPY_REFERENCE.get(name))
        if error is not None and error > FLOOR:
            found[name] = float(f"{error:.2g}")
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    device = ap.parse_args().device
    import mindspore as ms

    errors = measure(device)
    path = ROOT / "mapping_kb" / "rounding" / f"{device}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    head = (f"# MindSpore {ms.__version__} float32 kernel error on {device}: the largest |float32 - float64| / max(|y|, 1)\n"
            f"# per torch function name, where over {FLOOR:g}. Written by tools/measure_kernel_rounding.py.\n")
    path.write_text(head + yaml.safe_dump({"mindspore": ms.__version__, "errors": errors}, sort_keys=True))
    print(path, errors)


if __name__ == "__main__":
    main()
