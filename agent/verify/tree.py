"""Outputs as data: a nested output (tensors, tuples, lists, dicts, dataclasses, namedtuples, python
scalars) becomes a JSON node tree whose tensor leaves index a list of numpy arrays.

Each side encodes its own outputs (`encode`, inside the sandbox); the trusted process compares
the trees (`verify.compare`). Nodes:

    {"t": "tensor", "i": index, "dtype": "float32"}      bfloat16 travels as float32, named bfloat16
    {"t": "scalar", "v": value, "py": "int"}               None, bool, int, float, str
    {"t": "seq", "kind": "tuple|list|namedtuple|dataclass", "cls": name, "keys": [...] | null, "items": [...]}
    {"t": "dict", "keys": [str, ...], "items": [...]}
    {"t": "dtype", "v": "float16"}                         a torch or MindSpore dtype, by its lower-case name
    {"t": "other", "type": "module.Class"}
"""
from __future__ import annotations

import dataclasses
import sys

import numpy as np

MAX_DEPTH = 64
SCALARS = (type(None), bool, int, float, str)


def tensor_array(x) -> tuple[np.ndarray, str] | None:
    """(array, framework dtype name) for a torch or MindSpore tensor or a numpy array; None otherwise."""
    torch = sys.modules.get("torch")
    ms = sys.modules.get("mindspore")
    if torch is not None and isinstance(x, torch.Tensor):
        name = str(x.dtype).replace("torch.", "")
        t = x.detach().cpu()
        if name == "bfloat16":
            t = t.float()
        return t.resolve_conj().resolve_neg().numpy().copy(), name
    if ms is not None and isinstance(x, ms.Tensor):  # Parameters too
        name = {"bool_": "bool"}.get(str(x.dtype).lower(), str(x.dtype).lower())
        if name == "bfloat16":
            x = x.astype(ms.float32)
        return x.asnumpy().copy(), name
    if isinstance(x, np.ndarray) and x.dtype.kind in "biuf":
        return np.array(x, order="C", copy=True), str(x.dtype)
    return None


def tensor_leaves(out, tensor_type) -> list:
    """The tensors of a nested output (dicts, lists, tuples), for a loss over all of them."""
    leaves, stack = [], [out]
    while stack:
        x = stack.pop()
        if isinstance(x, tensor_type):
            leaves.append(x)
        elif isinstance(x, dict):
            stack += list(x.values())
        elif isinstance(x, (list, tuple)):
            stack += list(x)
    return leaves


def encode(x, arrays: list, depth: int = 0) -> dict:
    if depth > MAX_DEPTH:
        raise ValueError(f"output nested deeper than {MAX_DEPTH} levels")
    found = tensor_array(x)
    if found is not None:
        arrays.append(found[0])
        return {"t": "tensor", "i": len(arrays) - 1, "dtype": found[1]}
    if isinstance(x, SCALARS):
        v = x if not isinstance(x, str) else x[:1000]
        return {"t": "scalar", "v": v, "py": type(x).__name__}
    if isinstance(x, np.generic) and x.dtype.kind in "biuf":
        return {"t": "scalar", "v": x.item(), "py": type(x.item()).__name__}
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        keys = [f.name for f in dataclasses.fields(x)]
        return {"t": "seq", "kind": "dataclass", "cls": type(x).__name__, "keys": keys,
                "items": [encode(getattr(x, k), arrays, depth + 1) for k in keys]}
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return {"t": "seq", "kind": "namedtuple", "cls": type(x).__name__, "keys": list(x._fields),
                "items": [encode(v, arrays, depth + 1) for v in x]}
    if isinstance(x, (tuple, list)):
        kind = "tuple" if isinstance(x, tuple) else "list"
        return {"t": "seq", "kind": kind, "cls": type(x).__name__, "keys": None,
                "items": [encode(v, arrays, depth + 1) for v in x]}
    if isinstance(x, dict):
        return {"t": "dict", "keys": [str(k) for k in x], "items": [encode(v, arrays, depth + 1) for v in x.values()]}
    name = dtype_name(x)
    if name is not None:
        return {"t": "dtype", "v": name}
    if _is_model(x):  # a torch Module and a MindSpore Cell are the same kind of thing, with no value
        return {"t": "other", "type": "model"}
    return {"t": "other", "type": f"{type(x).__module__}.{type(x).__qualname__}"}


def _is_model(x) -> bool:
    torch, ms = sys.modules.get("torch"), sys.modules.get("mindspore")
    return (torch is not None and isinstance(x, torch.nn.Module)) or (ms is not None and isinstance(x, ms.nn.Cell))


def dtype_name(x) -> str | None:
    """`float16` for torch.float16 and mindspore.float16 (`bool` for mindspore.bool_); None for anything else."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.dtype):
        return str(x).replace("torch.", "")
    ms = sys.modules.get("mindspore")
    if ms is not None and isinstance(x, ms.dtype.Type) and not isinstance(x, type):
        return {"bool_": "bool"}.get(str(x).lower(), str(x).lower())
    return None


def validate(node, n_arrays: int, depth: int = 0) -> None:
    """Raise ValueError unless `node` is a well-formed tree over `n_arrays` arrays (the trusted side
    checks what a sandbox sent before comparing it)."""
    if depth > MAX_DEPTH or not isinstance(node, dict):
        raise ValueError("malformed output tree")
    t = node.get("t")
    if t == "tensor":
        if not isinstance(node.get("i"), int) or not 0 <= node["i"] < n_arrays or not isinstance(node.get("dtype"), str):
            raise ValueError("malformed tensor leaf")
    elif t == "scalar":
        if not isinstance(node.get("v"), SCALARS):
            raise ValueError("malformed scalar leaf")
    elif t == "dtype":
        if not isinstance(node.get("v"), str) or len(node["v"]) > 32:
            raise ValueError("malformed dtype leaf")
    elif t in ("seq", "dict"):
        items = node.get("items")
        keys = node.get("keys")
        if not isinstance(items, list) or (keys is not None and (not isinstance(keys, list) or len(keys) != len(items))):
            raise ValueError("malformed container")
        if t == "dict" and keys is None:
            raise ValueError("malformed dict")
        for child in items:
            validate(child, n_arrays, depth + 1)
    elif t != "other":
        raise ValueError(f"unknown node type {t!r}")
