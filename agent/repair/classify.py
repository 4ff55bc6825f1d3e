"""Turn a verification result into a failure report: what kind, what text, where, which torch APIs, which KB entries.

The report is what a repair needs in hand: the LLM prompt shows it, KB retrieval starts from its
API names. The torch APIs come from three places, most specific first: the first diverging
submodule, the torch names in the error text and in the draft's `# msagent:` markers, and every
torch name the unit's own class or function uses in the PyTorch source.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from agent.kb.schema import Entry
from agent.kb.store import KB
from agent.scan.names import import_aliases, parse_python, qualify

KINDS = ("import", "construct", "missing-kernel", "shape", "value", "exception", "timeout", "crash", "weights")
MAX_ENTRIES = 8
_TORCH_NAME = re.compile(r"\btorch(?:\.[A-Za-z_]\w*)+")
# Names every module uses; listing them in a prompt costs tokens and says nothing about the failure.
_NOISE = {"torch.nn.Module", "torch.nn.modules.module.Module", "torch.Tensor", "torch.nn", "torch.nn.functional"}


@dataclass
class FailureReport:
    kind: str
    message: str
    divergence: dict | None  # prompt form: path, class, torch_api, mapping (see prompts/README.md)
    torch_apis: list[str] = field(default_factory=list)
    kb_entries: list[Entry] = field(default_factory=list)

    def for_prompt(self) -> dict:
        """The `failure` variable of prompts/repair_module.j2."""
        return {"kind": self.kind, "message": self.message, "divergence": self.divergence}


# A kernel missing on the device, however MindSpore words it; MindSpore raises some of these lazily
# (when the output is first read), so the verifier can report them as a plain exception.
_NO_KERNEL = re.compile(r"kernel.{0,80}(unregistered|not registered|not found|not support)|Kernel select failed"
                        r"|Unsupported op|only supports? Ascend|not supported on this device", re.I | re.S)


def _kind(result: dict) -> str:
    kind = result.get("failure")
    if kind == "exception" and _NO_KERNEL.search(result.get("reason") or ""):
        return "missing-kernel"
    if kind:
        return kind
    if result.get("status") == "not-exercised":
        return "not-exercised"
    return "exception"


# Parts of MindSpore errors that change from run to run (graph and node numbers, addresses) or
# speak to framework developers only; left in, they would make every prompt unique and uncacheable.
_VOLATILE = re.compile(r"(?<=graph)\d+|(?<=CNode_)\d+|(?<=Parameter_)\d+|0x[0-9a-fA-F]{6,}")
_DEVELOPER_TAIL = re.compile(r"\n-* ?\n?- C\+\+ Call Stack.*", re.S)


def clean_error(text: str) -> str:
    """An error message with its run-specific numbers masked and the C++ stack dropped."""
    return _VOLATILE.sub("N", _DEVELOPER_TAIL.sub("", text)).strip()


def _message(result: dict) -> str:
    lines = [clean_error(result.get("reason") or "(no reason recorded)")]
    if result.get("max_abs") is not None:
        rel = result.get("max_rel")
        lines.append(f"max abs error {result['max_abs']:.3g}" + (f", max rel error {rel:.3g}" if rel is not None else ""))
    spec = result.get("spec") or {}
    if spec.get("init") or spec.get("inputs"):
        shapes = [[i.get("shape") for i in size] for size in spec.get("inputs") or []]
        lines.append(f"verified with init {spec.get('init')!r}, input shapes {shapes}")
    return "\n".join(lines)


def unit_node(tree: ast.Module, name: str) -> ast.AST | None:
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return node
    return None


def unit_source(source: str, name: str) -> str:
    """The text of the top-level class or function `name` in `source`; the whole file when not found."""
    try:
        tree = parse_python(source)
    except (SyntaxError, ValueError, RecursionError):
        return source
    node = unit_node(tree, name)
    segment = ast.get_source_segment(source, node) if node is not None else None
    return segment or source


def unit_torch_apis(source: str, name: str) -> list[str]:
    """Qualified torch names the unit's class or function uses, in source order, outermost only."""
    try:
        tree = parse_python(source)
    except (SyntaxError, ValueError, RecursionError):
        return []
    aliases = import_aliases(tree, "torch")
    node = unit_node(tree, name)
    if node is None or not aliases:
        return []
    found: list[tuple[int, int, str]] = []
    for n in ast.walk(node):
        if isinstance(n, (ast.Attribute, ast.Name)):
            q = qualify(n, aliases)
            if q:
                found.append((n.lineno, n.col_offset, q))
    names: list[str] = []
    for _, _, q in sorted(found):
        if q not in names:
            names.append(q)
    # `torch.nn` is a prefix of `torch.nn.Linear`: keep only the longest chain.
    return [q for q in names if q not in _NOISE and not any(o != q and o.startswith(q + ".") for o in names)]


