"""Run KB probes inside the worker: the torch code of a probe, and the rules' translation of it.

A probe checks the rule, not a hand-written MindSpore snippet: each case's torch expression is
translated by the rules engine with the target under test forced, both sides run on the same
inputs (and, for layers, the same weights), and the outputs are compared with the verifier's
tolerances. One verdict per target: matched, differs or raised.
"""
from __future__ import annotations

import re
import time
import traceback

PRELUDE = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"


def _versions() -> dict:
    import mindspore
    import torch

    return {"ms_version": mindspore.__version__, "torch_version": torch.__version__.split("+")[0],
            "date": time.strftime("%Y-%m-%d")}


def _to_ms(value):
    import mindspore as ms
    import torch

    if isinstance(value, torch.nn.Parameter):
        return ms.Parameter(ms.Tensor(value.detach().cpu().numpy().copy()), name="probe_param")
    if isinstance(value, torch.Tensor):
        return ms.Tensor(value.detach().cpu().numpy().copy())
    if isinstance(value, (list, tuple)):
        return type(value)(_to_ms(v) for v in value)
    return value


def _translate_line(line_src: str, kb, device: str, overrides: dict, setup: str) -> tuple[str, str]:
    """One torch line -> (MindSpore import lines, its translated line); raises when the rules marked it.

    The setup is translated along so that the names it binds are known tensors (their methods get
    rewritten), but only the line's own translation is used."""
    from agent.rules.engine import translate_source

    head = PRELUDE + (setup.rstrip() + "\n" if setup.strip() else "")
    line = head.count("\n") + 1
    r = translate_source(f"{head}{line_src}\n", kb, device, overrides=overrides)
    mine = [m for m in r.markers if m.line == line]
    if mine:
        raise RuleRefused("; ".join(m.reason for m in mine))
    import ast

    tree = ast.parse(r.code)
    # imports and the helpers/adapters the rules wrote, never the setup's own translation (the MindSpore
    # side gets the torch inputs converted, not fresh random ones)
    lines = r.code.splitlines()
    keep = ["\n".join(lines[min([n.lineno] + [d.lineno for d in getattr(n, "decorator_list", [])]) - 1:n.end_lineno])
            for n in tree.body[:-1]  # a helper's decorators included
            if isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef))]
    return "\n".join(keep), r.code.splitlines()[-1]


def _translate_expr(code: str, kb, device: str, overrides: dict, setup: str = "") -> tuple[str, str]:
    """torch expression -> (MindSpore import lines, MindSpore expression)."""
    imports, line = _translate_line(f"__out = {code}", kb, device, overrides, setup)
    return imports, line[len("__out = "):]


class RuleRefused(Exception):
    """The rules engine marked the probe call instead of converting it."""


def _in_place(entry, target) -> bool:
    return target.assign_result or (entry.kind == "method" and entry.api.endswith("_"))


def _receiver(code: str) -> str:
    import ast

    call = ast.parse(code, mode="eval").body
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name)):
        raise ProbeBroken(f"an in-place probe must be `name.method_(...)`, not {code!r}")
    return call.func.value.id


def _translate_statement(code: str, kb, device: str, overrides: dict, setup: str) -> str:
    """The rules' translation of one statement, with its imports, given the setup's names."""
    imports, line = _translate_line(code, kb, device, overrides, setup)
    return f"{imports}\n{line}"


class ProbeBroken(Exception):
    """The probe's torch code itself fails: the case says nothing about the mapping."""


def _torch_side(code: str, ns: dict):
    try:
        return eval(code, ns)
    except Exception as exc:
        raise ProbeBroken(f"{type(exc).__name__}: {_short(str(exc))}") from exc


