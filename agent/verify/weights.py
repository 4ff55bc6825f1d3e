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


def seed_torch(seed: int) -> None:
    """torch.manual_seed without its cost on a CPU-only build: there, seeding CUDA, XPU and MTIA queues
    each call with a formatted stack (~1 ms a call, several calls per unit)."""
    import torch

    torch.random.default_generator.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


GARBAGE = 1e10  # a weight this large, or not finite, was never initialised (`torch.empty`, `torch.Tensor(n)`)


def perturb_constants(module, seed: int) -> list[str]:
    """Add noise to constant floating tensors (BatchNorm/LayerNorm weight=1, bias=0, running stats)
    so that a swapped or dropped mapping shows up in the outputs; fill parameters nobody initialised
    (memory left as it was: see _garbage) with N(0, 0.1^2) draws, so that the
    trial computes numbers and the same ones under the same seed. Buffers keep theirs: a -inf there is
    meant (a causal mask). Returns the names changed."""
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
                if lname in mod._parameters and _garbage(t):
                    t.copy_(0.1 * torch.randn(t.shape, generator=gen).to(t.dtype))
                    touched.append(f"{path}.{lname}" if path else lname)
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


def _garbage(t) -> bool:
    """Memory nobody initialised: values not finite or beyond GARBAGE, or subnormal ones (no initialiser
    draws those), or all below 1e-20 in size without being all zero."""
    import torch

    size = t.abs()
    if not bool(torch.isfinite(t).all()) or float(size.max()) > GARBAGE:
        return True
    nonzero = size[size != 0]
    return bool(nonzero.numel()) and (float(nonzero.min()) < torch.finfo(t.dtype).tiny or float(nonzero.max()) < 1e-20)


BLOWN_UP = 1e3  # an output this large from unit-scale inputs: activations grew layer after layer


def batchnorms(module) -> int:
    """How many BatchNorm layers of MODULE keep running statistics (what calibration would set)."""
    import torch

    return sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats
               for m in module.modules())