def _canonical(name: str) -> str:
    if name.startswith("torch.nn.modules."):
        return "torch.nn." + name.rsplit(".", 1)[1]
    return name


def _exact(kb: KB, name: str) -> Entry | None:
    try:
        from agent.kb.retrieve import exact
    except ImportError:  # retrieval not installed: the plain name lookup still covers qualified names
        return kb.get(_canonical(name))
    return exact(kb, name)


def _search(kb: KB, text: str, k: int) -> list[Entry]:
    try:
        from agent.kb.retrieve import search
    except ImportError:
        return []  # without BM25 the exact names are all the KB context we give
    try:
        return search(kb, text, k=k)
    except Exception:  # retrieval is a hint; a broken index must not stop a repair
        return []


def _divergence(div: dict | None, apis: list[str], kb: KB, device: str) -> dict | None:
    if not div:
        return None
    cls = div.get("torch_class") or div.get("class")
    torch_api = div.get("torch_api")
    if not torch_api and cls:
        # A repo class is not a torch API; a torch layer is named by the source or the KB.
        torch_api = next((a for a in apis if a.rsplit(".", 1)[-1] == cls), None)
        if torch_api is None and _exact(kb, f"torch.nn.{cls}") is not None:
            torch_api = f"torch.nn.{cls}"
    mapping = div.get("mapping") or div.get("ms_class")
    entry = _exact(kb, torch_api) if torch_api else None
    target = kb.target_for(entry, device) if entry else None
    if target is not None:
        mapping = f"{target.api} ({div.get('ms_class') or mapping})" if div.get("ms_class") else target.api
    out = {"path": div.get("path") or "(top level)", "class": cls, "torch_api": torch_api, "mapping": mapping}
    for key in ("max_abs", "reason", "isolated"):
        if div.get(key) is not None:
            out[key] = div[key]
    return out


def marker_apis(draft: str) -> list[str]:
    """Torch names the rules' `# msagent:` markers mention in a draft."""
    out: list[str] = []
    for line in draft.splitlines():
        if "# msagent:" in line:
            out += [m for m in _TORCH_NAME.findall(line) if m not in out]
    return out


def classify(result: dict, unit, torch_source: str, kb: KB, device: str, draft: str = "") -> FailureReport:
    """The failure report for `unit` (scan.units.Unit or its request dict) from its verification `result`."""
    name = unit["name"] if isinstance(unit, dict) else unit.name
    in_unit = unit_torch_apis(torch_source, name)
    divergence = _divergence(result.get("divergence"), in_unit, kb, device)
    apis: list[str] = []
    if divergence and divergence.get("torch_api"):
        apis.append(divergence["torch_api"])
    text = result.get("reason") or ""
    for q in [*_TORCH_NAME.findall(text), *marker_apis(draft), *in_unit]:
        q = _canonical(q)
        if q not in apis and q not in _NOISE:
            apis.append(q)

    entries: list[Entry] = []
    for q in apis:  # exact names first: they are the APIs this unit really calls
        e = _exact(kb, q)
        if e is not None and e not in entries:
            entries.append(e)
    if text:
        for e in _search(kb, text, k=3):
            if e not in entries:
                entries.append(e)
    return FailureReport(kind=_kind(result), message=_message(result), divergence=divergence,
                         torch_apis=apis, kb_entries=entries[:MAX_ENTRIES])


def describe_entries(entries: list[Entry], device: str) -> list[str]:
    from agent.llm.prompts import describe_kb_entry

    return [describe_kb_entry(e, device) for e in entries]
