"""Build mapping_kb/ from the hand-curated entries in tools/kb_src/ and the seed tables vendored in tools/kb_seed/.

    .venv/bin/python tools/build_kb.py

Curated entries win. Every other torch API named in the seed mapping tables gets a generated
entry: "consistent" pairs become rules (argument names aligned by position against the
installed MindSpore signature), pairs with documented differences get notes only, because a
wrong rule is worse than none. Seed CPU probe results go to mapping_kb/verdicts/cpu.json marked
source "seed"; `msagent kb verify` replaces them with verdicts it ran itself.
Needs torch and MindSpore installed (signatures are read from them).
"""
from __future__ import annotations

import argparse
import ast
import csv
import importlib
import inspect
import json
import re
import sys
import warnings
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from agent.kb.schema import Entry  # noqa: E402

OUT_FILES = ("nn", "functional", "torch", "tensor", "optim", "other")
# The seed probe row whose verdict describes what the curated rule emits, where the unlabelled
# row shows the trap the rule avoids.
SEED_VARIANT = {
    ("torch.nn.Upsample", "mindspore.nn.Upsample"): "nn.Upsample (nearest, recompute_scale_factor=True)",
    ("torch.nn.functional.avg_pool2d", "mindspore.ops.avg_pool2d"): "ops.avg_pool2d (kernel_size=2, stride=2)",
}
# Torch keywords with no MindSpore meaning: placement and layout are dropped, the rest mark the call.
DROPPED = ("device", "layout", "pin_memory", "memory_format")
UNSUPPORTED = {"out": "no out= in MindSpore", "requires_grad": "MindSpore tensors carry no requires_grad",
               "generator": "MindSpore seeds through mindspore.set_seed or seed="}
UNARY_SIG = "(input, *, out=None)"
BINARY_SIG = "(input, other, *, out=None)"


# ---------------------------------------------------------------- signatures from the installed packages
def resolve(dotted: str):
    """Import the longest importable module prefix of `dotted`, then getattr the rest."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except Exception:
            continue
        try:
            for p in parts[i:]:
                obj = getattr(obj, p)
            return obj
        except AttributeError:
            return None
    return None


def _render(sig: inspect.Signature, drop_self: bool) -> str | None:
    params = list(sig.parameters.values())
    if drop_self and params and params[0].name == "self":
        params = params[1:]
    out, star_done = [], False
    for p in params:
        if p.kind == p.VAR_POSITIONAL:
            out.append("*" + p.name)
            star_done = True
            continue
        if p.kind == p.VAR_KEYWORD:
            out.append("**" + p.name)
            continue
        if p.kind == p.KEYWORD_ONLY and not star_done:
            out.append("*")
            star_done = True
        if p.default is p.empty:
            out.append(p.name)
        else:
            out.append(f"{p.name}={p.default!r}")
    text = "(" + ", ".join(out) + ")"
    try:
        ast.parse(f"def f{text}: pass")
    except SyntaxError:
        return None
    return text


def _doc_signature(obj, name: str) -> str | None:
    """First `name(...)` line of a builtin's docstring, as torch documents it."""
    doc = getattr(obj, "__doc__", None) or ""
    m = re.search(rf"^\s*(?:\w+\.)*{re.escape(name)}(\(.*?\))\s*(->|$)", doc, re.M)  # `linalg.norm(...)` too
    if not m:
        return None
    try:
        fn = ast.parse(f"def f{m.group(1)}: pass").body[0]
    except SyntaxError:
        return None
    a = fn.args
    for i, arg in enumerate(a.kwonlyargs):  # `*, out: Optional[Tensor]`: documented optional, no default written
        if a.kw_defaults[i] is None and "Optional" in ast.unparse(arg.annotation or ast.Constant(None)):
            a.kw_defaults[i] = ast.Constant(None)
    for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]:
        if arg is not None:
            arg.annotation = None
    return "(" + ast.unparse(a) + ")"