def _run_case(entry, target, case, kb, device: str) -> tuple[str, str, float | None, tuple | None]:
    """(status, detail, max abs, (grad status, grad detail) or None where no gradient applies)."""
    import torch

    from agent.verify.compare import Mismatch, compare_outputs

    torch.manual_seed(0)
    pt_ns: dict = {}
    exec(PRELUDE + (entry.probe.setup or ""), pt_ns)
    imports, ms_expr = ("", "") if _in_place(entry, target) else _translate_expr(
        case.code, kb, device, {entry.api: target}, entry.probe.setup or "")
    ms_ns: dict = {k: _to_ms(v) for k, v in pt_ns.items() if not k.startswith("__") and k not in ("torch", "nn", "F")}
    exec(imports, ms_ns)
    grad_call = None  # (torch expression, MindSpore expression) whose gradients the grad probe compares
    plan = None
    if entry.kind == "class" or (entry.kind == "function" and entry.probe.call):
        # a class, or a function that builds a module (`weight_norm(layer)`) given a `call` that runs it
        from agent.verify.weights import transfer_weights

        pt_ns["m"] = _torch_side(case.code, pt_ns)
        ms_ns["m"] = eval(ms_expr, ms_ns)
        if hasattr(pt_ns["m"], "eval"):
            pt_ns["m"].eval()
            ms_ns["m"].set_train(False)
            plan = transfer_weights(pt_ns["m"], ms_ns["m"], kb, device)
        call = entry.probe.call or "m(x)"
        with torch.no_grad():
            pt_out = eval(call, pt_ns)
        ms_call = _translate_expr(call, kb, device, {}, entry.probe.setup or "")[1]
        ms_out = eval(ms_call, ms_ns)
        grad_call = (call, ms_call)
    elif _in_place(entry, target):
        # an in-place method is a statement; the rule turns it into `x = x.op(...)`: compare x afterwards
        receiver = _receiver(case.code)
        with torch.no_grad():
            _torch_side(case.code, pt_ns)
        pt_out = pt_ns[receiver]
        exec(_translate_statement(case.code, kb, device, {entry.api: target}, entry.probe.setup or ""), ms_ns)
        ms_out = ms_ns[receiver]
    else:
        with torch.no_grad():
            pt_out = _torch_side(case.code, pt_ns)
        ms_out = eval(ms_expr, ms_ns)
        grad_call = (case.code, ms_expr)
    try:
        cmp = compare_outputs(pt_out, ms_out)
    except Mismatch as m:
        return "differs", f"{case.style}: {m}", None, None
    grad = None
    if grad_call is not None:
        try:
            grad = _grad_case(grad_call, pt_ns, ms_ns, plan)
        except Exception as exc:  # the MindSpore backward raised (a missing gradient kernel, ...)
            grad = ("raised", f"{case.style}: {type(exc).__name__}: {_short(str(exc))}")
        if grad is not None and grad[1] and not grad[1].startswith(case.style):
            grad = (grad[0], f"{case.style}: {grad[1]}")
    return "matched", "", cmp.max_abs, grad


def _np(grad, shape):
    """A torch gradient as an array; None and torch's symbolic zero tensors become zeros."""
    import numpy as np

    try:
        return grad.detach().numpy() if grad is not None else np.zeros(tuple(shape), np.float32)
    except RuntimeError:  # a ZeroTensor (the derivative is zero everywhere)
        return np.zeros(tuple(shape), np.float32)


