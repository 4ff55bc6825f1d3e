"""Per unit: verify → classify → repair → verify, within the round budget.

The loop a reader should hold in their head: a unit's translation is verified by the judge
(verify.judge: a torch sandbox, a MindSpore sandbox, the verdict computed here); on failure, repairs are proposed (KB alternatives first, then the LLM when one is
configured), each applied to the file in OUT and verified again; the first that reaches parity
stays, the others are reverted. Every attempt goes into the unit's record.
"""
from __future__ import annotations

from pathlib import Path

from agent.config import MigrateSettings
from agent.kb.store import KB
from agent.report.schema import UnitRecord
from agent.sandbox.pool import WorkerStartError
from agent.scan.units import Unit
from agent.verify.judge import Verifier
from agent.write.atomic import write_text


def levels_reached(levels: dict) -> tuple[str | None, str | None]:
    """(deepest level verified, first level failed) from a result's per-level statuses."""
    from agent.verify.levels import LEVELS

    reached = failed = None
    for name in LEVELS:
        status = (levels.get(name) or {}).get("status")
        if status == "verified" and failed is None:
            reached = name
        elif status == "failed" and failed is None:
            failed = name
    return reached, failed


def verifier_for(src: Path, out: Path, settings: MigrateSettings) -> Verifier:
    """The torch side sees SRC, the MindSpore side sees OUT; nothing else of this machine."""
    return Verifier.for_repo(src, out, timeout_s=settings.unit_timeout_s)


