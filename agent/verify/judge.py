"""The verdict, computed in the trusted CLI process from what two sandboxes send.

    verifier = Verifier.for_repo(src, out)          # a torch side over SRC, a MindSpore side over OUT
    result = verifier.verify(src, out, unit, specs, kb=kb, device="cpu", level="forward")

Per unit, each side gets a fresh process forked from its warm template (`sandbox.sides`). The
torch side picks the spec (the original is the oracle) and sends its weights and outputs; this
process generates every input, plans and builds the weight copy from the KB, sends the
MindSpore side its weights and inputs, and compares the raw outputs that come back. The
MindSpore side never sees a torch output, and no side reports a status: the result below is
built here. The result dict is the one docs/architecture.md describes.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

from agent.sandbox.config import SideConfig
from agent.sandbox.process import DeviceUnavailable, start_all
from agent.sandbox.session import DEVICE_ERROR
from agent.sandbox.sides import SessionError, Side
from agent.verify.compare import Mismatch, compare_trees, finite, nothing_checked
from agent.verify.failures import KERNEL_MISSING, blocked_by_limits, level_failure, load_failure
from agent.verify.inputs import check_sizes, make_arrays, pack, shapes
from agent.verify import aligned_random, levels, rounding
from agent.verify.levels import LevelContext, levels_for, run_levels
from agent.verify.loader import absent_modules, absent_notes, torch_import_in
from agent.verify.sessions import Sessions
from agent.verify.tree import validate
from agent.verify.weights import BLOWN_UP, WeightMapError, plan_weight_map, weight_arrays


class UnitFailure(Exception):
    def __init__(self, failure: str | None, reason: str, status: str = "failed"):
        super().__init__(reason)
        self.failure, self.reason, self.status = failure, reason, status


class Verifier:
    """The torch reference side and the MindSpore candidate side, started together, kept warm."""

    def __init__(self, ref: SideConfig, cand: SideConfig):
        self.ref, self.cand = Side(ref), Side(cand)
        self.memory_gib = (cand.memory_limit_bytes or 0) / 2**30
        self.sessions = Sessions(self.ref, self.cand)
        # (torch root, unit, specs) -> the constructor call torch accepted: the MindSpore side builds it
        # while torch chooses again (see _Check._run)
        self.inits: dict[tuple, str] = {}

    @classmethod
    def for_repo(cls, src: Path, out: Path, timeout_s: float = 300.0, **overrides) -> "Verifier":
        """The torch side sees SRC, the MindSpore side sees OUT (without its .msagent folder)."""
        out = Path(out).resolve()
        ref = SideConfig(side="torch", preload=["torch"], repo_paths=[str(Path(src).resolve())], timeout_s=timeout_s,
                         **overrides)
        cand = SideConfig(side="mindspore", preload=["mindspore"], repo_paths=[str(out)], timeout_s=timeout_s,
                          hide_paths=[str(out / ".msagent")], **overrides)
        return cls(ref, cand)

    @classmethod
    def for_paths(cls, paths: list, timeout_s: float = 300.0, **overrides) -> "Verifier":
        """Both sides see the same folders (tests and evals that keep many repos under one root)."""
        roots = [str(Path(p).resolve()) for p in paths]
        return cls(SideConfig(side="torch", preload=["torch"], repo_paths=roots, timeout_s=timeout_s, **overrides),
                   SideConfig(side="mindspore", preload=["mindspore"], repo_paths=roots, timeout_s=timeout_s,
                              **overrides))

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        start_all([self.ref, self.cand])
        if self.cand.config.device != "cpu":  # a runtime that cannot use the device fails the run, not each unit
            try:
                with self.cand.session(timeout=120) as probe:
                    probe.call("ping")
            except SessionError as exc:
                if DEVICE_ERROR in exc.message:
                    raise DeviceUnavailable(exc.message.split(": ", 1)[-1]) from None

    def close(self) -> None:
        self.sessions.drop_all()
        self.ref.close()
        self.cand.close()

    def __enter__(self) -> "Verifier":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def ready_info(self) -> dict:
        errors = {**self.ref.ready_info.get("preload_errors", {}), **self.cand.ready_info.get("preload_errors", {})}
        return {"preload_errors": errors, "torch_on_candidate": bool(self.cand.ready_info.get("torch_loaded"))}

    @property
    def isolation(self) -> dict:
        ref, cand = self.ref.isolation, self.cand.isolation
        merged = {k: (v if not isinstance(v, bool) else v and cand.get(k, v)) for k, v in ref.items()}
        merged.update(separate_sides=True, torch_hidden_from_candidate=bool(cand.get("hidden")),
                      verdict="computed in the CLI process")
        return merged

    # -- one unit ----------------------------------------------------------------------------
    def observe(self, pt_root, unit: dict, specs=None, timeout=300.0, reuse: tuple | None = None, kb=None) -> dict:
        """The torch original's call sites (a reply like a worker's: ok/result or ok=False/kind/error)."""
        try:
            with self.sessions.pair(timeout, reuse, torch_only=True) as (ref, _):
                refs = kb.references(absent_modules(str(pt_root), True)) if kb else {}
                result, _ = ref.call("observe", {"pt_root": str(pt_root), "unit": unit, "specs": specs or [],
                                                 "references": refs})
        except SessionError as exc:
            return {"ok": False, "kind": exc.kind, "error": exc.message}
        if isinstance(result, dict) and isinstance(result.get("init"), str):
            self.inits[init_key(pt_root, unit, specs)] = result["init"]
        return {"ok": True, "result": result if isinstance(result, dict) else {}}

    def verify(self, pt_root, ms_root, unit: dict, specs=None, kb=None, device: str = "cpu", seeds=(0, 1, 2),
               level: str = "forward", timeout: float = 300.0, reuse: tuple | None = None) -> dict:
        """One unit's verdict. With `reuse`, in the processes the file's earlier units used; a MindSpore fault
        of its own making there (FRAMEWORK_FAULT: state an earlier unit left in MindSpore's runtime) is
        judged once more in fresh processes, and the notes say so."""
        result = self._verify(pt_root, ms_root, unit, specs, kb, device, seeds, level, timeout, reuse)
        if reuse is not None and result["status"] == "failed" and FRAMEWORK_FAULT.search(result["reason"]):
            again = self._verify(pt_root, ms_root, unit, specs, kb, device, seeds, level, timeout, None)
            again["notes"].append("MindSpore raised an internal error in the processes the file's earlier units "
                                  "used; judged again in fresh processes")
            again["seconds"] = round(again["seconds"] + result["seconds"], 4)
            return again
        return result

    def _verify(self, pt_root, ms_root, unit: dict, specs, kb, device: str, seeds, level: str, timeout: float,
                reuse: tuple | None) -> dict:
        start = time.perf_counter()
        result = {
            "status": "failed", "failure": None, "reason": "", "trials": 0, "max_abs": None, "max_rel": None,
            "cosine": None, "weight_map": None, "spec": None, "divergence": None, "seconds": 0.0, "notes": [],
            "timing": {"torch_forward": 0.0, "ms_forward": 0.0}, "level": level, "levels": {},
        }
        try:
            if level not in levels.LEVELS:  # read now: a level added to the table after import counts
                raise UnitFailure("exception", f"unknown verification level {level!r}; "
                                               f"choose one of {', '.join(levels.LEVELS)}")
            with self.sessions.pair(timeout, reuse) as (ref, cand):
                _Check(self, ref, cand, str(pt_root), str(ms_root), unit, specs or [], kb, device, list(seeds),
                       level, result).run()
            result["status"] = "verified"
        except UnitFailure as f:
            result.update(status=f.status, failure=f.failure, reason=f.reason)
        except Exception as exc:  # a judge fault must still come back as a result
            result.update(failure="exception", reason=f"verifier error: {type(exc).__name__}: {str(exc)[:500]}")
        if "forward" not in result["levels"]:
            result["levels"]["forward"] = {"status": result["status"], "failure": result["failure"],
                                           "reason": result["reason"]}
        result["seconds"] = round(time.perf_counter() - start, 4)
        for k in ("max_abs", "max_rel", "cosine"):
            result[k] = finite(result[k])
        return result


# MindSpore's own faults, not the code's: an internal error of its C++ runtime, a kernel's input count off by
# one, a plain int refused as an index (after other units ran in the process)
FRAMEWORK_FAULT = re.compile(r"Framework Unexpected Exception|is out of range of input num|"
                             r"as index, but got -?\d+ with type <class 'int'>")
CALIBRATED = "BatchNorm running statistics calibrated on a batch of fresh inputs"


class _Recalibrate(Exception):
    """Float32 rounding alone failed a model with BatchNorm: check again, calibrating or not as said."""

    def __init__(self, calibrate: bool, note: str):
        super().__init__(note)
        self.calibrate = calibrate


def init_key(pt_root, unit: dict, specs) -> tuple:
    return str(pt_root), unit.get("module"), unit.get("name"), json.dumps(specs or [], sort_keys=True, default=str)


class _Check:
    """One unit's check: the sequence of calls to both sides and the comparisons between them."""

    def __init__(self, verifier, ref, cand, pt_root, ms_root, unit, specs, kb, device, seeds, level, result):
        self.v, self.ref, self.cand = verifier, ref, cand
        self.pt_root, self.ms_root, self.unit, self.specs = pt_root, ms_root, unit, specs
        self.kb, self.device, self.seeds, self.level, self.result = kb, device, seeds, level, result
        self.kernel_errors = kb.kernel_rounding(device) if kb is not None else {}  # see verify/kernel_rounding.py
        self.is_module = unit.get("kind", "module") == "module"
        self.prefetched = None  # the next seed's torch model, asked for during the last trial of a seed

    # -- calls with failures named for the side that failed ------------------------------------
    def torch(self, op, args=None, arrays=()):
        try:
            return self.ref.call(op, args, arrays)
        except SessionError as exc:
            raise self._torch_failure(exc) from None

    def _torch_failure(self, exc: SessionError) -> UnitFailure:
        if exc.kind == "timeout":
            return UnitFailure("timeout", f"the torch original timed out ({exc.message}): a hang in the original "
                               "code, nothing to repair")
        if exc.kind == "crash":
            return UnitFailure("crash", f"the torch original crashed ({exc.message})")
        if exc.kind == "protocol":
            return UnitFailure("protocol", f"the torch original wrote on the verification channel ({exc.message})")
        blocked = blocked_by_limits(exc.message, self.v.memory_gib)
        return UnitFailure(*blocked) if blocked else UnitFailure("exception", f"torch side: {exc.message[:600]}")

    def mindspore(self, op, args=None, arrays=(), stage="exception"):
        try:
            return self.cand.call(op, args, arrays)
        except SessionError as exc:
            raise self._ms_failure(exc, stage) from None

    def _ms_failure(self, exc: SessionError, stage: str) -> UnitFailure:
        if exc.kind == "timeout":
            return UnitFailure("timeout", f"the MindSpore translation timed out ({exc.message})")
        if exc.kind == "crash":
            return UnitFailure("crash", f"crash: the MindSpore process died ({exc.message})")
        if exc.kind == "protocol":
            return UnitFailure("protocol", f"the MindSpore code wrote on the verification channel ({exc.message})")
        if KERNEL_MISSING.search(exc.message):
            return UnitFailure("missing-kernel", exc.message[:800])
        blocked = blocked_by_limits(exc.message, self.v.memory_gib)
        return UnitFailure(*blocked) if blocked else UnitFailure(stage, exc.message[:800])

    def both_run(self, seed: int, size_idx: int, inputs: list, next_seed: int | None = None):
        """Both sides' outputs on INPUTS. With NEXT_SEED, torch builds that seed's model while the
        MindSpore side still runs (its reply: `prefetched`)."""
        descs, arrays = pack(inputs)
        args = {"seed": seed, "size": size_idx, "inputs": descs}
        try:
            self.ref.send("run", args, arrays)
        except SessionError as exc:
            raise self._torch_failure(exc) from None
        try:
            self.cand.send("run", args, arrays)
        except SessionError as exc:
            raise self._ms_failure(exc, "exception") from None
        try:
            pt = self.ref.receive()
            if next_seed is not None:
                self.ref.send("model", {"seed": next_seed})
        except SessionError as exc:
            raise self._torch_failure(exc) from None
        try:
            ms = self.cand.receive()
        except SessionError as exc:
            raise self._ms_failure(exc, "exception") from None
        if next_seed is not None:
            try:
                self.prefetched = self.ref.receive()
            except SessionError as exc:  # counts when that seed's turn comes
                self.prefetched = exc
        return pt, ms

    # -- the check ---------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._run(calibrate=None)
        except _Recalibrate as again:  # the whole check once more, BatchNorm statistics the other way
            r = self.result
            r.update(trials=0, max_abs=None, max_rel=None, cosine=None, divergence=None, levels={})
            r["notes"] = [n for n in r["notes"] if not n.startswith(CALIBRATED)] + [str(again)]
            self._run(calibrate=again.calibrate)
            r["notes"] = list(dict.fromkeys(r["notes"]))

    def _run(self, calibrate: bool | None) -> None:
        r, unit = self.result, self.unit
        where = {"ms_root": self.ms_root, "unit": unit, "device": self.device, "file": unit.get("file"),
                 "absent": list(absent := absent_modules(self.ms_root))}
        # the translation imports while torch chooses the spec, and builds the constructor call torch
        # accepted before (observe, an earlier check), which torch's choice now confirms or not; a
        # failure of either counts when due
        key = init_key(self.pt_root, unit, self.specs)
        guess = self.v.inits.get(key) if self.is_module else None
        importing = None
        try:
            self.cand.send("import", where)
            if guess:
                self.cand.send("load", dict(where, unit=unit, init=guess))
        except SessionError as exc:
            importing = exc
        prep, _ = self.torch("prepare", {"pt_root": self.pt_root, "unit": unit, "specs": self.specs,
                                         "seed": self.seeds[0], "calibrate": calibrate,
                                         "references": self.kb.references(absent_modules(self.pt_root, True))
                                         if self.kb else {}})
        if isinstance(prep.get("init"), str) and self.is_module and prep.get("kind") is None:
            self.v.inits[key] = prep["init"]
        if prep.get("spec") is None:
            self._no_spec(prep)
        spec, init, sizes = prep["spec"], prep["init"], prep["sizes"]
        r["spec"] = spec
        try:  # torch reruns the unit under another seed while the MindSpore side imports and builds
            self.ref.send("random", {})
        except SessionError as exc:
            raise self._torch_failure(exc) from None
        if prep.get("kind") == "module" and not self.is_module:  # a factory: its model is what is checked
            self.is_module, unit = True, dict(unit, kind="module")
            self.unit = unit
            r["notes"].append(f"a factory: the model {init} builds is checked")
        try:
            check_sizes(sizes)
        except ValueError as exc:
            raise UnitFailure("exception", f"the torch side chose unusable inputs: {exc}") from None
        if prep.get("calibrated") and calibrate is None:
            r["notes"].append(f"{CALIBRATED}: with their initial values activations grew past {BLOWN_UP:g} through depth")
        if len(sizes) < 2:
            r["notes"].append("the torch side accepted only one input size")
        try:
            checked = self.ref.receive()[0]
        except SessionError as exc:
            raise self._torch_failure(exc) from None
        if checked.get("random"):
            raise UnitFailure("random", "the torch original is random: the same inputs under another seed gave "
                              "other outputs (sampling or random init), so outputs cannot be compared; "
                              "a spec over its deterministic parts is needed", "not-exercised")
        if found := torch_import_in(self.ms_root, unit.get("file")):
            raise UnitFailure("import", found)
        if importing is not None:
            raise self._ms_failure(importing, "import")
        try:
            self.cand.receive()
            load = self.cand.receive()[0] if guess else None
        except SessionError as exc:
            raise self._ms_failure(exc, "import") from None
        if load is None or guess != init:  # no guess, or a guess torch did not confirm: built again as chosen
            load, _ = self.mindspore("load", dict(where, unit=unit, init=init), stage="import")
        if checked.get("aligned") and not load.get("error"):
            self.mindspore("align_random", {})
            r["notes"].append(aligned_random.NOTE)
        if load.get("error"):
            raise UnitFailure(*load_failure(load, absent, (prep.get("errors"), self.pt_root, self.ms_root)))
        r["notes"] += absent_notes(absent, load.get("stand_ins"), prep.get("references"), self.kb)
        plan, first_weights, first_forward = self._trials(sizes, load, prep, calibrate)
        r["reason"] = f"{r['trials']} trials matched"
        r["levels"]["forward"] = {"status": "verified", "reason": r["reason"], "max_abs": r["max_abs"]}
        if self.level != "forward":
            self._levels(sizes, plan, first_weights, first_forward)

    def _trials(self, sizes, load: dict, prep: dict, calibrate: bool | None) -> tuple:
        """Every seed and size compared; (weight plan, first seed's weights, first forward) for the levels."""
        r = self.result
        plan = first_weights = first_forward = self.prefetched = None
        checked = False
        worst = {"max_abs": 0.0, "max_rel": 0.0, "cosine": 1.0}
        for seed_idx, seed in enumerate(self.seeds):
            if self.is_module:
                got, self.prefetched = self.prefetched, None
                if isinstance(got, SessionError):
                    raise self._torch_failure(got)
                m, tarr = got or self.torch("model", {"seed": seed})
                try:
                    if plan is None:
                        plan = plan_weight_map(m["desc"], load["desc"], self.kb, self.device)
                        r["weight_map"] = plan
                    names, warr = weight_arrays(plan, m["desc"], tarr, load["desc"])
                except WeightMapError as exc:
                    raise UnitFailure("weights", str(exc)) from None
                except (KeyError, TypeError, ValueError) as exc:
                    raise UnitFailure("exception", f"malformed tensor description: {exc}") from None
                if seed_idx == 0:
                    first_weights = (names, warr)
                self.mindspore("weights", {"names": names}, warr)
            for size_idx, size in enumerate(sizes):
                inputs = make_arrays(size, seed, size_idx)
                last = size_idx == len(sizes) - 1 and seed_idx + 1 < len(self.seeds) and self.is_module
                (pt, pa), (ms, ma) = self.both_run(seed, size_idx, inputs, self.seeds[seed_idx + 1] if last else None)
                for side, node, arrs in (("torch", pt, pa), ("MindSpore", ms, ma)):
                    try:
                        validate(node.get("out") if isinstance(node, dict) else None, len(arrs))
                    except ValueError as exc:
                        raise UnitFailure("exception", f"the {side} side sent a malformed output: {exc}") from None
                r["timing"]["torch_forward"] += float(pt.get("seconds") or 0.0)
                r["timing"]["ms_forward"] += float(ms.get("seconds") or 0.0)
                if seed_idx == 0 and size_idx == 0:
                    first_forward = (pt["out"], pa)
                r["trials"] += 1
                try:
                    cmp = compare_trees(pt["out"], pa, ms["out"], ma)
                except Mismatch as exc:
                    stats = exc.comparison
                    if stats is not None and stats.outputs:
                        r.update(max_abs=stats.max_abs, max_rel=stats.max_rel, cosine=stats.cosine)
                    where = f"seed {seed}, inputs {shapes(size)}: {exc}"
                    judged = None
                    if exc.failure == "value" and self.is_module:
                        judged = self._judge_rounding(seed, inputs, (pt["out"], pa), (ms["out"], ma), where, prep,
                                                      calibrate)
                    if judged is None:
                        if self.is_module:
                            self._localize(inputs, seed)
                        raise UnitFailure(exc.failure, where) from None
                    cmp, note = judged
                    cmp.notes.append(note)
                for n in cmp.notes:
                    if n not in r["notes"]:
                        r["notes"].append(n)
                worst["max_abs"] = max(worst["max_abs"], cmp.max_abs)
                worst["max_rel"] = max(worst["max_rel"], cmp.max_rel)
                if cmp.cosine is not None:
                    worst["cosine"] = min(worst["cosine"], cmp.cosine)
                r.update(worst)
                checked = checked or cmp.values > 0
        why = nothing_checked(first_forward, sizes[0], checked)  # None or opaque objects, or inputs handed back
        if why:
            raise UnitFailure("no-values", why, "not-exercised")
        return plan, first_weights, first_forward

    def _judge_rounding(self, seed, inputs, torch_out: tuple, ms_out: tuple, where: str, prep: dict,
                        calibrated: bool | None):
        """After a value mismatch, with torch's float64 run of the same model and inputs: when torch's own
        float32 output misses it by more than the tolerance, a model with BatchNorm is first checked once more
        with its statistics the other way (calibrated: activations at a trained network's scale; or left as
        they were when calibration was the first choice). Then MindSpore's output is judged against the
        float64 run (verify/rounding.py): (comparison, note) when it passes; None when rounding is not it
        (the failure stands). Fails as `precision` when float32 cannot decide the comparison at this spec."""
        descs, arrays = pack(inputs)
        try:
            node, arrs = self.torch("float64", {"seed": seed, "inputs": descs}, arrays)
            validate(node.get("out") if isinstance(node, dict) else None, len(arrs))
            wide = (node["out"], arrs)
            error = rounding.torch_error(*wide, *torch_out)
        except (Mismatch, UnitFailure, ValueError, KeyError, TypeError):
            return None  # no float64 twin (a dtype fixed in the code): rounding cannot be measured
        fails = [p for p, e in error.items() if e["ratio"] > 1.0]
        noise = "; ".join(f"{p}: max abs {error[p]['max_abs']:.3g}" for p in fails[:3])
        if fails and calibrated is None and prep.get("norms"):
            if prep.get("calibrated"):
                raise _Recalibrate(False, f"BatchNorm running statistics left at their initial values: calibrated, "
                                          f"torch's own float32 output missed its float64 result ({noise})")
            raise _Recalibrate(True, f"{CALIBRATED}: with their initial values torch's own float32 output missed "
                                     f"its float64 result ({noise})")
        try:
            return rounding.judge(*wide, *torch_out, *ms_out, emulated=rounding.emulated_run(
                self.ref.call, "float64", {"seed": seed, "inputs": descs}, arrays, self.kernel_errors, "out"))
        except rounding.Undecidable as exc:
            raise UnitFailure("precision", f"{where}; {exc}: a spec with smaller or better-scaled inputs is "
                                           "needed") from None
        except Mismatch as exc:
            if not fails:  # a wrong value against float64 too: where it starts
                self._localize(inputs, seed)
                raise UnitFailure("value", f"{where}; against torch's float64 run: {exc}") from None
            raise UnitFailure("precision", f"{where}; float32 rounding alone fails the tolerance at this spec (torch's "
                              f"own float32 output against its float64 result: {noise}), and MindSpore misses that "
                              f"result by more than {rounding.NOISE_FACTOR:g} times torch's error ({exc}), so this "
                              "comparison cannot tell a translation error from rounding: a spec with smaller or "
                              "better-scaled inputs is needed") from None

    def _no_spec(self, prep: dict) -> None:
        if prep.get("error"):
            missing = prep.get("missing") or []
            raise UnitFailure("import", prep["error"], "not-exercised" if missing or "has no" not in prep["error"]
                              else "failed")
        tried = [str(t) for t in prep.get("tried") or []]
        for t in tried:
            if blocked := blocked_by_limits(t, self.v.memory_gib):  # nothing was compared: not a failed unit
                raise UnitFailure(*blocked, "not-exercised")
        missing = prep.get("missing") or []
        lead = "; ".join(f"missing module {m['module']!r} (line {m['line']})" for m in missing)
        raise UnitFailure("import" if missing else None, (lead + "; " if lead else "")
                          + "no spec ran on the torch side; tried: " + " | ".join(tried[:8]), "not-exercised")

    def _localize(self, inputs: list, seed: int) -> None:
        from agent.verify.localize import localize

        try:
            self.result["divergence"] = localize(self.ref, self.cand, inputs, seed)
        except Exception as exc:  # localization is advice; the failure stands regardless
            self.result["notes"].append(f"localization failed: {type(exc).__name__}: {str(exc)[:200]}")

    def _levels(self, sizes, plan, first_weights, first_forward) -> None:
        r = self.result
        names = levels_for(self.level)[1:]
        pairs = []
        if "step" in names and self.is_module:
            from agent.verify.optimizers import pair_data, repo_optimizers

            pairs = [pair_data(p) for p in repo_optimizers(self.pt_root, self.ms_root, self.kb, self.device)]
        ctx = LevelContext(self.ref, self.cand, self.seeds[0], pack(make_arrays(sizes[0], self.seeds[0], 0)), plan,
                           first_weights, first_forward, pairs, size=sizes[0], kernel_errors=self.kernel_errors)
        failure = run_levels(ctx, self.level, r["levels"])
        if failure is not None:
            name = next(n for n in names if r["levels"][n]["status"] == "failed")
            kind, why = level_failure(failure.failure, failure.reason, self.v.memory_gib)
            r["levels"][name]["failure"] = kind
            if failure.divergence:
                r["divergence"] = failure.divergence
            raise UnitFailure(kind, f"forward verified ({r['trials']} trials); {name} failed: {why}")
        deeper = [f"{n}: {r['levels'][n]['reason']}" for n in names if r["levels"][n]["status"] == "verified"]
        if deeper:
            r["reason"] += "; " + "; ".join(deeper)
        skipped = [f"{n} ({r['levels'][n]['reason']})" for n in names if r["levels"][n]["status"] == "not-run"]
        if skipped:
            r["notes"].append("levels that do not apply: " + "; ".join(skipped))
