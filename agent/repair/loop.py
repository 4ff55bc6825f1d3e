"""Per unit: verify → classify → repair → verify, within the round budget.

The loop a reader should hold in their head: a unit's translation is verified by the judge
(verify.judge: a torch sandbox, a MindSpore sandbox, the verdict computed here); on failure, repairs are proposed (KB alternatives first, then the LLM when one is
configured), each applied to the file in OUT and verified again; the first that reaches parity
stays, the others are reverted. Every attempt goes into the unit's record.

With `--jobs N` the pipeline runs N runners at once (`UnitRunner.lane`), each on its own verifier,
one file's units at a time. They share one `RunState`: the OUT texts, where torch ran, the count of
rewrites of OUT, and a readers-writer lock over OUT: verifying reads OUT (shared), a retranslation
or a repair attempt writes it (exclusive; the attempt is verified and kept or reverted before the
lock is let go), so no unit is ever judged on another unit's unfinished draft.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType

from agent.config import MigrateSettings
from agent.kb.store import KB
from agent.repair.lanes import verifier_for
from agent.repair.llm_repair import make_llm, propose_spec
from agent.repair.strategies import repairers_for
from agent.repair.workspace import Workspace
from agent.report.schema import UnitRecord
from agent.sandbox.process import WorkerStartError
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


class Cancelled(BaseException):
    """The run is stopping (Ctrl-C, SIGTERM, or another lane's error): the unit ends without a verdict.
    A BaseException, so that no `except Exception` on the way turns it into a unit's failure."""


class OutLock:
    """A readers-writer lock over the files in OUT, writers first. Reentrant per thread: a writer's
    own reads pass, and a reader may read again while a writer waits (never a reader that writes)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer: int | None = None
        self._writers_waiting = 0
        self._mine = threading.local()

    @contextmanager
    def shared(self):
        me = threading.get_ident()
        depth = getattr(self._mine, "depth", 0)
        if self._writer == me or depth:
            self._mine.depth = depth + 1
            try:
                yield
            finally:
                self._mine.depth = depth
            return
        with self._cond:
            while self._writer is not None or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        self._mine.depth = 1
        try:
            yield
        finally:
            self._mine.depth = 0
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self):
        me = threading.get_ident()
        if self._writer == me:
            yield
            return
        if getattr(self._mine, "depth", 0):
            raise RuntimeError("a reader of OUT may not write it (release the shared lock first)")
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer is not None or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer = me
        try:
            yield
        finally:
            with self._cond:
                self._writer = None
                self._cond.notify_all()


class RunState:
    """What the runners of one migration share (one runner, or one per lane with --jobs)."""

    def __init__(self, specs: dict[str, list[dict]]):
        self.specs = specs  # unit key -> specs found in the repo (an LLM's proposal goes first)
        self.observed: dict[str, set] = {}  # rel -> {(line, column, method)} where torch ran
        self.rewrites = 0  # files written into OUT by repairs and retranslations so far
        self.out = OutLock()
        self.sites = threading.Lock()  # adding to `observed` (new sets, never changed in place) and retranslating
        self.observed_units: dict[str, dict | None] = {}  # unit key -> its observe result (a torch failure)
        self.last_translation: dict[str, tuple] = {}  # rel -> (sites, text) of the rules' latest run on it
        self.stop = threading.Event()  # set when the run is interrupted: lanes end without verdicts


class UnitRunner:
    def __init__(self, src: Path, out: Path, kb: KB, settings: MigrateSettings, translated, verifier=None,
                 state: RunState | None = None):
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
        self.state = state or RunState(self._find_specs())
        self.specs = self.state.specs
        self.observed = self.state.observed
        self._wrote: dict[str, str] = {}  # rel -> its text before this runner's unit first rewrote it
        self.llm_client = None  # the LLM its repairers and spec proposals share, made on first use
        self.workspace = Workspace(
            kb=kb, device=settings.device, rounds=settings.rounds, out=Path(out),
            sources=MappingProxyType(translated.sources), drafts=MappingProxyType(translated.outputs),
            markers=self._markers, translate=lambda rel, overrides: self.translate(rel, overrides),
            verify_with=self._verify_with, llm=self._llm)
        self.repairers = repairers_for(self.workspace, with_llm=settings.llm is not None)

    def lane(self, verifier) -> "UnitRunner":
        """Another runner of the same migration on its own (started) verifier, sharing this one's
        state; for a thread of its own (`--jobs`). The caller closes the verifier."""
        return type(self)(self.src, self.out, self.kb, self.settings, self.translated, verifier=verifier,
                          state=self.state)

    @property
    def _rewrites(self) -> int:
        return self.state.rewrites

    def written(self) -> dict[str, str]:
        """OUT files the current (or last) unit changed, with their texts now: what the journal keeps."""
        outputs = self.translated.outputs
        return {rel: outputs[rel] for rel, before in self._wrote.items() if rel in outputs and outputs[rel] != before}

    def _check_stop(self) -> None:
        if self.state.stop.is_set():
            raise Cancelled

    @property
    def isolation(self) -> dict:
        return dict(self.verifier.isolation)

    def close(self) -> None:
        if self.llm_client is not None:
            self.llm_client.close()
        if self._own_verifier:
            self.verifier.close()

    def _find_specs(self) -> dict[str, list[dict]]:
        from agent.verify.specs import find_repo_specs

        return find_repo_specs(self.src, [u.as_request() for u in self.translated.units])

    # -- what the repair strategies get (repair/workspace.py) ---------------------------------
    def _llm(self):
        if self.llm_client is None and self.settings.llm is not None:
            self.llm_client = make_llm(self.settings.llm, self.out)  # one cache connection, one token count
        return self.llm_client

    def _markers(self, rel: str) -> list:
        return next((list(f.markers) for f in self.translated.files if f.path == rel), [])

    def _verify_with(self, unit: Unit, files: dict[str, str]) -> dict:
        before = self._apply(files)
        try:
            return self.verify(unit)
        finally:
            self._apply(before)

    def translate(self, rel: str, overrides: dict | None = None, sites: set | None = None) -> str:
        """The rules' translation of one SRC file, with what execution observed in it (or `sites`)."""
        from agent.rules.engine import translate_source

        if sites is None:
            sites = self.observed.get(rel)  # a set never changed in place (see observe): no lock needed
        last = self.state.last_translation.get(rel)
        if overrides is None and last is not None and last[0] == (sites or set()):
            return last[1]  # observe asks again for what the file's previous units' sites gave
        text = translate_source(self.translated.sources[rel], self.kb, self.settings.device,
                                module_classes=self.translated.module_classes or self.module_classes,
                                nearest=self.translated.nearest, overrides=overrides, observed=sites,
                                inherited=self.translated.inherited.get(rel)).code
        if overrides is None:
            self.state.last_translation[rel] = (set(sites or ()), text)
        return text

    def observe(self, unit: Unit) -> dict | None:
        """Run the torch side to see which calls are on tensors; retranslate files where that adds
        conversions static inference missed. Only files still holding the rules' own output change.
        The first unit of a file observes every unit of the file (one lane runs a file's units), so the
        file is retranslated once, not once per unit. A hang or crash of the torch side is that unit's
        result (returned): verifying would repeat it."""
        done = self.state.observed_units
        if unit.key not in done:
            batch = [u for u in self.translated.units if u.file == unit.file and not u.skip_reason
                     and u.key not in done and u.key != unit.key]
            sites: list = []
            for one in [unit, *batch]:
                self._check_stop()
                done[one.key], found = self._observe_one(one)
                sites += found
            self._add_sites(sites)
        return done[unit.key]

    def _observe_one(self, unit: Unit) -> tuple[dict | None, list]:
        """(the unit's result when the torch original hangs or crashes, else None; the sites seen). The
        result carries the time it took: it may be spent while another unit of the file runs."""
        started = time.perf_counter()
        reply = self.verifier.observe(self.src, unit.as_request(), self.specs.get(unit.key, []),
                                      timeout=self.settings.unit_timeout_s, reuse=self._reuse(unit), kb=self.kb)
        if not reply.get("ok"):
            kind = reply.get("kind")
            if kind in ("timeout", "crash"):
                return {"status": "failed", "failure": kind, "seconds": round(time.perf_counter() - started, 4),
                        "reason": f"{kind} while running the torch original: {reply.get('error', '')}".strip()}, []
            return None, []
        return None, list(reply["result"].get("sites", []))

    def _add_sites(self, sites: list) -> None:
        with self.state.sites:  # one lane at a time adds sites and retranslates what they change
            before: dict[str, set] = {}
            for rel, line, col, name in sites:
                if rel in self.translated.sources:
                    seen = self.observed.get(rel, set())
                    if (line, col, name) not in seen:
                        before.setdefault(rel, seen)
                        self.observed[rel] = seen | {(line, col, name)}  # a new set: readers hold the old one
            for rel, known in before.items():
                current = self.translated.outputs.get(rel)
                previous = self.translate(rel, sites=known)  # what the rules gave before these sites were known
                if current != previous:
                    continue  # a repair already rewrote this file: leave it
                new = self.translate(rel, sites=self.observed[rel])
                if new != current:
                    with self.state.out.exclusive():  # no unit is being verified on OUT while it changes
                        self._apply({rel: new})

    def verify(self, unit: Unit) -> dict:
        self._check_stop()
        with self.state.out.shared():  # OUT stays as it is while the MindSpore side imports and runs it
            return self.verifier.verify(self.src, self.out, unit.as_request(), self.specs.get(unit.key, []),
                                        kb=self.kb, device=self.settings.device, seeds=list(self.settings.seeds),
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
        self._wrote = {}
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
                # the attempt may rewrite any file: other lanes wait until it is kept or reverted
                with self.state.out.exclusive():
                    before = self._apply(attempt.files)
                    try:
                        new = self.verify(unit)
                    except BaseException:
                        self._apply(before)  # interrupted: OUT keeps the unrepaired draft
                        raise
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
        spec = propose_spec(self.workspace, unit, result)
        if spec is None:
            return result
        self.specs[unit.key] = [spec, *self.specs.get(unit.key, [])]
        return self.verify(unit)

    def _apply(self, files: dict[str, str]) -> dict[str, str]:
        """Write new contents for OUT files; return the previous contents for a revert."""
        before = {}
        self.state.rewrites += 1
        for rel, text in files.items():
            before[rel] = self.translated.outputs.get(rel, "")
            self._wrote.setdefault(rel, before[rel])
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
        record.notes = [str(n) for n in result.get("notes") or []]
        record.levels = result.get("levels") or {}
        record.level_reached, record.level_failed = levels_reached(record.levels)
        if record.status == "verified-after-repair":
            record.reason = f"after {rounds} repair round(s): " + "; ".join(
                r["change"] for r in record.repairs if r["status"] == "verified")
        record.rounds, record.llm_tokens = rounds, tokens
        return record


def run_unit(runner: UnitRunner, unit: Unit) -> tuple[dict, dict[str, str]]:
    """(the unit's record, the OUT files it changed) from one runner."""
    started = time.perf_counter()
    record = runner.run(unit).model_dump()
    if not record.get("seconds"):  # a hang or a crash returns no timing of its own: its cost is real
        record["seconds"] = round(time.perf_counter() - started, 4)
    # a repair the unit kept rewrote files in OUT; the journal keeps them so that a resumed
    # run, which translates OUT afresh, puts them back instead of losing them
    return record, runner.written()