def torch_signature(api: str, kind: str) -> str | None:
    obj = resolve(api)
    if obj is None:
        return None
    name = api.rsplit(".", 1)[1]
    try:
        if kind == "class":
            return _render(inspect.signature(obj.__init__), drop_self=True)
        sig = _doc_signature(obj, name) if kind == "method" else None
        if sig == "()" and "See :func:`torch." in (obj.__doc__ or ""):
            sig = None  # "X() -> Tensor, see torch.X": the real parameters are torch.X's after input
        if sig is None and kind == "method" and resolve("torch." + name) is not None:
            fn = torch_signature("torch." + name, "function")
            if fn and fn.startswith("(input"):
                rest = fn[len("(input"):].lstrip(", ").lstrip(")")
                return "(" + rest if rest else "()"
        if sig:
            return sig
        return _render(inspect.signature(obj), drop_self=False)
    except (TypeError, ValueError):
        return _doc_signature(obj, name)


def ms_params(target_api: str, namespace: str) -> list[inspect.Parameter] | None:
    obj = resolve("mindspore.Tensor." + target_api if namespace == "tensor" else target_api)
    if obj is None:
        return None
    try:
        sig = inspect.signature(obj.__init__ if inspect.isclass(obj) else obj)
    except (TypeError, ValueError):
        return None
    ps = [p for p in sig.parameters.values() if p.name != "self"]
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in ps):
        return None  # a decorator's (*args, **kwargs) says nothing about the real names
    return ps


# ---------------------------------------------------------------- seed tables
def resets_parameters(api: str) -> bool:
    """Whether the torch layer API's constructor (its own or a torch base's) calls self.reset_parameters()."""
    cls = resolve(api)
    if not inspect.isclass(cls):
        return False
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or not klass.__module__.startswith("torch."):
            continue
        try:
            if "self.reset_parameters()" in inspect.getsource(init):
                return True
        except (OSError, TypeError):
            continue
    return False


def namespace_of(ms_api: str) -> str:
    if ms_api.startswith("mindspore.mint."):
        return "mint"
    if ms_api.startswith("mindspore.Tensor.") or ms_api.startswith("mindspore.Parameter."):
        return "tensor"
    return "legacy"


def kind_of(api: str) -> str:
    last = api.rsplit(".", 1)[1]
    if api.startswith("torch.Tensor."):
        obj = resolve(api)
        return "attribute" if obj is not None and not callable(obj) else "method"
    return "class" if last[:1].isupper() else "function"


def read_mappings(seed: Path) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = defaultdict(list)
    for name in ("api_mapping_master.csv", "api_mapping_r2.4.csv"):
        for r in csv.DictReader(open(seed / name, encoding="utf-8")):
            if r["torch_api"].strip() and r["mindspore_api"].strip():
                r["source"] = name
                rows[torch_spelling(r["torch_api"].strip())].append(r)
    return rows


def torch_spelling(api: str) -> str:
    """The name as torch spells it where a mapping table has its case wrong (`torch.nn.SeLU` is
    torch.nn.SELU, `torch.nn.CeLU` torch.nn.CELU): the one attribute of the parent matching it
    case-insensitively; API itself when it resolves or nothing matches."""
    if resolve(api) is not None:
        return api
    parent, _, last = api.rpartition(".")
    owner = resolve(parent) if parent else None
    found = [n for n in dir(owner) if n.lower() == last.lower()] if owner is not None else []
    return f"{parent}.{found[0]}" if len(found) == 1 else api


