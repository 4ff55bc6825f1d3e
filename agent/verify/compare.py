"""Compare a torch output with a MindSpore output: structure, shapes, dtypes, then values.

Outputs are nested (tensors, tuples, lists, dicts, dataclasses, namedtuples, python scalars).
Tolerances per float width follow the definition of "verified" in the design notes.
"""
from __future__ import annotations

import dataclasses
import math

import sys

import numpy as np

# dtype -> (atol = rtol for the elementwise test, bound on the relative L2 error)
TOLERANCES = {"float32": (1e-4, 5e-4), "float64": (1e-4, 5e-4), "float16": (1e-2, 5e-3), "bfloat16": (1e-2, 5e-2)}


class Mismatch(Exception):
    def __init__(self, failure: str, path: str, reason: str):
        super().__init__(f"{path or 'output'}: {reason}")
        self.failure = failure  # "shape" or "value"
        self.path = path
        self.reason = reason
        self.comparison: "Comparison | None" = None


def to_numpy(x) -> tuple[np.ndarray, str] | None:
    """(array, framework dtype name) for a torch or MindSpore tensor; None for anything else."""
    torch = sys.modules.get("torch")
    ms = sys.modules.get("mindspore")
    if torch is not None and isinstance(x, torch.Tensor):
        name = str(x.dtype).replace("torch.", "")
        t = x.detach().cpu()
        if name == "bfloat16":
            t = t.float()
        return t.numpy(), name
    if ms is not None and isinstance(x, ms.Tensor):  # Parameters too (their class lives in `abc`)
        name = str(x.dtype).lower()
        name = {"bool_": "bool"}.get(name, name)
        if name == "bfloat16":
            import mindspore as ms

            x = x.astype(ms.float32)
        return x.asnumpy(), name
    return None


