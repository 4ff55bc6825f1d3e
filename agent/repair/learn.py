"""A KB that learns: mappings a repair proved at parity become candidate entries for the user to accept.

When an LLM draft reaches parity using a MindSpore API the KB does not list for a torch API of the
unit (same final name, e.g. torch.nn.functional.silu -> mindspore.ops.silu), the pair is a
candidate entry in the KB schema, with a probe built from the call in the torch source. A torch
API the draft replaced by a composition (torch.einsum -> matmul + transpose) is kept as a
`pattern`: worth reading, not a mapping. A KB alternative that reached parity is a `verdict`
candidate: the KB already holds the mapping and only `msagent kb verify` may record the verdict.

Candidates accumulate in OUT/.msagent/kb-candidates.yaml; `accept(path, kb_dir)` appends the
proven new entries to kb_dir/learned.yaml (`msagent kb accept`: the user's KB layer, never the
packaged KB, whose names are passed as `base_dirs` so an entry there is not added twice).
"""
from __future__ import annotations

import ast
import datetime
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from agent.kb.schema import Entry, Probe, ProbeCase, Target
from agent.kb.store import KB
from agent.repair.classify import unit_node, unit_torch_apis
from agent.scan.names import import_aliases, parse_python, qualify
from agent.write.atomic import write_text

CANDIDATES_FILE = ".msagent/kb-candidates.yaml"
LEARNED_FILE = "learned.yaml"
# MindSpore names any translation uses whatever the torch code did: never evidence of a mapping.
_STRUCTURAL = ("mindspore.nn.Cell", "mindspore.Parameter", "mindspore.Tensor", "mindspore.float", "mindspore.int",
               "mindspore.common", "mindspore.dtype", "mindspore.set_context")


def _norm(name: str) -> str:
    return name.rsplit(".", 1)[-1].replace("_", "").lower()


def ms_apis(code: str, name: str | None = None) -> list[str]:
    """Qualified MindSpore names used in `code` (in the top-level class or function `name` when given)."""
    tree = parse_python(code)
    aliases = import_aliases(tree, "mindspore")
    scope = unit_node(tree, name) if name else tree
    if scope is None or not aliases:
        return []
    names: list[str] = []
    for n in ast.walk(scope):
        if isinstance(n, (ast.Attribute, ast.Name)):
            q = qualify(n, aliases)
            if q and q not in names:
                names.append(q)
    names = [q for q in names if not any(o != q and o.startswith(q + ".") for o in names)]
    return [q for q in names if not q.startswith(_STRUCTURAL)]


def _namespace(ms_api: str) -> str:
    return "mint" if ms_api.startswith("mindspore.mint") else "legacy"


def _first_call(torch_source: str, unit_name: str, api: str) -> ast.Call | None:
    tree = parse_python(torch_source)
    aliases = import_aliases(tree, "torch")
    scope = unit_node(tree, unit_name) or tree
    for n in ast.walk(scope):
        if isinstance(n, ast.Call) and qualify(n.func, aliases) == api:
            return n
    return None


def generated_probe(torch_source: str, unit_name: str, api: str, kind: str) -> Probe:
    """A probe from the unit's own call of `api`: literal arguments kept, the others replaced by small inputs.

    A starting point: `msagent kb verify` runs it against torch first and says when the guess is wrong.
    """
    call = _first_call(torch_source, unit_name, api)
    args, setup = [], []
    for i, a in enumerate(call.args if call else [ast.Name("x")]):
        if isinstance(a, ast.Constant):
            args.append(repr(a.value))
        elif kind == "class":
            args.append("4")  # a layer's size arguments: one small size for all
        else:
            setup.append(f"t{i} = torch.randn(4, 4)")
            args.append(f"t{i}")
    for kw in call.keywords if call else []:
        if kw.arg and isinstance(kw.value, ast.Constant):
            args.append(f"{kw.arg}={kw.value.value!r}")
    if kind == "class":
        return Probe(setup="x = torch.randn(2, 4)", cases=[ProbeCase(style="from-source", code=f"{api}({', '.join(args)})")],
                     call="m(x)")
    return Probe(setup="\n".join(setup) or "x = torch.randn(4, 4)",
                 cases=[ProbeCase(style="from-source", code=f"{api}({', '.join(args) or 'x'})")])


def _kind_of(api: str) -> str:
    if api.startswith("torch.Tensor."):
        return "method"
    return "class" if api.rsplit(".", 1)[-1][:1].isupper() else "function"


def candidates_from_draft(kb: KB, device: str, unit, torch_source: str, code: str, by: str = "llm") -> list[dict]:
    """Candidates implied by a draft of `unit`: torch APIs of the unit the KB has no working mapping for here,
    or whose KB mapping the draft replaced. They are proven only once the draft reaches parity."""
    used = ms_apis(code, unit.name)
    known_targets = set()
    out: list[dict] = []
    apis = unit_torch_apis(torch_source, unit.name)
    for api in apis:
        e = kb.get(api)
        if e is not None:
            known_targets |= {t.api for t in e.targets}
    for api in apis:
        entry = kb.get(api)
        current = kb.target_for(entry, device) if entry is not None else None
        if current is not None and (current.namespace in ("tensor", "builtin") or current.api in used):
            continue  # the draft kept the KB's mapping: nothing new was learned about this API
        same_name = [m for m in used if _norm(m) == _norm(api) and (entry is None or m not in known_targets)]
        base = {"unit": f"{unit.module}.{unit.name}", "by": by, "device": device, "proven": False}
        if same_name:
            ms = same_name[0]
            kind = entry.kind if entry else _kind_of(api)
            target = Target(namespace=_namespace(ms), api=ms, notes=f"learned from {base['unit']} ({by} repair)")
            new = Entry(api=api, kind=kind, signature=entry.signature if entry else None, targets=[target],
                        probe=(entry.probe if entry and entry.probe else generated_probe(torch_source, unit.name, api, kind)),
                        notes=f"Candidate: {api} -> {ms} reached parity in {base['unit']} on {device}.",
                        sources=[f"learned: {base['unit']}"])
            out.append({**base, "kind": "new-target" if entry else "new-entry", "entry": new.model_dump(exclude_defaults=True)})
        else:
            residual = [m for m in used if m not in known_targets]
            if residual:
                note = Entry(api=api, kind=_kind_of(api), notes=f"No one-to-one MindSpore API; {base['unit']} reached "
                             f"parity on {device} composing: {', '.join(residual)}.", sources=[f"learned: {base['unit']}"])
                out.append({**base, "kind": "pattern", "entry": note.model_dump(exclude_defaults=True)})
    return out


