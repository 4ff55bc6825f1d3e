"""Convert a PyTorch checkpoint into a MindSpore one through a migration's verified weight maps.

The report (OUT/msagent-report.json) keeps, per verified unit, {torch_name: {"ms": name,
"transform": id|null}}: the same plan the verifier used to copy weights, so a converted checkpoint
loads into the migrated cell exactly as the verifier's copy did. Reading a .pt/.pth file needs
torch (`torch.load(..., weights_only=True)`: tensors only, never arbitrary pickles); writing a .ckpt
needs MindSpore. Both are imported here, in the CLI process: this is a framework operation on the
user's own files, not the execution of migrated code.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from agent.verify.weights import TRANSFORMS

_WRAPPER_PREFIXES = ("module.", "_orig_mod.", "model.")


class ConvertError(Exception):
    """The checkpoint cannot be converted with the report's weight maps; the message says why."""


def load_torch_state(path: Path) -> dict[str, np.ndarray]:
    """A state dict from .pt/.pth (tensors only) or .safetensors, as float32/int numpy arrays."""
    if path.suffix == ".safetensors":
        from safetensors.numpy import load_file

        return dict(load_file(str(path)))
    import torch

    obj = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]  # the common {"state_dict": ..., "epoch": ...} wrapper
    if not isinstance(obj, dict):
        raise ConvertError(f"{path}: holds a {type(obj).__name__}, not a state dict")
    out = {}
    for k, v in obj.items():
        if isinstance(v, torch.Tensor):
            t = v.detach().cpu()
            out[k] = (t.float() if t.dtype == torch.bfloat16 else t).numpy().copy()
    return out


def _strip_wrappers(state: dict, keys: set[str]) -> dict:
    """`module.fc.weight` (DataParallel) -> `fc.weight` when only the stripped names are mapped."""
    for prefix in _WRAPPER_PREFIXES:
        if state and all(k.startswith(prefix) for k in state) and not set(state) & keys:
            return {k[len(prefix):]: v for k, v in state.items()}
    return state


def pick_unit(report: dict, state_keys: set[str], unit: str | None = None) -> tuple[str, dict]:
    """(unit name, weight map): the named unit, else the unit whose map covers every checkpoint key
    (the smallest such map: the checkpoint's own model, not a model containing it)."""
    units = [u for u in report.get("units", []) if u.get("weight_map")]
    if unit is not None:
        found = [u for u in units if unit in (u["name"], f"{u['file']}::{u['name']}")]
        if not found:
            names = ", ".join(u["name"] for u in units) or "none"
            raise ConvertError(f"no unit {unit!r} with a weight map in the report (units with maps: {names})")
        return found[0]["name"], found[0]["weight_map"]
    covering = [u for u in units if state_keys <= set(u["weight_map"])]
    if covering:
        best = min(covering, key=lambda u: len(u["weight_map"]))
        return best["name"], best["weight_map"]
    if not units:
        raise ConvertError("the report has no verified unit with a weight map: run msagent migrate first")
    near = max(units, key=lambda u: len(state_keys & set(u["weight_map"])))
    missing = sorted(state_keys - set(near["weight_map"]))
    raise ConvertError(f"no unit's weight map covers the checkpoint; closest is {near['name']}, which lacks "
                       f"{len(missing)} key(s): {missing[:8]}")


def convert_state(state: dict[str, np.ndarray], weight_map: dict[str, dict]) -> dict[str, np.ndarray]:
    """MindSpore name -> array, renamed and re-laid out as the map says; torch-only tensors
    (ms: null, e.g. num_batches_tracked, tied copies) are left out."""
    out: dict[str, np.ndarray] = {}
    missing = [k for k, e in weight_map.items() if e.get("ms") and k not in state]
    if missing:
        raise ConvertError(f"the checkpoint lacks {len(missing)} tensor(s) the model needs: {missing[:8]}")
    for name, arr in state.items():
        entry = weight_map.get(name)
        if entry is None:
            raise ConvertError(f"checkpoint tensor {name!r} is not in the weight map")
        if not entry.get("ms"):
            continue
        t = entry.get("transform")
        if t is not None and t not in TRANSFORMS:
            raise ConvertError(f"{name}: unknown layout transform {t!r}")
        out[entry["ms"]] = np.ascontiguousarray(TRANSFORMS[t](arr) if t else arr)
    return out


def write_checkpoint(arrays: dict[str, np.ndarray], path: Path) -> None:
    """A MindSpore .ckpt (any suffix but .safetensors) or a safetensors file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        from safetensors.numpy import save_file

        save_file(arrays, str(path))
        return
    import mindspore as ms

    ms.save_checkpoint([{"name": n, "data": ms.Tensor(a)} for n, a in arrays.items()], str(path))


def convert_checkpoint(ckpt: Path, report: Path, out: Path, unit: str | None = None) -> dict:
    """Convert `ckpt` with the weight maps in `report`; write `out`. Returns a summary dict."""
    data = json.loads(Path(report).read_text())
    state = load_torch_state(Path(ckpt))
    all_keys = {k for u in data.get("units", []) for k in (u.get("weight_map") or {})}
    state = _strip_wrappers(state, all_keys)
    name, wmap = pick_unit(data, set(state), unit)
    arrays = convert_state(state, wmap)
    write_checkpoint(arrays, Path(out))
    transformed = sum(1 for k in state if (wmap.get(k) or {}).get("transform"))
    return {"unit": name, "tensors_in": len(state), "tensors_out": len(arrays), "transformed": transformed,
            "dropped": sorted(k for k in state if not (wmap.get(k) or {}).get("ms")), "output": str(out)}
