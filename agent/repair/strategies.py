"""Repairers: each proposes new drafts of OUT files for a failed unit, best first.

KBAlternatives retranslates with another KB target for the APIs the failure points at (the
diverging submodule's class, or the entries the error text retrieves), e.g. mint → ops/nn when a
kernel is missing on the device. LLMRepair (repair/llm_repair.py) asks the configured model.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from agent.kb.schema import Entry, Target
from agent.repair.workspace import Repairer, Workspace
from agent.scan.names import canonical


@dataclass
class Attempt:
    files: dict[str, str]  # rel path in OUT -> new contents
    description: str
    tokens: int = 0
    learned: list[dict] = field(default_factory=list)


class KBAlternatives:
    name = "kb-alternative"

    def __init__(self, ws: Workspace):
        self.ws = ws

    def _suspects(self, unit, result: dict) -> list[Entry]:
        kb = self.ws.kb
        found: list[Entry] = []
        # the torch APIs the unit's own source uses, and those the divergence names, before any text search
        from agent.repair.classify import classify

        source = self.ws.sources.get(unit.file, "")
        draft = self.ws.drafts.get(unit.file, "")
        report = classify(result, unit, source, kb, self.ws.device, draft)
        for name in report.torch_apis:
            e = kb.get(canonical(name))
            if e is not None and e not in found and self._failing_here(e, result):
                found.append(e)
        div = result.get("divergence") or {}
        for key in ("torch_api", "torch_class"):
            name = div.get(key)
            if name:
                e = kb.get(canonical(name)) or kb.get(f"torch.nn.{name.rsplit('.', 1)[-1]}")
                if e and e not in found:
                    found.append(e)
        text = result.get("reason") or ""
        if text:
            try:
                from agent.kb import retrieve

                for e in retrieve.search(kb, text, k=3):
                    if e not in found:
                        found.append(e)
            except Exception:  # retrieval is a hint; without it the divergence still guides us
                pass
        return [e for e in found if len(e.targets) > 1]

    def propose(self, unit, result: dict) -> Iterator[Attempt]:
        if result.get("failure") in ("timeout", "crash", "weights", "precision") and not result.get("divergence"):
            return
        kb, device = self.ws.kb, self.ws.device
        for entry in self._suspects(unit, result):
            current = kb.target_for(entry, device)
            for alt in kb.alternatives(entry, device, exclude=current):
                files = self._retranslate({entry.api: alt})
                if files:
                    from agent.repair import learn

                    yield Attempt(files, f"{entry.api}: use {alt.api} instead of {current.api if current else 'none'}",
                                  learned=[learn.candidate_from_alternative(entry, alt, unit, device)])

    def _retranslate(self, overrides: dict[str, Target]) -> dict[str, str]:
        changed = {}
        for rel in self.ws.sources:
            new = self.ws.translate(rel, overrides)
            if new != self.ws.drafts.get(rel):
                changed[rel] = new
        return changed

    def _failing_here(self, entry: Entry, result: dict) -> bool:
        """Worth trying another target: the current one is unverified here, or the failure names it."""
        current = self.ws.kb.target_for(entry, self.ws.device)
        if current is None:
            return False
        verdict = current.verdicts.get(self.ws.device)
        text = (result.get("reason") or "") + str(result.get("divergence") or "")
        short = entry.api.rsplit(".", 1)[-1]
        return verdict is None or verdict.status != "matched" or short.lower() in text.lower()

    def accepted(self, unit, attempt: Attempt) -> None:
        """A KB alternative reached parity: record it as a candidate so the next run needs no repair."""
        if not attempt.learned:
            return
        from agent.repair import learn

        learn.record_candidates(self.ws.out, attempt.learned)


def repairers_for(ws: Workspace, with_llm: bool) -> list[Repairer]:
    out: list = [KBAlternatives(ws)]
    if with_llm:
        from agent.repair.llm_repair import LLMRepair

        out.append(LLMRepair(ws))
    return out