def _grad_case(calls: tuple[str, str], pt_ns: dict, ms_ns: dict, plan: dict | None) -> tuple | None:
    """Gradients of mean(out**2) summed over float outputs, for every float tensor the probe's setup
    made and every parameter of a layer, on both sides; None when nothing is differentiable."""
    import mindspore as ms
    import numpy as np
    import torch

    from agent.verify.candidate import loss_of as ms_loss
    from agent.verify.candidate import split_grads, unique_names
    from agent.verify.levels import LevelFailure, close
    from agent.verify.reference import loss_of as torch_loss

    names = [k for k, v in pt_ns.items() if isinstance(v, torch.Tensor) and not isinstance(v, torch.nn.Parameter)
             and v.is_floating_point() and not k.startswith("_")]
    pt_model = pt_ns.get("m") if plan is not None else None
    params = [(n, p) for n, p in pt_model.named_parameters()] if pt_model is not None else []
    if not names and not params:
        return None
    leaves = {n: pt_ns[n].detach().clone().requires_grad_(True) for n in names}
    try:  # torch is the oracle: where its own backward cannot run, there is nothing to compare
        if pt_model is not None:
            pt_model.zero_grad(set_to_none=True)
        loss = torch_loss(eval(calls[0], {**pt_ns, **leaves}))
        if not loss.requires_grad:
            return None
        loss.backward()
    except Exception:  # no float output, no derivative in torch, an in-place op on a probe leaf
        return None
    ms_model = ms_ns.get("m") if plan is not None else None
    ms_params = [(n, p) for n, p in ms_model.parameters_and_names() if p.requires_grad] if ms_model is not None else []
    unique_names(ms_params)
    scope = dict(ms_ns)

    def forward(*xs):
        return ms_loss(eval(calls[1], {**scope, **dict(zip(names, xs))}))

    fn = ms.value_and_grad(forward, tuple(range(len(names))) if names else None,
                           ms.ParameterTuple([p for _, p in ms_params]) if ms_params else None)
    ms_l, grads = fn(*[ms_ns[n] for n in names])
    in_grads, p_grads = split_grads(grads, bool(names), bool(ms_params))
    try:
        worst = close(np.array(loss.item()), np.array(float(ms_l.asnumpy())), "loss")
        for n, g in zip(names, in_grads):
            worst = max(worst, close(_np(leaves[n].grad, leaves[n].shape), g.asnumpy(), f"gradient of {n}"))
        by_ms = dict(zip([n for n, _ in ms_params], p_grads))
        from agent.verify.weights import TRANSFORMS

        for tname, p in params:
            entry = (plan or {}).get(tname) or {}
            if entry.get("ms") not in by_ms or p.grad is None:
                continue
            tg = _np(p.grad, p.shape)
            tg = TRANSFORMS[entry["transform"]](tg) if entry.get("transform") else tg
            worst = max(worst, close(tg, by_ms[entry["ms"]].asnumpy(), f"gradient of {tname}"))
    except LevelFailure as exc:
        return "differs", exc.reason
    return "matched", f"max abs {worst:.1e}"


def run_entry(api: str, device: str = "cpu", kb_root: str | None = None, kb_user: str | None = None) -> dict:
    """Verdicts for every target of one entry: {target api: verdict dict}."""
    import mindspore as ms

    from agent.kb.store import load_kb
    from agent.verify.devices import ms_target
    from agent.verify.spec_choice import drain

    ms.set_context(mode=ms.PYNATIVE_MODE)
    try:
        ms.set_device(ms_target(device))
    except RuntimeError:  # a warm probe worker keeps the device its first probe ran on
        pass
    kb = load_kb(kb_root, kb_user)
    entry = kb.get(api)
    if entry is None or entry.probe is None:
        return {}
    stamp = _versions()
    out = {}
    for target in entry.targets:
        status, detail, worst = "matched", "", 0.0
        grad_status, grad_detail = None, ""
        refused, ran = [], 0
        for case in entry.probe.cases:
            drain()  # a failed call of the previous target must not fail this one
            g = None
            try:
                s, d, m, g = _run_case(entry, target, case, kb, device)
            except ProbeBroken as exc:
                s, d, m = "untested", f"{case.style}: the probe's torch code raised: {exc}", None
            except RuleRefused as exc:  # the rule marks that call: nothing wrong is written, the others count
                refused.append(f"{case.style}: rule refused the call: {exc}")
                continue
            except Exception as exc:  # the MindSpore side (or the probe) raised: that is the verdict
                last = traceback.extract_tb(exc.__traceback__)[-1]
                s, d, m = "raised", f"{case.style}: {type(exc).__name__}: {_short(str(exc))} ({last.name})", None
            if g is not None and grad_status != "raised":
                if g[0] != "matched" or grad_status is None:
                    grad_status, grad_detail = g
                drain()
            if s == "untested":
                continue  # a broken case proves nothing either way; the others still count
            ran += 1
            if s != "matched":
                status, detail = s, d
                if s == "raised":
                    break
            elif m is not None:
                worst = max(worst, m)
        if refused and not ran:  # the target takes none of the probe's calls
            status, detail = "raised", refused[0]
        elif refused and status == "matched":
            detail = f"max abs {worst:.1e}; {'; '.join(refused)} (a verified alternative or a marker takes those)"
        out[target.api] = {"status": status, "detail": detail or f"max abs {worst:.1e}", "source": "probe", **stamp}
        if grad_status is not None and status == "matched":
            out[target.api].update(grad=grad_status, grad_detail=grad_detail)
    return out


def run_entries(apis: list[str], device: str = "cpu", kb_root: str | None = None, kb_user: str | None = None) -> dict:
    return {api: run_entry(api, device, kb_root, kb_user) for api in apis}


def _short(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text[:300]
