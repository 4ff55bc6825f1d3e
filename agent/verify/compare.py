"""Compare a torch output with a MindSpore output: structure, shapes, dtypes, then values.

Outputs are nested (tensors, tuples, lists, dicts, dataclasses, namedtuples, python scalars).
Tolerances per float width follow the definition of "verified" in the design notes.
"""
from __future__ import annotations

import math

import numpy as np

from agent.verify.tree import encode

# dtype -> (atol = rtol for the elementwise test, bound on the relative L2 error)
TOLERANCES = {"float32": (1e-4, 5e-4), "float64": (1e-4, 5e-4), "float16": (1e-2, 5e-3), "bfloat16": (1e-2, 5e-2)}


class Mismatch(Exception):
    def __init__(self, failure: str, path: str, reason: str):
        super().__init__(f"{path or 'output'}: {reason}")
        self.failure = failure  # "shape" or "value"
        self.path = path
        self.reason = reason
        self.comparison: "Comparison | None" = None


def _kind(dtype_name: str) -> str:
    if dtype_name.startswith(("float", "bfloat")):
        return "float"
    if dtype_name.startswith(("int", "uint")):
        return "int"
    if dtype_name.startswith("complex"):
        return "complex"
    return dtype_name


class Comparison:
    def __init__(self, slack: dict | None = None, measure: bool = False):
        self.outputs: list[dict] = []
        self.notes: list[str] = []
        self.values = 0  # tensors and scalars other than None compared: 0 means nothing was checked
        # per tensor path: (absolute, relative L2) allowance added to the tolerance (verify/rounding.py)
        self.slack = slack or {}
        self.measure = measure  # float differences measured into `outputs`, never raised

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
    """Compare two live outputs (both frameworks loaded in one trusted process, as the KB probes do)."""
    pt_arrays, ms_arrays = [], []
    return compare_trees(encode(pt, pt_arrays), pt_arrays, encode(ms, ms_arrays), ms_arrays)


def compare_trees(pt: dict, pt_arrays: list, ms: dict, ms_arrays: list, *, slack: dict | None = None,
                  measure: bool = False) -> Comparison:
    """Walk two encoded outputs (verify.tree) together; raises Mismatch at the first difference. SLACK widens
    the tolerance per tensor path; MEASURE only records float differences (structure must still agree)."""
    result = Comparison(slack, measure)
    try:
        _walk(pt, ms, "", result, pt_arrays, ms_arrays)
    except Mismatch as exc:
        exc.comparison = result  # the statistics gathered so far still go into the report
        raise
    return result


def _leaf(node: dict, arrays: list):
    """(array, dtype name, is a python scalar) for a tensor or numeric scalar node, else None."""
    if node["t"] == "tensor":
        return arrays[node["i"]], node["dtype"], False
    if node["t"] == "scalar" and node["py"] in ("int", "float", "bool"):
        return np.asarray(node["v"]), node["py"], True
    return None


def describe(node: dict) -> str:
    """What an output node is, in a word (`Tensor`, `NoneType`, `partial`, `tuple`)."""
    return {"tensor": "Tensor", "scalar": node.get("py", "scalar"), "seq": node.get("cls") or node.get("kind", ""),
            "dict": "dict", "other": node.get("type", "object").rsplit(".", 1)[-1]}.get(node["t"], node["t"])


def nothing_checked(first: tuple, inputs: list[dict], checked: bool) -> str | None:
    """Why trials whose first torch output was FIRST (node, arrays) checked nothing, or None: outputs of only
    None or opaque objects (`functools.partial`), or only plain values the unit was given (`if prob == 1:
    return layers` took the branch that computes nothing)."""
    node, arrays = first
    if not checked:
        return f"its outputs hold no tensor or value to compare ({describe(node)}): nothing was checked"
    given = [d["value"] for d in inputs if "value" in d]
    values, stack = [], [node]
    while stack and not arrays and given:
        n = stack.pop()
        if n["t"] in ("seq", "dict"):
            stack += n["items"]
        elif n["t"] == "scalar" and n.get("v") is not None:
            values.append(n["v"])
    if values and all(any(v == g and type(v) is type(g) for g in given) for v in values):
        return (f"it returned only values it was given ({', '.join(repr(v) for v in values[:3])}): nothing it "
                "computes was checked")
    return None