def calibrate_batchnorm(module, runs) -> int:
    """Running statistics of every BatchNorm from one forward over a trial's inputs, the norms in train
    mode with a cumulative average: RUNS are such forwards, best first (a large batch, then the trial's
    own inputs), the first that runs decides. In eval mode each norm then sees activations at their own
    scale, as a trained network's norms do: used when a deep network with random weights blew values up
    layer after layer (then float rounding alone fails the comparison). Both sides get these statistics
    with the weights. Returns how many norms were calibrated."""
    import torch

    norms = [m for m in module.modules()
             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms:
        return 0
    saved = [(m, m.momentum, m.training) for m in norms]
    for m in norms:
        m.momentum = None
        m.train()
    try:
        for run in runs:
            for m in norms:
                m.reset_running_stats()
            try:
                with torch.no_grad():
                    run()
                break
            except Exception:  # noqa: BLE001 - inputs the model rejects: the next run, or the trial will say
                continue
        else:
            for m in norms:
                m.reset_running_stats()
    finally:
        for m, momentum, training in saved:
            m.momentum = momentum
            m.train(training)
    return len(norms)


def describe_torch(module) -> tuple[dict, list]:
    """(description, arrays) of a torch module's tensors, for the trusted side to plan a copy.
    Runs on the reference side. A tensor held under two names is sent once; the second name is
    `tied_to` the first."""
    import torch
    modules, arrays, seen = [], [], {}
    for path, mod in module.named_modules():
        cls = type(mod)
        names = [f"{cls.__module__}.{cls.__qualname__}"]
        if cls.__module__.startswith("torch.nn"):
            names.insert(0, f"torch.nn.{cls.__name__}")
        # a subclass of a torch layer (`class LayerNorm2d(nn.LayerNorm)`) keeps its base's tensor names
        names += [f"torch.nn.{b.__name__}" for b in cls.__mro__[1:]
                  if b.__module__.startswith("torch.nn.modules") and b.__name__ != "Module"]
        local = [(n, t, "param", True) for n, t in mod._parameters.items() if t is not None]
        local += [(n, t, "buffer", n not in mod._non_persistent_buffers_set)
                  for n, t in mod._buffers.items() if t is not None]
        # a tensor kept as a plain attribute (`self.h0 = torch.randn(...)` in __init__): carried where the
        # MindSpore cell has the same attribute, or its random values would differ between the sides
        local += [(n, t, "attribute", False) for n, t in vars(mod).items()
                  if type(t) is torch.Tensor and not n.startswith("_")]
        tensors = []
        for lname, t, kind, persistent in local:
            full = f"{path}.{lname}" if path else lname
            item = {"name": lname, "kind": kind, "persistent": persistent, "shape": list(t.shape),
                    "requires_grad": bool(getattr(t, "requires_grad", False))}
            if id(t) in seen:
                item["tied_to"] = seen[id(t)]
            else:
                seen[id(t)] = full
                d = t.detach().cpu()
                item["dtype"] = str(d.dtype).replace("torch.", "")
                arrays.append((d.float() if item["dtype"] == "bfloat16" else d).numpy().copy())
                item["array"] = len(arrays) - 1
            tensors.append(item)
        modules.append({"path": path, "classes": names, "tensors": tensors})
    return {"modules": modules}, arrays


def describe_ms(cell) -> dict:
    """The cell tree and tensor names of a MindSpore cell (candidate side)."""
    import mindspore as ms

    cells = {path: [type(c).__module__, type(c).__name__] for path, c in cell.cells_and_names()}
    params = {name: {"shape": list(p.shape), "dtype": str(p.dtype), "requires_grad": bool(p.requires_grad)}
              for name, p in cell.parameters_and_names()}
    buffers = {}
    if hasattr(cell, "named_buffers"):
        buffers = {name: {"shape": list(b.shape), "dtype": str(b.dtype)} for name, b in cell.named_buffers()}
    attributes = {f"{path}.{n}" if path else n: {"shape": list(t.shape), "dtype": str(t.dtype)}
                  for path, c in cell.cells_and_names() for n, t in vars(c).items()
                  if type(t) is ms.Tensor and not n.startswith("_")}
    return {"cells": cells, "params": params, "buffers": buffers, "attributes": attributes}


def _target_for(kb, classes: list[str], ms_cell: list | None, device):
    """The KB target that produced `ms_cell` (matched by class name and namespace), else the device's."""
    if kb is None:
        return None
    entry = next((kb.get(n) for n in classes if kb.get(n) is not None), None)
    if entry is None:
        return None
    if ms_cell is not None:
        module, name = ms_cell
        in_mint = ".mint" in module
        for t in entry.targets:
            if t.api.rsplit(".", 1)[-1] == name and (t.namespace == "mint") == in_mint:
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


def plan_weight_map(torch_desc, ms_desc, kb=None, device: str = "cpu") -> dict[str, dict]:
    """{torch_name: {"ms": ms_name | None, "transform": id | None}}; raises WeightMapError.
    Takes the descriptions of `describe_torch` / `describe_ms` (live objects are described first)."""
    if not isinstance(torch_desc, dict):
        torch_desc = describe_torch(torch_desc)[0]
    if not isinstance(ms_desc, dict):
        ms_desc = describe_ms(ms_desc)
    params, buffers, ms_cells = ms_desc["params"], ms_desc["buffers"], ms_desc["cells"]
    plan: dict[str, dict] = {}
    problems: list[str] = []
    owners: dict[str, list[str]] = {}
    targets = {m["path"]: _target_for(kb, m["classes"], ms_cells.get(m["path"]), device) for m in torch_desc["modules"]}
    for mod in torch_desc["modules"]:
        path = mod["path"]
        target = targets.get(path)
        pmap = target.param_map if target else {}
        tmap = target.weight_transforms if target else {}
        for item in mod["tensors"]:
            lname, kind = item["name"], item["kind"]
            full = f"{path}.{lname}" if path else lname
            if "tied_to" in item:  # tied weights: one tensor under two names
                plan[full] = {"ms": None, "transform": None, "tied_to": item["tied_to"]}
                continue
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
            if ms_name not in params and ms_name not in buffers and ms_name not in ms_desc.get("attributes", {}):
                if kind == "attribute":  # the translation keeps it otherwise (or not at all): its own values
                    plan[full] = {"ms": None, "transform": None, "note": "tensor attribute with no counterpart"}
                    continue
                if kind == "buffer" and not item["persistent"]:  # derived state; the MindSpore side may rebuild it
                    plan[full] = {"ms": None, "transform": None, "note": "non-persistent buffer, not carried"}
                    continue
                problems.append(f"torch {kind} {full!r} has no MindSpore counterpart (looked for {ms_name!r})")
                continue
            plan[full] = {"ms": ms_name, "transform": transform}
            owners.setdefault(ms_name, []).append(full)
    for ms_name, srcs in owners.items():
        if len(srcs) > 1:
            problems.append(f"MindSpore {ms_name!r} would be filled from several torch tensors: {srcs}")
    unfilled = [n for n in params if n not in owners]
    if unfilled:
        problems.append(f"MindSpore parameters left unfilled: {unfilled}")
    if problems:
        raise WeightMapError(problems)
    return plan


def weight_arrays(plan: dict, torch_desc: dict, torch_arrays: list, ms_desc: dict) -> tuple[list[str], list]:
    """(MindSpore names, arrays in MindSpore layout) to load, built on the trusted side; shapes checked."""
    index = {}
    for mod in torch_desc["modules"]:
        for item in mod["tensors"]:
            if "array" in item:
                index[f"{mod['path']}.{item['name']}" if mod["path"] else item["name"]] = item["array"]
    names, arrays, problems = [], [], []
    for tname, entry in plan.items():
        ms_name = entry.get("ms")
        if ms_name is None:
            continue
        arr = torch_arrays[index[tname]]
        if entry.get("transform"):
            arr = np.ascontiguousarray(TRANSFORMS[entry["transform"]](arr))
        want = (ms_desc["params"].get(ms_name) or ms_desc["buffers"].get(ms_name)
                or ms_desc.get("attributes", {}).get(ms_name))["shape"]
        if list(arr.shape) != list(want):
            problems.append(f"{tname} {list(arr.shape)} -> {ms_name} {list(want)}: shapes differ")
            continue
        names.append(ms_name)
        arrays.append(arr)
    if problems:
        raise WeightMapError(problems)
    return names, arrays


def load_weights(cell, names: list[str], arrays: list) -> None:
    """Write the arrays into the cell's parameters and buffers (candidate side)."""
    import mindspore as ms

    params = dict(cell.parameters_and_names())
    buffers = dict(cell.named_buffers()) if hasattr(cell, "named_buffers") else {}
    cells = None
    for ms_name, arr in zip(names, arrays):
        if ms_name in params:
            p = params[ms_name]
            # the dtype is applied on the host while the tensor is built: `.astype` would queue one kernel
            p.set_data(ms.Tensor(arr, dtype=p.dtype))
        elif ms_name in buffers:
            cells = cells if cells is not None else dict(cell.cells_and_names())
            old = buffers[ms_name]
            _set_buffer(cells, ms_name, ms.Tensor(arr, dtype=old.dtype), old)
        elif _attribute(cell, ms_name) is not None:
            cells = cells if cells is not None else dict(cell.cells_and_names())
            owner_path, _, local = ms_name.rpartition(".")
            old = _attribute(cell, ms_name)
            if tuple(old.shape) != tuple(arr.shape):
                raise WeightMapError([f"tensor attribute {ms_name} {list(old.shape)} <- {list(arr.shape)}: shapes differ"])
            setattr(cells[owner_path], local, ms.Tensor(arr, dtype=old.dtype))
        else:
            raise WeightMapError([f"no MindSpore tensor {ms_name!r}"])


def _attribute(cell, ms_name: str):
    """The plain tensor attribute MS_NAME (`rnn.h0`) of the cell tree, or None."""
    import mindspore as ms

    owner_path, _, local = ms_name.rpartition(".")
    owner = dict(cell.cells_and_names()).get(owner_path)
    value = vars(owner).get(local) if owner is not None and not local.startswith("_") else None
    return value if type(value) is ms.Tensor else None


def _set_buffer(cells: dict, ms_name: str, value, old) -> None:
    owner_path, _, local = ms_name.rpartition(".")
    owner = cells[owner_path]
    if tuple(old.shape) != tuple(value.shape):
        raise WeightMapError([f"buffer {ms_name} {list(old.shape)} <- {list(value.shape)}: shapes differ"])
    persistent = local not in getattr(owner, "_non_persistent_buffers_set", set())
    owner.register_buffer(local, value, persistent=persistent)


def transfer_weights(torch_module, ms_cell, kb=None, device: str = "cpu") -> dict[str, dict]:
    """Plan and copy with both objects in one (trusted) process: the KB probes and tests."""
    tdesc, tarrays = describe_torch(torch_module)
    mdesc = describe_ms(ms_cell)
    plan = plan_weight_map(tdesc, mdesc, kb, device)
    load_weights(ms_cell, *weight_arrays(plan, tdesc, tarrays, mdesc))
    return plan
