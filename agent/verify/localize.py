"""Find the first submodule whose MindSpore output departs from torch's, and confirm it in isolation.

Forward hooks record every submodule's input and output on both sides (hooks fire when a module
returns, so the first recorded divergence is the innermost, earliest one). The suspect MindSpore
cell is then run alone on the torch side's recorded input: if it still differs, the fault is in
that cell (`confirmed: true`); if not, the difference came in between modules.
"""
from __future__ import annotations

from agent.verify.compare import Mismatch, compare_outputs


def tree_map(fn, x):
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x)(*(tree_map(fn, v) for v in x))
    if isinstance(x, (tuple, list)):
        return type(x)(tree_map(fn, v) for v in x)
    if isinstance(x, dict):
        return {k: tree_map(fn, v) for k, v in x.items()}
    return fn(x)


def _clone_torch(x):
    return x.detach().clone() if hasattr(x, "detach") and type(x).__module__.startswith("torch") else x


def torch_to_ms(x):
    if hasattr(x, "detach") and type(x).__module__.startswith("torch"):
        import mindspore as ms

        return ms.Tensor(x.detach().cpu().numpy().copy())
    return x


def _record_torch(model, args):
    import torch

    records: list[tuple[str, int, tuple, object]] = []
    counts: dict[str, int] = {}
    handles = []
    for path, mod in model.named_modules():
        if not path:
            continue

        def hook(m, inputs, output, path=path):
            idx = counts.get(path, 0)
            counts[path] = idx + 1
            records.append((path, idx, tree_map(_clone_torch, inputs), tree_map(_clone_torch, output)))

        handles.append(mod.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(*args)
    finally:
        for h in handles:
            h.remove()
    return records


def _record_ms(cell, args):
    records: dict[str, list] = {}
    handles = []
    for path, sub in cell.cells_and_names():
        if not path:
            continue

        def hook(c, inputs, output, path=path):
            records.setdefault(path, []).append(output)

        handles.append(sub.register_forward_hook(hook))
    try:
        cell(*args)
    except Exception:  # the outputs recorded before a failure still localize it
        pass
    finally:
        for h in handles:
            h.remove()
    return records


def localize(pt_model, ms_cell, pt_args, ms_args) -> dict | None:
    """{path, torch_class, ms_class, max_abs, confirmed, reason} for the first divergent submodule."""
    pt_records = _record_torch(pt_model, pt_args)
    ms_records = _record_ms(ms_cell, ms_args)
    pt_modules = dict(pt_model.named_modules())
    ms_cells = dict(ms_cell.cells_and_names())
    for path, idx, inputs, out in pt_records:
        outs = ms_records.get(path)
        if not outs or idx >= len(outs):
            continue  # no MindSpore cell at this path (restructured, or a functional replacement)
        try:
            compare_outputs(out, outs[idx])
        except Mismatch as exc:
            stats = exc.comparison.outputs if exc.comparison else []
            found = {
                "path": path,
                "call": idx,
                "torch_class": type(pt_modules[path]).__name__,
                "ms_class": type(ms_cells[path]).__name__,
                "max_abs": max((s["max_abs"] for s in stats), default=None),
                "reason": str(exc),
            }
            found["confirmed"], found["isolated"] = _confirm(ms_cells[path], inputs, out)
            return found
    return None


def _confirm(ms_sub, torch_inputs, torch_out) -> tuple[bool | None, str]:
    try:
        ms_out = ms_sub(*tree_map(torch_to_ms, torch_inputs))
    except Exception as exc:  # raising on torch's input is itself a confirmation
        return True, f"raised on the torch input: {type(exc).__name__}: {str(exc)[:200]}"
    try:
        compare_outputs(torch_out, ms_out)
    except Mismatch as exc:
        return True, f"differs on the torch input: {exc}"
    return False, "matches on the torch input: the difference comes from code between modules"