def _kind(dtype_name: str) -> str:
    if dtype_name.startswith(("float", "bfloat")):
        return "float"
    if dtype_name.startswith(("int", "uint")):
        return "int"
    if dtype_name.startswith("complex"):
        return "complex"
    return dtype_name


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def _children(x):
    """(kind, [(key, child)]) for containers; None for leaves."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return "dataclass", [(f.name, getattr(x, f.name)) for f in dataclasses.fields(x)]
    if _is_namedtuple(x):
        return "namedtuple", list(zip(x._fields, x))
    if isinstance(x, (tuple, list)):
        return "sequence", list(enumerate(x))
    if isinstance(x, dict):
        return "dict", list(x.items())
    return None


class Comparison:
    def __init__(self):
        self.outputs: list[dict] = []
        self.notes: list[str] = []

    @property
    def max_abs(self) -> float:
        return max((o["max_abs"] for o in self.outputs), default=0.0)

    @property
    def max_rel(self) -> float:
        return max((o["max_rel"] for o in self.outputs), default=0.0)

    @property
    def cosine(self) -> float | None:
        vals = [o["cosine"] for o in self.outputs if o["cosine"] is not None]
        return min(vals) if vals else None


def compare_outputs(pt, ms) -> Comparison:
    """Walk both outputs together; raises Mismatch at the first difference, else returns the stats."""
    result = Comparison()
    try:
        _walk(pt, ms, "", result)
    except Mismatch as exc:
        exc.comparison = result  # the statistics gathered so far still go into the report
        raise
    return result


def _walk(pt, ms, path: str, res: Comparison) -> None:
    pt_arr, ms_arr = to_numpy(pt), to_numpy(ms)
    if pt_arr is not None or ms_arr is not None:
        if pt_arr is None and isinstance(pt, (int, float, bool)):
            pt_arr = (np.asarray(pt), type(pt).__name__)
        if ms_arr is None and isinstance(ms, (int, float, bool, np.number)):
            ms_arr = (np.asarray(ms), type(ms).__name__)
            res.notes.append(f"{path or 'output'}: MindSpore gives a python {type(ms).__name__}, torch a tensor")
        if pt_arr is None or ms_arr is None:
            raise Mismatch("shape", path, f"torch gives {type(pt).__name__}, MindSpore gives {type(ms).__name__}")
        _compare_arrays(pt_arr, ms_arr, path, res)
        return
    pk, mk = _children(pt), _children(ms)
    if pk is None or mk is None:
        if pk is not None or mk is not None:
            raise Mismatch("shape", path, f"torch gives {type(pt).__name__}, MindSpore gives {type(ms).__name__}")
        _compare_scalars(pt, ms, path, res)
        return
    (pkind, pitems), (mkind, mitems) = pk, mk
    if pkind == "dict" or mkind == "dict":
        if pkind != mkind:
            raise Mismatch("shape", path, f"torch gives {type(pt).__name__}, MindSpore gives {type(ms).__name__}")
        if set(pt) != set(ms):
            raise Mismatch("shape", path, f"dict keys differ: torch {sorted(map(str, pt))}, MindSpore {sorted(map(str, ms))}")
        for k in pt:
            _walk(pt[k], ms[k], f"{path}[{k!r}]", res)
        return
    if len(pitems) != len(mitems):
        raise Mismatch("shape", path, f"torch gives {len(pitems)} items, MindSpore {len(mitems)}")
    if type(pt) is not type(ms):
        res.notes.append(f"{path or 'output'}: torch {type(pt).__name__}, MindSpore {type(ms).__name__}")
    for (k, pc), (_, mc) in zip(pitems, mitems):
        _walk(pc, mc, f"{path}.{k}" if pkind in ("dataclass", "namedtuple") else f"{path}[{k}]", res)


def _compare_scalars(pt, ms, path: str, res: Comparison) -> None:
    if isinstance(pt, float) and isinstance(ms, (int, float)):
        if not (math.isclose(pt, ms, rel_tol=1e-4, abs_tol=1e-4) or (math.isnan(pt) and math.isnan(ms))):
            raise Mismatch("value", path, f"torch {pt!r}, MindSpore {ms!r}")
        return
    if pt != ms:
        raise Mismatch("value", path, f"torch {pt!r}, MindSpore {ms!r}")


def _compare_arrays(pt_arr, ms_arr, path: str, res: Comparison) -> None:
    (a, adt), (b, bdt) = pt_arr, ms_arr
    where = path or "output"
    if a.shape != b.shape:
        raise Mismatch("shape", path, f"shape torch {list(a.shape)}, MindSpore {list(b.shape)}")
    if _kind(adt) != _kind(bdt):
        raise Mismatch("value", path, f"dtype torch {adt}, MindSpore {bdt}")
    if _kind(adt) == "float" and adt != bdt and not {adt, bdt} <= {"float", "float32", "float64"}:
        raise Mismatch("value", path, f"float width differs: torch {adt}, MindSpore {bdt}")
    if adt != bdt:
        res.notes.append(f"{where}: dtype torch {adt}, MindSpore {bdt} (treated as equivalent)")
    stats = {"path": where, "shape": list(a.shape), "dtype": adt, "max_abs": 0.0, "max_rel": 0.0, "cosine": None}
    res.outputs.append(stats)
    if _kind(adt) != "float":
        if not np.array_equal(a, b):
            bad = int(np.count_nonzero(a != b))
            raise Mismatch("value", path, f"{bad} of {a.size} {adt} elements differ")
        stats["cosine"] = 1.0
        return
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    nan_a, nan_b = np.isnan(a64), np.isnan(b64)
    if not np.array_equal(nan_a, nan_b):
        raise Mismatch("value", path, "NaN positions differ")
    inf_a, inf_b = np.isinf(a64), np.isinf(b64)
    if not np.array_equal(inf_a, inf_b) or not np.array_equal(a64[inf_a], b64[inf_b]):
        raise Mismatch("value", path, "Inf positions differ")
    finite = ~(nan_a | inf_a)
    a64, b64 = a64[finite], b64[finite]
    diff = np.abs(a64 - b64)
    stats["max_abs"] = float(diff.max()) if diff.size else 0.0
    stats["max_rel"] = float((diff / np.maximum(np.abs(a64), 1e-12)).max()) if diff.size else 0.0
    na, nb = np.linalg.norm(a64), np.linalg.norm(b64)
    stats["cosine"] = float(a64 @ b64 / (na * nb)) if na > 0 and nb > 0 else (1.0 if na == nb else 0.0)
    tol, l2_bound = TOLERANCES.get(adt, TOLERANCES["float32"])
    over = diff > tol + tol * np.abs(a64)
    if over.any():
        raise Mismatch(
            "value", path,
            f"{int(over.sum())} of {a.size} elements beyond {tol:g}+{tol:g}*|torch|; max abs {stats['max_abs']:.3g}",
        )
    rel_l2 = float(np.linalg.norm(a64 - b64) / na) if na > 0 else float(np.linalg.norm(b64))
    if rel_l2 > l2_bound:
        raise Mismatch("value", path, f"relative L2 error {rel_l2:.3g} > {l2_bound:g}")