def read_probes(seed: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for r in csv.DictReader(open(seed / "cpu_support_ms2.10_cpu.csv", encoding="utf-8")):
        label = r["api"].strip()
        base = label.split(" ", 1)[0].split("(", 1)[0]
        r["target"] = "mindspore." + base if not base.startswith("Tensor.") else base.split(".", 1)[1]
        r["label"] = label
        out[r["torch_equiv"].strip()].append(r)
    return out


def seed_status(r: dict) -> tuple[str, str]:
    if r["runs_on_cpu"] == "no":
        return "raised", r["error"]
    if r["matches_torch"] == "yes":
        return "matched", f"max abs diff {r['max_abs_diff']}"
    if r["matches_torch"] == "no":
        return "differs", r["max_abs_diff"]
    return "untested", "runs; output not compared"


# ---------------------------------------------------------------- generated entries
def consistent_target(api: str, sig: str | None, ms_api: str, relation: str) -> tuple[dict | None, str]:
    """A rule for a pair the docs call consistent, aligned against the MindSpore signature."""
    ns = namespace_of(ms_api)
    tapi = ms_api.rsplit(".", 1)[1] if ns == "tensor" else ms_api
    if ns != "tensor" and resolve(ms_api) is None:
        return None, f"{ms_api} does not exist in the installed MindSpore."
    target: dict = {"namespace": ns, "api": tapi}
    if sig is None:
        return target, ""
    ns_torch = {}
    exec(f"def f{sig}: pass", {"torch": __import__("torch")}, ns_torch)
    tparams = [p for p in inspect.signature(ns_torch["f"]).parameters.values()]
    mparams = ms_params(tapi, ns)
    if mparams is None:
        # Unknown MindSpore names: only torch's placement/autograd keywords are known to lack a match.
        for p in tparams:
            if p.name in DROPPED:
                target.setdefault("args", {})[p.name] = None
            elif p.name in UNSUPPORTED:
                target.setdefault("args", {})[p.name] = None
                target.setdefault("unsupported", {})[p.name] = UNSUPPORTED[p.name]
        return target, ""
    mnames = [p.name for p in mparams]
    args, unsupported, defaults = {}, {}, {}
    tpos = [p for p in tparams if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    mpos = [p for p in mparams if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    for i, p in enumerate(tparams):
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in mnames:
            continue
        if p.name == "inplace":
            args[p.name] = None
        elif p in tpos and tpos.index(p) < len(mpos) and mpos[tpos.index(p)].name not in {q.name for q in tparams}:
            args[p.name] = mpos[tpos.index(p)].name
        elif p.name in DROPPED:
            args[p.name] = None
        elif p.default is not p.empty:
            unsupported[p.name] = UNSUPPORTED.get(p.name, f"{tapi} has no counterpart")
            args[p.name] = None
        else:
            return None, f"required torch argument {p.name!r} has no counterpart in {tapi}."
    by_name = {p.name: p for p in mparams}
    for p in tparams:
        q = by_name.get(args.get(p.name) or p.name)
        if q is not None and p.default is not p.empty and q.default is not q.empty:
            try:
                differs = bool(p.default != q.default) and type(p.default) in (int, float, bool, str)
            except Exception:
                differs = False
            if differs:
                defaults[q.name] = repr(p.default)
    for k, v in (("args", args), ("unsupported", unsupported), ("defaults", defaults)):
        if v:
            target[k] = v
    return target, ""


def generated_probe(api: str, kind: str, sig: str | None) -> dict | None:
    """An elementwise probe for the plain unary/binary shapes, kept only if torch itself runs it."""
    probe = _elementwise_probe(api, kind, sig)
    if probe is None:
        return None
    import torch

    try:
        ns = {"torch": torch}
        exec(probe["setup"], ns)
        for case in probe["cases"]:
            eval(case["code"], ns)
    except Exception:
        return None  # the generic float inputs do not suit this API (integer-only, square matrices, ...)
    return probe


# Outputs that differ between frameworks by design: random draws, uninitialised memory.
_RANDOM = re.compile(r"rand|dropout|normal|bernoulli|multinomial|poisson|empty|uniform|seed")


def _one_tensor_rest_defaulted(sig: str | None) -> bool:
    """`(input, p=..., *, q=...)`: one tensor argument, everything else has a default."""
    if not sig:
        return False
    try:
        fn = ast.parse(f"def f{sig}: pass").body[0]
    except SyntaxError:
        return False
    a = fn.args
    positional = a.posonlyargs + a.args
    if not positional or positional[0].arg not in ("input", "x", "self", "tensor") or a.vararg:
        return False
    if len(positional) - 1 > len(a.defaults):
        return False
    return all(d is not None for d in a.kw_defaults)


def _is_activation(api: str) -> bool:
    import torch

    obj = torch
    for part in api.split(".")[1:]:
        obj = getattr(obj, part, None)
        if obj is None:
            return False
    return getattr(obj, "__module__", "") == "torch.nn.modules.activation"


def _elementwise_probe(api: str, kind: str, sig: str | None) -> dict | None:
    name = api.rsplit(".", 1)[1]
    if kind == "function" and api.count(".") == 1 and sig == UNARY_SIG:
        return {"setup": "x = torch.rand(2, 3) + 0.1", "cases": [
            {"style": "positional", "code": f"torch.{name}(x)"}, {"style": "keyword", "code": f"torch.{name}(input=x)"}]}
    if kind == "function" and api.count(".") == 1 and sig == BINARY_SIG:
        return {"setup": "x = torch.rand(2, 3) + 0.1\ny = torch.rand(2, 3) + 0.1", "cases": [
            {"style": "positional", "code": f"torch.{name}(x, y)"},
            {"style": "keyword", "code": f"torch.{name}(input=x, other=y)"}]}
    if kind == "function" and _one_tensor_rest_defaulted(sig) and not _RANDOM.search(name) and not name.endswith("_"):
        # any namespace (torch.nn.functional.mish, torch.special.expit): does the target run on x at all?
        return {"setup": "x = torch.rand(2, 3) + 0.1", "cases": [{"style": "defaults", "code": f"{api}(x)"}]}
    if kind == "class" and _one_tensor_rest_defaulted(f"(x, {sig[1:]}" if sig and sig != "()" else "(x)") \
            and _is_activation(api):
        # an activation layer built with its defaults, called on signed values
        return {"setup": "x = torch.randn(2, 3)", "call": "m(x)", "cases": [{"style": "defaults", "code": f"{api}()"}]}
    if kind == "method" and sig in ("()", "(*, out=None)") and not name.endswith("_"):
        return {"setup": "x = torch.rand(2, 3) + 0.1", "cases": [{"style": "defaults", "code": f"x.{name}()"}]}
    if kind == "method" and sig in ("(other)", "(other, *, out=None)") and not name.endswith("_"):
        return {"setup": "x = torch.rand(2, 3) + 0.1\ny = torch.rand(2, 3) + 0.1",
                "cases": [{"style": "positional", "code": f"x.{name}(y)"}]}
    return None


def generate(api: str, rows: list[dict]) -> dict:
    kind = kind_of(api)
    sig = torch_signature(api, kind) if api.startswith("torch.") and kind != "attribute" else None
    entry: dict = {"api": api, "kind": kind, "signature": sig, "targets": [], "notes": "",
                   "sources": sorted({r["source"] for r in rows})}
    notes, seen = [], set()
    for r in rows:
        ms_api, rel = r["mindspore_api"].strip(), r["relation_class"]
        if ms_api in seen:
            continue
        seen.add(ms_api)
        if rel == "consistent" or rel in ("consistent-func/param-names-differ", "consistent-func/no-inplace-param",
                                          "consistent-func/missing-extra-params", "consistent-func/default-value-differs"):
            target, why = consistent_target(api, sig, ms_api, rel)
            if target is not None:
                if rel != "consistent":
                    target["notes"] = f"docs: {rel.split('/', 1)[1].replace('-', ' ')} ({r['docs_branch']}); aligned by signature"
                entry["targets"].append(target)
            else:
                notes.append(f"{ms_api}: {why}")
        else:
            page = f" (docs page {r['diff_page']})" if r["diff_page"] else ""
            notes.append(f"{ms_api}: documented differences{page}, {rel}; argument handling not curated, so no rule.")
    entry["notes"] = " ".join(notes)
    if PADDING_LAYER.fullmatch(api):  # MindSpore's pad layers take an int or a tuple, torch's a list too
        for target in entry["targets"]:
            target.setdefault("values", {})["padding"] = "tuple({v}) if isinstance({v}, list) else {v}"
    if entry["targets"]:
        entry["probe"] = generated_probe(api, kind, sig)
    return entry


PADDING_LAYER = re.compile(r"torch\.nn\.(Zero|Constant|Reflection|Replication|Circular)Pad[123]d")
# In-place methods whose result has another shape or meaning than the receiver's: not derived.
NOT_DERIVED_IN_PLACE = {"squeeze_", "unsqueeze_", "transpose_", "swapaxes_", "swapdims_", "t_", "detach_",
                        "log_normal_", "requires_grad_", "share_memory_", "resize_", "resize_as_", "set_"}


def derived_in_place(entries: list[Entry], names: set[str]) -> list[Entry]:
    """torch's in-place `Tensor.op_` with no entry of its own, where `Tensor.op` has rules: the same targets
    with the result written back (MindSpore's in-place arithmetic does nothing on CPU); the probe is the
    base's with the in-place call, so `kb verify` runs it like any other."""
    import torch
    by_name = {n: e for e in entries for n in e.names}
    out = []
    for method in sorted(n for n in dir(torch.Tensor) if n.endswith("_") and not n.startswith("_")):
        api, base = f"torch.Tensor.{method}", by_name.get(f"torch.Tensor.{method[:-1]}")
        if api in names or method in NOT_DERIVED_IN_PLACE or base is None or not base.targets:
            continue
        plain = f".{method[:-1]}("
        probe = None
        if base.probe and all(plain in c.code for c in base.probe.cases):
            probe = base.probe.model_copy(update={"cases": [
                c.model_copy(update={"code": c.code.replace(plain, f".{method}(")}) for c in base.probe.cases]})
        targets = [t.model_copy(update={"assign_result": True, "verdicts": {}}) for t in base.targets]
        out.append(Entry(api=api, kind="method", signature=base.signature, targets=targets, probe=probe,
                         sources=base.sources, notes=f"In place: {base.api} written back into the receiver "
                         "(MindSpore's in-place arithmetic does nothing on CPU)."))
    return out


# ---------------------------------------------------------------- assembly
def load_curated(src: Path) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for f in sorted(src.glob("*.yaml")):
        for raw in yaml.safe_load(f.read_text()) or []:
            if raw["api"] in out:
                raise SystemExit(f"{f}: {raw['api']} curated twice")
            out[raw["api"]] = raw
    return out


def normalise(raw: dict) -> dict:
    """An unsupported argument given its torch default is simply dropped: say so in `args`."""
    for t in raw.get("targets") or []:
        for k in t.get("unsupported") or {}:
            t.setdefault("args", {}).setdefault(k, None)
    return raw


def add_seed_facts(raw: dict, probes: list[dict]) -> None:
    """Seed probe errors go into the notes so that retrieval finds entries by kernel name."""
    errs = [f"{r['label']}: {r['error']}" for r in probes if r["error"]]
    if errs:
        line = "Seed CPU probes (mindspore 2.10): " + "; ".join(errs)
        raw["notes"] = (raw.get("notes", "") + " " + line).strip() if line not in raw.get("notes", "") else raw["notes"]


def out_file(api: str) -> str:
    if api.startswith("torch.nn.functional."):
        return "functional"
    if api.startswith("torch.nn."):
        return "nn"
    if api.startswith("torch.Tensor."):
        return "tensor"
    if api.startswith("torch.optim."):
        return "optim"
    if api.startswith(("torch.linalg.", "torch.special.", "torch.fft.")) or api.count(".") == 1 and api.startswith("torch."):
        return "torch"
    return "other"


def seed_verdicts(entries: list[Entry], probes: dict[str, list[dict]]) -> dict:
    out: dict = {}
    for e in entries:
        for t in e.targets:
            rows = [r for r in probes.get(e.api, []) if r["target"] == t.api]
            if not rows:
                continue
            want = SEED_VARIANT.get((e.api, t.api))
            plain = [r for r in rows if r["label"] == r["label"].split(" ", 1)[0]]
            chosen = ([r for r in rows if r["label"] == want] or plain
                      or [r for r in rows if seed_status(r)[0] == "matched"] or rows)[0]
            status, detail = seed_status(chosen)
            if chosen["label"] != t.api.replace("mindspore.", ""):
                detail = f"{chosen['label']}: {detail}"
            out.setdefault(e.api, {})[t.api] = {"status": status, "detail": detail, "ms_version": "2.10.0",
                                                "torch_version": "2.13.0", "date": "", "source": "seed"}
    return {"device": "cpu", "verdicts": out}


def dump(entries: list[Entry], out: Path) -> None:
    groups: dict[str, list[dict]] = defaultdict(list)
    for e in sorted(entries, key=lambda e: e.api):
        d = e.model_dump(exclude_defaults=True)
        for t in d.get("targets", []):
            t.pop("verdicts", None)
        groups[out_file(e.api)].append(d)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    for name in OUT_FILES:
        text = yaml.dump(groups.get(name, []), Dumper=dumper, sort_keys=False, allow_unicode=True, width=110)
        (out / f"{name}.yaml").write_text(f"# Generated by tools/build_kb.py from tools/kb_src/ and tools/kb_seed/: edit those.\n{text}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=Path, default=ROOT / "tools" / "kb_seed")
    ap.add_argument("--src", type=Path, default=ROOT / "tools" / "kb_src")
    ap.add_argument("--out", type=Path, default=ROOT / "mapping_kb")
    a = ap.parse_args()
    warnings.filterwarnings("ignore")
    curated = load_curated(a.src)
    mappings, probes = read_mappings(a.seed), read_probes(a.seed)
    entries, names = [], set()
    curated_aliases = {n for raw in curated.values() for n in raw.get("aliases", [])}
    for api in sorted(set(mappings) | set(curated)):
        if api in curated_aliases and api not in curated:
            continue  # a curated entry already answers to this name
        raw = normalise(dict(curated[api])) if api in curated else generate(api, mappings[api])
        add_seed_facts(raw, probes.get(api, []))
        if raw.get("kind") == "class" and api.startswith("torch.nn.") and resets_parameters(api):
            raw["resets_parameters"] = True
        e = Entry(**raw)
        clash = names & set(e.names)
        if clash:
            print(f"skip duplicate name(s) {sorted(clash)} in {api}", file=sys.stderr)
            e.aliases = [n for n in e.aliases if n not in names]
            if e.api in names:
                continue
        names |= set(e.names)
        entries.append(e)
    entries += derived_in_place(entries, names)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "verdicts").mkdir(exist_ok=True)
    dump(entries, a.out)
    vfile = a.out / "verdicts" / "cpu.json"
    data = seed_verdicts(entries, probes)
    if vfile.exists():  # verdicts that `msagent kb verify` ran here outrank the seed's
        old = json.loads(vfile.read_text())
        for api, per_target in old.get("verdicts", {}).items():
            for tapi, v in per_target.items():
                if v.get("source") == "probe":
                    data["verdicts"].setdefault(api, {})[tapi] = v
        data = {**{k: v for k, v in old.items() if k != "verdicts"}, **data}
    vfile.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    n_rules = sum(1 for e in entries if e.targets)
    n_probe = sum(1 for e in entries if e.targets and e.probe)
    print(f"{len(entries)} entries, {n_rules} with rules, {n_probe} with rules and probes, {len(curated)} curated")


if __name__ == "__main__":
    main()
