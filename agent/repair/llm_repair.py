"""The LLM repairer: ask the configured model for a new draft of the failing unit's file, round by round.

Round one drafts the module from scratch (prompts/draft_module.j2) when the rules left torch code
in the file, else asks for a repair of the current draft (prompts/repair_module.j2). Every later
round shows the model its own last draft and the failure that draft produced. A reply that holds
no Python block, does not parse, imports torch or drops the unit is rejected: the round still
counts, its reason is recorded, and the next prompt says why the answer was refused.

Outside the repair loop: `propose_spec` asks for a verification spec when none ran on the torch
side, and `needs_llm_reason` words what a unit lacks when no LLM is configured.
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from agent.llm.client import LLM, LLMUnavailable
from agent.llm.extract import CodeSyntaxError, NoCodeBlock, check_no_torch, extract_python_block
from agent.llm.prompts import chat
from agent.repair.classify import FailureReport, classify, describe_entries, unit_source
from agent.repair.strategies import Attempt
from agent.repair.workspace import Workspace
from agent.scan.names import parse_python

CACHE_FILE = ".msagent/llm-cache.sqlite"
# Whole files above this size are cut to the unit's own source in prompts.
_MAX_SOURCE_CHARS = 24_000


class Rejected(ValueError):
    """A reply the repairer will not hand to the verifier."""


def make_llm(settings, out: Path) -> LLM | None:
    """An LLM client for the run (cache in OUT/.msagent/ unless configured); None when none is configured."""
    if settings is None:
        return None
    if settings.cache_path is None:
        settings = settings.model_copy(update={"cache_path": Path(out) / CACHE_FILE})
    return LLM(settings)


def code_from_reply(text: str, unit_name: str) -> str:
    """The module in a reply, or Rejected with the reason a verifier run would be wasted on it."""
    try:
        code = extract_python_block(text)
    except NoCodeBlock as exc:
        raise Rejected(f"no code block: {exc}") from None
    try:
        torch_uses = check_no_torch(code)
    except CodeSyntaxError as exc:
        raise Rejected(f"the code does not parse: {exc}") from None
    if torch_uses:
        raise Rejected("the code uses torch: " + "; ".join(torch_uses[:3]))
    tree = parse_python(code)
    defined = {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))}
    defined |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    if unit_name not in defined:
        raise Rejected(f"the code does not define {unit_name}")
    return code


def _source_for_prompt(source: str, name: str) -> str:
    return source if len(source) <= _MAX_SOURCE_CHARS else unit_source(source, name)


class LLMRepair:
    name = "llm"

    def __init__(self, ws: Workspace):
        self.ws = ws
        self.llm = ws.llm()
        self._observed: dict[int, dict] = {}
        self.last_result: dict | None = None

    # -- the loop's side ---------------------------------------------------------------------
    def observe(self, unit, attempt: Attempt, result: dict) -> None:
        """The loop hands over the verification of an attempt (saves re-verifying it here)."""
        self._observed[id(attempt)] = result

    def accepted(self, unit, attempt: Attempt) -> None:
        from agent.repair import learn

        seen = self._observed.pop(id(attempt), None) or {}
        if attempt.learned:
            evidence = f"{unit.key} verified after an LLM repair on {self.ws.device}"
            if seen.get("trials"):
                evidence += f": {seen['trials']} trials, max abs error {seen.get('max_abs')}"
            learn.record_candidates(Path(self.ws.out), attempt.learned, evidence=evidence)

    # -- proposing ---------------------------------------------------------------------------
    def report(self, unit, result: dict, draft: str) -> FailureReport:
        ws = self.ws
        return classify(result, unit, ws.sources.get(unit.file, ""), ws.kb, ws.device, draft=draft)

    def messages(self, unit, result: dict, draft: str, rejected: str = "") -> list[dict]:
        """The request for one round: a fresh draft when `draft` still uses torch, else a repair of it."""
        device = self.ws.device
        torch_source = _source_for_prompt(self.ws.sources.get(unit.file, ""), unit.name)
        report = self.report(unit, result, draft)
        kb_entries = describe_entries(report.kb_entries, device)
        if _uses_torch(draft):
            markers = [f"line {m.line}: {m.reason}" for m in self.ws.markers(unit.file)]
            if rejected:
                markers.append(f"your previous answer was refused: {rejected}")
            return chat("draft_module", unit_name=unit.name, device=device, torch_source=torch_source,
                        markers=markers, kb_entries=kb_entries)
        failure = report.for_prompt()
        if rejected:
            failure["message"] += f"\n\nYour previous answer was refused: {rejected}"
        return chat("repair_module", unit_name=unit.name, device=device, torch_source=torch_source,
                    draft_source=_source_for_prompt(draft, unit.name), failure=failure, kb_entries=kb_entries)

    def propose(self, unit, result: dict) -> Iterator[Attempt]:
        if self.llm is None or unit.file not in self.ws.drafts or result.get("failure") == "precision":
            return  # (float32 rounding decides a precision failure: no draft changes that)
        draft = self.ws.drafts[unit.file]
        rejected = ""
        for n in range(1, self.ws.rounds + 1):
            try:
                reply = self.llm.complete(self.messages(unit, result, draft, rejected))
            except LLMUnavailable as exc:
                # Recorded as a round so the report says why the LLM did not help; no point asking again.
                yield Attempt({}, f"llm round {n}: no reply: {exc}")
                return
            tokens = 0 if reply.cached else reply.tokens
            try:
                code = code_from_reply(reply.text, unit.name)
            except Rejected as exc:
                rejected = str(exc)
                refused = Attempt({}, f"llm round {n}: reply refused: {rejected}", tokens=tokens)
                yield refused
                self._observed.pop(id(refused), None)  # the draft did not change: nothing new to learn
                continue
            rejected = ""
            attempt = Attempt({unit.file: code}, f"llm round {n}: new draft of {unit.file}", tokens=tokens,
                              learned=self._learned(unit, code))
            yield attempt
            result = self._result_of(unit, attempt)
            self.last_result = result
            draft = code

    def _learned(self, unit, code: str) -> list[dict]:
        from agent.repair import learn

        ws = self.ws
        try:
            return learn.candidates_from_draft(ws.kb, ws.device, unit, ws.sources.get(unit.file, ""), code, by="llm")
        except Exception:  # learning is a by-product: it must never cost the repair
            return []

    def _result_of(self, unit, attempt: Attempt) -> dict:
        """The verification of `attempt`: handed over by the loop, else verified here once more."""
        seen = self._observed.pop(id(attempt), None)
        if seen is not None:
            return seen
        # The loop has reverted the file: verified with the attempt in place just long enough to see its failure.
        return self.ws.verify_with(unit, attempt.files)


def _uses_torch(code: str) -> bool:
    try:
        return bool(check_no_torch(code))
    except CodeSyntaxError:
        return True  # a draft that does not parse is no base to repair from


def propose_spec(ws: Workspace, unit, failure: dict) -> dict | None:
    """A verification spec proposed by the LLM for a `not-exercised` unit; None without an LLM or a usable reply.

    The spec is unproven: the caller puts it first among the unit's specs and verifies again;
    the torch side decides whether it is valid.
    """
    from agent.llm.spec_reply import BadSpecReply, parse_spec_reply

    llm = ws.llm()
    if llm is None:
        return None
    source = ws.sources.get(unit.file, "")
    reason = (failure or {}).get("reason") or ""
    tried = [t.strip() for t in reason.split("tried:", 1)[1].split(" | ")] if "tried:" in reason else []
    messages = chat("propose_spec", unit_name=unit.name, unit_kind=unit.kind,
                    torch_source=_source_for_prompt(source, unit.name), tried=[t for t in tried if t][:8])
    try:
        reply = llm.complete(messages)
        return parse_spec_reply(reply.text)
    except (LLMUnavailable, BadSpecReply):
        return None


def needs_llm_reason(result: dict) -> str:
    """Why a unit that is still not verified needs an LLM, for the report; '' when an LLM would not help."""
    status, kind, reason = result.get("status"), result.get("failure"), result.get("reason") or ""
    how = "configure one with --llm-base-url and --llm-model"
    if status == "verified":
        return ""
    if status == "not-exercised":
        if "no spec ran on the torch side" in reason and "missing module" not in reason:
            return f"needs a spec: add one under [verify] in msagent.toml, or an LLM can propose one ({how})"
        return ""  # a missing dependency or a skipped unit: no model fixes that
    if kind in ("network", "memory", "protocol", "precision") or "the torch original" in reason:
        return ""  # the sandbox's limits, or the original itself hangs or crashes: no draft fixes that
    if kind == "import" and "installed here and built on torch" in reason:
        return ""  # the reason says what to do: no draft of this file removes a library's own import of torch
    if kind == "import" and "imports torch" in reason:
        return f"the rules left torch code in this file; an LLM draft is needed ({how})"
    if "NameError: name " in reason:  # a torch name the rules could not convert (no import binds it any more)
        return f"the unit runs code the rules left unconverted (see its `# msagent:` markers); an LLM draft is needed ({how})"
    if kind == "import" and "failed to import" in reason:
        return ""
    return f"KB alternatives did not fix this {kind or 'failure'}; an LLM repair is needed ({how})"
