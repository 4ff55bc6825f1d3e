"""Copy a torch module's parameters and buffers into the translated MindSpore cell.

For each torch submodule that owns tensors, the KB entry of its class says how local names map
(`param_map`, null = not carried) and which layout transform a weight needs (`weight_transforms`);
classes the KB does not know (the user's own modules) map by identity. The copy is strict: every
torch tensor lands in exactly one MindSpore tensor and every MindSpore parameter is filled, else
`WeightMapError` names the offenders.
"""
from __future__ import annotations

import numpy as np

# Layout transform id -> torch array to MindSpore array. Ids are referenced from KB entries.
TRANSFORMS = {
    "unsqueeze2": lambda a: a[:, :, None, ...],  # legacy Conv1d keeps its weight as (out, in, 1, k)
    "transpose": lambda a: a.T,
}


class WeightMapError(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def perturb_constants(module, seed: int) -> list[str]:
    """Add noise to constant floating tensors (BatchNorm/LayerNorm weight=1, bias=0, running stats)
    so that a swapped or dropped mapping shows up in the outputs. Returns the names perturbed."""
    import torch

    gen = torch.Generator().manual_seed(10_000 + seed)
    touched = []
    with torch.no_grad():
        for path, mod in module.named_modules():
            local = list(mod._parameters.items()) + [
                (n, b) for n, b in mod._buffers.items() if n not in mod._non_persistent_buffers_set
            ]
            for lname, t in local:
                if t is None or not t.is_floating_point() or t.numel() == 0:
                    continue
                flat = t.reshape(-1)
                if not bool((flat == flat[0]).all()) or (t.numel() == 1 and float(flat[0]) not in (0.0, 1.0)):
                    continue
                noise = 0.1 * torch.randn(t.shape, generator=gen).to(t.dtype)
                if "var" in lname:
                    t.copy_((t + noise).abs() + 1e-2)  # variances stay positive
                else:
                    t.add_(noise)
                touched.append(f"{path}.{lname}" if path else lname)
    return touched


def _class_names(cls) -> list[str]:
    names = [f"{cls.__module__}.{cls.__qualname__}"]
    if cls.__module__.startswith("torch.nn"):
        names.insert(0, f"torch.nn.{cls.__name__}")
    return names


def _target_for(kb, torch_cls, ms_cell, device):
    """The KB target that produced `ms_cell` (matched by class name and namespace), else the device's."""
    if kb is None:
        return None
    entry = next((kb.get(n) for n in _class_names(torch_cls) if kb.get(n) is not None), None)
    if entry is None:
        return None
    if ms_cell is not None:
        ms_cls = type(ms_cell)
        in_mint = ".mint" in ms_cls.__module__
        for t in entry.targets:
            if t.api.rsplit(".", 1)[-1] == ms_cls.__name__ and (t.namespace == "mint") == in_mint:
                return t
    return kb.target_for(entry, device)


def _ancestor_rename(targets: dict, path: str, lname: str) -> str | None:
    """The nearest enclosing layer whose param_map names this tensor by a dotted path, mapped."""
    parts = path.split(".") if path else []
    for i in range(len(parts) - 1, -1, -1):
        anc = ".".join(parts[:i])
        target = targets.get(anc)
        rel = ".".join([*parts[i:], lname])
        if target is not None and rel in target.param_map and target.param_map[rel]:
            return f"{anc}.{target.param_map[rel]}" if anc else target.param_map[rel]
    return None


def _ms_tensors(cell) -> tuple[dict, dict]:
    params = {name: p for name, p in cell.parameters_and_names()}
    buffers = {name: b for name, b in cell.named_buffers()} if hasattr(cell, "named_buffers") else {}
    return params, buffers


def plan_weight_map(torch_module, ms_cell, kb=None, device: str = "cpu") -> dict[str, dict]:
    """{torch_name: {"ms": ms_name | None, "transform": id | None}}; raises WeightMapError."""
    ms_cells = dict(ms_cell.cells_and_names())
    params, buffers = _ms_tensors(ms_cell)
    plan: dict[str, dict] = {}
    problems: list[str] = []
    seen: dict[int, str] = {}
    owners: dict[str, list[str]] = {}
    targets = {path: _target_for(kb, type(mod), ms_cells.get(path), device)
               for path, mod in torch_module.named_modules()}
    for path, mod in torch_module.named_modules():
        local = [(n, t, "param") for n, t in mod._parameters.items() if t is not None]
        local += [(n, t, "buffer") for n, t in mod._buffers.items() if t is not None]
        if not local:
            continue
        target = targets.get(path)
        pmap = target.param_map if target else {}
        tmap = target.weight_transforms if target else {}
        for lname, tensor, kind in local:
            full = f"{path}.{lname}" if path else lname
            if id(tensor) in seen:  # tied weights: one tensor under two names
                plan[full] = {"ms": None, "transform": None, "tied_to": seen[id(tensor)]}
                continue
            seen[id(tensor)] = full
            outer = _ancestor_rename(targets, path, lname)
            if outer is not None:  # a layer that renames its children (TransformerEncoderLayer's linear1)
                ms_name = outer
            else:
                ms_local = pmap.get(lname, lname) if lname in pmap else lname
                if ms_local is None:
                    plan[full] = {"ms": None, "transform": None}
                    continue
                ms_name = f"{path}.{ms_local}" if path else ms_local
            transform = tmap.get(lname)
            if transform is not None and transform not in TRANSFORMS:
                problems.append(f"{full}: unknown weight transform {transform!r}")
            optional = kind == "buffer" and lname in mod._non_persistent_buffers_set
            if ms_name not in params and ms_name not in buffers:
                if optional:  # derived state (e.g. a cached mask); the MindSpore side may rebuild it
                    plan[full] = {"ms": None, "transform": None, "note": "non-persistent buffer, not carried"}
                    continue
                problems.append(f"torch {kind} {full!r} has no MindSpore counterpart (looked for {ms_name!r})")
                continue
            plan[full] = {"ms": ms_name, "transform": transform}
            owners.setdefault(ms_name, []).append(full)
    for ms_name, srcs in owners.items():
        if len(srcs) > 1:
            problems.append(f"MindSpore {ms_name!r} would be filled from several torch tensors: {srcs}")
    filled = set(owners)
    # A MindSpore parameter shared by two names is listed once by parameters_and_names.
    unfilled = [n for n in params if n not in filled]
    if unfilled:
        problems.append(f"MindSpore parameters left unfilled: {unfilled}")
    if problems:
        raise WeightMapError(problems)
    return plan


def copy_weights(torch_module, ms_cell, plan: dict[str, dict]) -> None:
    """Write the torch values into the MindSpore cell following `plan` (from plan_weight_map)."""
    import mindspore as ms

    torch_tensors = dict(torch_module.named_parameters(remove_duplicate=False))
    torch_tensors.update(dict(torch_module.named_buffers(remove_duplicate=False)))
    params, buffers = _ms_tensors(ms_cell)
    cells = None
    problems = []
    for tname, entry in plan.items():
        ms_name = entry.get("ms")
        if ms_name is None:
            continue
        t = torch_tensors[tname].detach().cpu()
        arr = (t.float() if str(t.dtype) == "torch.bfloat16" else t).numpy().copy()
        if entry.get("transform"):
            arr = np.ascontiguousarray(TRANSFORMS[entry["transform"]](arr))
        if ms_name in params:
            p = params[ms_name]
            if tuple(p.shape) != arr.shape:
                problems.append(f"{tname} {list(arr.shape)} -> {ms_name} {list(p.shape)}: shapes differ")
                continue
            # the dtype is applied on the host while the tensor is built: `.astype` would queue
            # one MindSpore kernel per tensor, several times the cost of the whole copy
            p.set_data(ms.Tensor(arr, dtype=p.dtype))
        else:
            cells = cells if cells is not None else dict(ms_cell.cells_and_names())
            old = buffers[ms_name]
            _set_buffer(cells, ms_name, ms.Tensor(arr, dtype=old.dtype), old)
    if problems:
        raise WeightMapError(problems)


def _set_buffer(cells: dict, ms_name: str, value, old) -> None:
    owner_path, _, local = ms_name.rpartition(".")
    owner = cells[owner_path]
    if tuple(old.shape) != tuple(value.shape):
        raise WeightMapError([f"buffer {ms_name} {list(old.shape)} <- {list(value.shape)}: shapes differ"])
    persistent = local not in getattr(owner, "_non_persistent_buffers_set", set())
    owner.register_buffer(local, value, persistent=persistent)


def transfer_weights(torch_module, ms_cell, kb=None, device: str = "cpu") -> dict[str, dict]:
    plan = plan_weight_map(torch_module, ms_cell, kb, device)
    copy_weights(torch_module, ms_cell, plan)
    return plan