class UnitRunner:
    def __init__(self, src: Path, out: Path, kb: KB, settings: MigrateSettings, translated, verifier=None):
        self.src, self.out, self.kb, self.settings = src, out, kb, settings
        self.translated = translated
        self._own_verifier = verifier is None
        self.verifier = verifier or verifier_for(src, out, settings)
        self.verifier.start()
        missing = self.verifier.ready_info.get("preload_errors") or {}
        if missing:  # verification cannot run without both frameworks: say it once, not per unit
            if self._own_verifier:
                self.verifier.close()
            raise WorkerStartError("cannot import " + "; ".join(f"{m}: {e}" for m, e in missing.items()))
        self.module_classes = {u.name for u in translated.units if u.kind == "module"}
        self.observed: dict[str, set] = {}  # rel -> {(line, column, method)} where torch ran
        self._rewrites = 0  # files written into OUT by repairs and retranslations so far
        self.specs = self._find_specs()
        self.repairers = self._repairers()

    @property
    def isolation(self) -> dict:
        return dict(self.verifier.isolation)

    def close(self) -> None:
        for repairer in self.repairers:
            if hasattr(repairer, "close"):
                repairer.close()
        if self._own_verifier:
            self.verifier.close()

    def _find_specs(self) -> dict[str, list[dict]]:
        from agent.verify.specs import find_repo_specs

        return find_repo_specs(self.src, [u.as_request() for u in self.translated.units])

    def _repairers(self) -> list:
        from agent.repair.strategies import repairers_for

        return repairers_for(self)

    def translate(self, rel: str, overrides: dict | None = None) -> str:
        """The rules' translation of one SRC file, with what execution observed in it."""
        from agent.rules.engine import translate_source

        return translate_source(self.translated.sources[rel], self.kb, self.settings.device,
                                module_classes=self.translated.module_classes or self.module_classes,
                                nearest=self.translated.nearest, overrides=overrides,
                                observed=self.observed.get(rel)).code

    def observe(self, unit: Unit) -> dict | None:
        """Run the torch side once to see which calls are on tensors; retranslate files where that adds
        conversions static inference missed. Only files still holding the rules' own output change.
        A hang or crash of the torch side is the unit's result (returned): verifying would repeat it."""
        reply = self.verifier.observe(self.src, unit.as_request(), self.specs.get(unit.key, []),
                                      timeout=self.settings.unit_timeout_s, reuse=self._reuse(unit))
        if not reply.get("ok"):
            kind = reply.get("kind")
            if kind in ("timeout", "crash"):
                return {"status": "failed", "failure": kind,
                        "reason": f"{kind} while running the torch original: {reply.get('error', '')}".strip()}
            return None
        before = {rel: set(sites) for rel, sites in self.observed.items()}
        grown = set()
        for rel, line, col, name in reply["result"].get("sites", []):
            if rel in self.translated.sources:
                seen = self.observed.setdefault(rel, set())
                if (line, col, name) not in seen:
                    seen.add((line, col, name))
                    grown.add(rel)
        for rel in grown:
            current = self.translated.outputs.get(rel)
            now = self.observed[rel]
            self.observed[rel] = before.get(rel, set())
            previous = self.translate(rel)  # what the rules gave before these sites were known
            self.observed[rel] = now
            if current != previous:
                continue  # a repair already rewrote this file: leave it
            new = self.translate(rel)
            if new != current:
                self._apply({rel: new})
        return None

    def verify(self, unit: Unit) -> dict:
        return self.verifier.verify(self.src, self.out, unit.as_request(), self.specs.get(unit.key, []), kb=self.kb,
                                    device=self.settings.device, seeds=list(self.settings.seeds),
                                    level=self.settings.level, timeout=self.settings.unit_timeout_s,
                                    reuse=self._reuse(unit))

    def _reuse(self, unit: Unit) -> tuple:
        """Keys under which the sides' processes serve the next unit of the same file: the file for
        the torch original (SRC never changes), the file and the count of rewrites of OUT for the
        translation (a repair or a retranslation means a fresh process)."""
        return (str(self.src), unit.file), (str(self.out), unit.file, self._rewrites)

    def run(self, unit: Unit) -> UnitRecord:
        record = UnitRecord(file=unit.file, name=unit.name, kind=unit.kind, status="not-exercised",
                            level=self.settings.level)
        if unit.skip_reason:
            record.reason = unit.skip_reason
            return record
        torch_failed = self.observe(unit)  # the original itself hangs or crashes: nothing to repair
        result = torch_failed or self.verify(unit)
        if result["status"] == "not-exercised" and self.settings.llm is not None:
            result = self._with_proposed_spec(unit, result)
        rounds, tokens = 0, 0
        for repairer in self.repairers:
            if result["status"] == "verified" or rounds >= self.settings.rounds or torch_failed:
                break
            for attempt in repairer.propose(unit, result):
                if rounds >= self.settings.rounds:
                    break
                rounds += 1
                tokens += attempt.tokens
                if not attempt.files:  # a refused reply: the round counts, nothing to verify
                    record.repairs.append({"round": rounds, "by": repairer.name, "change": attempt.description,
                                           "status": "refused", "reason": attempt.description})
                    continue
                before = self._apply(attempt.files)
                new = self.verify(unit)
                if hasattr(repairer, "observe"):
                    repairer.observe(unit, attempt, new)
                record.repairs.append({"round": rounds, "by": repairer.name, "change": attempt.description,
                                       "status": new["status"], "reason": new.get("reason", "")})
                if new["status"] == "verified":
                    result = new
                    repairer.accepted(unit, attempt)
                    break
                self._apply(before)  # revert: the next attempt starts from the unrepaired draft
        if result.get("status") != "verified" and self.settings.llm is None:
            from agent.repair.llm_repair import needs_llm_reason

            extra = needs_llm_reason(result)
            if extra and extra not in (result.get("reason") or ""):
                result["reason"] = "; ".join(x for x in (result.get("reason"), extra) if x)
        return self._record(record, result, rounds, tokens)

    def _with_proposed_spec(self, unit: Unit, result: dict) -> dict:
        """No spec ran on the torch side: ask the LLM for one, and verify with it first."""
        from agent.repair.llm_repair import propose_spec

        spec = propose_spec(self, unit, result)
        if spec is None:
            return result
        self.specs[unit.key] = [spec, *self.specs.get(unit.key, [])]
        return self.verify(unit)

    def _apply(self, files: dict[str, str]) -> dict[str, str]:
        """Write new contents for OUT files; return the previous contents for a revert."""
        before = {}
        self._rewrites += 1
        for rel, text in files.items():
            before[rel] = self.translated.outputs.get(rel, "")
            write_text(self.out / rel, text)
            self.translated.outputs[rel] = text
        return before

    def _record(self, record: UnitRecord, result: dict, rounds: int, tokens: int) -> UnitRecord:
        status = result.get("status", "failed")
        if status == "verified":
            record.status = "verified-by-rules" if rounds == 0 else "verified-after-repair"
        else:
            record.status = status if status in ("failed", "not-exercised") else "failed"
        for key in ("reason", "failure", "trials", "max_abs", "max_rel", "cosine", "spec", "divergence", "seconds"):
            if result.get(key) is not None:
                setattr(record, key, result[key])
        record.weight_map = result.get("weight_map") or {}
        record.levels = result.get("levels") or {}
        record.level_reached, record.level_failed = levels_reached(record.levels)
        if record.status == "verified-after-repair":
            record.reason = f"after {rounds} repair round(s): " + "; ".join(
                r["change"] for r in record.repairs if r["status"] == "verified")
        record.rounds, record.llm_tokens = rounds, tokens
        return record