def _walk(pt: dict, ms: dict, path: str, res: Comparison, pa: list, ma: list) -> None:
    if pt["t"] == "tensor" or ms["t"] == "tensor":
        a, b = _leaf(pt, pa), _leaf(ms, ma)
        if a is None or b is None:
            raise Mismatch("shape", path, f"torch gives {describe(pt)}, MindSpore gives {describe(ms)}")
        if b[2] and not a[2]:
            res.notes.append(f"{path or 'output'}: MindSpore gives a python {b[1]}, torch a tensor")
        _compare_arrays((a[0], a[1]), (b[0], b[1]), path, res)
        return
    if pt["t"] != ms["t"] or pt["t"] == "other":
        if pt["t"] == ms["t"] == "other" and pt["type"] == ms["type"]:
            return
        raise Mismatch("shape", path, f"torch gives {describe(pt)}, MindSpore gives {describe(ms)}")
    if pt["t"] in ("scalar", "dtype"):
        _compare_scalars(pt["v"], ms["v"], path, res)
        return
    if pt["t"] == "dict":
        if set(pt["keys"]) != set(ms["keys"]):
            raise Mismatch("shape", path, f"dict keys differ: torch {sorted(pt['keys'])}, MindSpore {sorted(ms['keys'])}")
        ms_items = dict(zip(ms["keys"], ms["items"]))
        for k, child in zip(pt["keys"], pt["items"]):
            _walk(child, ms_items[k], f"{path}[{k!r}]", res, pa, ma)
        return
    if len(pt["items"]) != len(ms["items"]):
        raise Mismatch("shape", path, f"torch gives {len(pt['items'])} items, MindSpore {len(ms['items'])}")
    if pt.get("cls") != ms.get("cls"):
        res.notes.append(f"{path or 'output'}: torch {pt.get('cls')}, MindSpore {ms.get('cls')}")
    named = pt["kind"] in ("dataclass", "namedtuple")
    for i, (pc, mc) in enumerate(zip(pt["items"], ms["items"])):
        _walk(pc, mc, f"{path}.{pt['keys'][i]}" if named else f"{path}[{i}]", res, pa, ma)


def _compare_scalars(pt, ms, path: str, res: Comparison) -> None:
    res.values += pt is not None
    if isinstance(pt, float) and isinstance(ms, (int, float)):
        if not (math.isclose(pt, ms, rel_tol=1e-4, abs_tol=1e-4) or (math.isnan(pt) and math.isnan(ms))):
            raise Mismatch("value", path, f"torch {pt!r}, MindSpore {ms!r}")
        return
    if pt != ms:
        raise Mismatch("value", path, f"torch {pt!r}, MindSpore {ms!r}")


def _compare_arrays(pt_arr, ms_arr, path: str, res: Comparison) -> None:
    (a, adt), (b, bdt) = pt_arr, ms_arr
    res.values += 1
    if _kind(adt) == _kind(bdt) == "complex" and a.shape == b.shape:  # real and imaginary parts as floats
        width = {"complex64": "float32", "complex128": "float64"}
        a, b = np.stack([a.real, a.imag], -1), np.stack([b.real, b.imag], -1)
        adt, bdt = width.get(adt, "float32"), width.get(bdt, "float32")
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
    rel_l2 = float(np.linalg.norm(a64 - b64) / na) if na > 0 else float(np.linalg.norm(b64))
    if res.measure:
        stats.update(rel_l2=rel_l2, size=float(np.abs(a64).max()) if a64.size else 0.0,
                     ratio=float((diff / (tol + tol * np.abs(a64))).max()) if diff.size else 0.0)
        return
    extra_abs, extra_l2 = res.slack.get(where, (0.0, 0.0))
    over = diff > tol + tol * np.abs(a64) + extra_abs
    if over.any():
        widened = f"+{extra_abs:.3g}" if extra_abs else ""
        raise Mismatch(
            "value", path,
            f"{int(over.sum())} of {a.size} elements beyond {tol:g}+{tol:g}*|torch|{widened}; "
            f"max abs {stats['max_abs']:.3g}",
        )
    if rel_l2 > l2_bound + extra_l2:
        raise Mismatch("value", path, f"relative L2 error {rel_l2:.3g} > {l2_bound + extra_l2:.3g}")


def finite(x):
    """X, or None for a NaN or infinite figure (the report's JSON holds no such number)."""
    return x if x is None or math.isfinite(x) else None