def candidate_from_alternative(entry: Entry, target: Target, unit, device: str) -> dict:
    """A KB alternative reached parity where the preferred target did not: a verdict to record by probe."""
    return {"unit": f"{unit.module}.{unit.name}", "by": "kb-alternative", "device": device, "proven": False,
            "kind": "verdict", "entry": Entry(api=entry.api, kind=entry.kind, targets=[target.model_copy(update={"verdicts": {}})],
                                               notes=f"{target.api} reached parity on {device} where the preferred "
                                               "target failed; run `msagent kb verify` to record it.").model_dump(exclude_defaults=True)}


def load_candidates(path: Path) -> list[dict]:
    if not Path(path).is_file():
        return []
    return list(yaml.safe_load(Path(path).read_text()) or [])


def record_candidates(out: Path, candidates: list[dict], evidence: str = "") -> Path:
    """Add proven candidates to OUT/.msagent/kb-candidates.yaml (one per api, target and kind)."""
    path = Path(out) / CANDIDATES_FILE
    have = load_candidates(path)
    keys = {_key(c) for c in have}
    for c in candidates:
        c = {**c, "proven": True, "date": datetime.date.today().isoformat()}
        if evidence:
            c["evidence"] = evidence
        if _key(c) not in keys:
            have.append(c)
            keys.add(_key(c))
    write_text(path, yaml.safe_dump(have, sort_keys=False, allow_unicode=True))
    return path


def _key(c: dict) -> tuple:
    e = c.get("entry", {})
    return (c.get("kind"), e.get("api"), tuple(t.get("api") for t in e.get("targets", [])))


@dataclass
class AcceptResult:
    accepted: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (api, why)


def _names_by_file(kb_dir: Path, label: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for f in sorted(kb_dir.glob("*.yaml")):
        for raw in yaml.safe_load(f.read_text()) or []:
            for n in [raw.get("api"), *raw.get("aliases", [])]:
                if n:
                    out.setdefault(n, label + f.name)
    return out


def accept(candidates_path: str | Path, kb_dir: str | Path, base_dirs: list[str | Path] = ()) -> AcceptResult:
    """Append the proven new-entry candidates to kb_dir/learned.yaml (created with its folder when
    needed); say why each other one was left out. A name already in kb_dir or in one of `base_dirs`
    (the packaged KB under a user layer) is not added again."""
    kb_dir = Path(kb_dir)
    result = AcceptResult()
    owners = _names_by_file(kb_dir) if kb_dir.is_dir() else {}
    for base in base_dirs:
        for n, where in _names_by_file(Path(base), label="the packaged ").items():
            owners.setdefault(n, where)
    learned_path = kb_dir / LEARNED_FILE
    learned = list(yaml.safe_load(learned_path.read_text()) or []) if learned_path.is_file() else []
    for c in load_candidates(Path(candidates_path)):
        raw = c.get("entry") or {}
        api = raw.get("api", "?")
        if not c.get("proven"):
            result.skipped.append((api, "not proven: its repair never reached parity"))
            continue
        if c.get("kind") == "verdict":
            result.skipped.append((api, f"the KB has this mapping; run `msagent kb verify {api}` to record the verdict"))
            continue
        if c.get("kind") == "pattern":
            result.skipped.append((api, "a composition, not a one-to-one mapping: " + raw.get("notes", "")))
            continue
        try:
            entry = Entry(**raw)
        except Exception as exc:
            result.skipped.append((api, f"not a valid KB entry: {exc}"))
            continue
        if not entry.targets or entry.probe is None:
            result.skipped.append((api, "needs a target and a probe"))
            continue
        clash = next((n for n in entry.names if n in owners), None)
        if clash is not None:
            where = owners[clash]
            fix = (f"the packaged KB is not written: a new target ({entry.targets[0].api}) belongs in "
                   "tools/kb_src/ of a checkout" if where.startswith("the packaged ")
                   else f"add the target {entry.targets[0].api} there by hand")
            result.skipped.append((api, f"{clash} already has an entry in {where}; {fix}"))
            continue
        learned.append(entry.model_dump(exclude_defaults=True))
        for n in entry.names:
            owners[n] = LEARNED_FILE
        result.accepted.append(api)
    if result.accepted:
        kb_dir.mkdir(parents=True, exist_ok=True)
        tmp = learned_path.with_suffix(".yaml.tmp")
        tmp.write_text(yaml.safe_dump(learned, sort_keys=False, allow_unicode=True))
        os.replace(tmp, learned_path)
    return result
