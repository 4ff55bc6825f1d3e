"""verify_overhead_ratio: wall time of verifying a unit (two sandboxed sides, the verdict in this
process) over the bare torch + MindSpore forward passes of the same trials; verify_fixed_cost: the
per-unit time that is not a forward pass; verify_candidate_floor: the MindSpore side's own work over the same
forwards, the ratio no overlap of the two sides can go below. As the pipeline runs them: one process per side for the
units of one file (a fresh pair per file, and after any failure). Sides warm (started once, a first
round run and discarded: it also leaves the judge each unit's constructor call, which the pipeline's
observe step gives it), the units of the verification fixture repo at their own sizes."""
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.kb.store import load_kb  # noqa: E402
from agent.verify.judge import Verifier  # noqa: E402

FIX = ROOT / "tests" / "fixtures" / "verify"
UNITS = [("tvnet.blocks", "ConvBlock", "ConvBlock(3, 8)"), ("tvnet.blocks", "MLP", "MLP(8, hidden=12)"),
         ("tvnet.blocks", "TokenEncoder", None), ("tvnet.models", "Net", "Net(NetConfig())")]
ROUNDS = 5  # measured rounds after the warm one: single runs of these small units vary by +-10%


def main() -> None:
    pt, ms = str(FIX / "tvrepo" / "torch"), str(FIX / "tvrepo" / "ms")
    kb = load_kb(str(FIX / "kb"))
    with Verifier.for_paths([FIX]) as verifier:
        total = forward = busy = 0.0
        for rnd in range(ROUNDS + 1):
            for module, name, init in UNITS:
                unit = {"module": module, "name": name, "kind": "module", "file": module.replace(".", "/") + ".py"}
                specs = [{"source": "user", "init": init, "inputs": None}] if init else []
                t0, busy0 = time.perf_counter(), verifier.cand.busy_s
                r = verifier.verify(pt, ms, unit, specs, kb=kb, reuse=((pt, unit["file"]), (ms, unit["file"], 0)))
                elapsed = time.perf_counter() - t0
                assert r["status"] == "verified", r
                if rnd:  # the first round warms kernels and caches
                    total += elapsed
                    busy += verifier.cand.busy_s - busy0
                    # the sides run their forwards at the same time: the bare cost is the two added up
                    forward += r["timing"]["torch_forward"] + r["timing"]["ms_forward"]
    print(f"verify_overhead_ratio: {total / forward:.2f} x")
    print(f"verify_fixed_cost: {1000 * max(0.0, total - forward) / (ROUNDS * len(UNITS)):.0f} ms/unit")
    # what the MindSpore side alone does per unit (import and build the translation in a fresh process per
    # file, take the weights, run the forwards) over the forwards: no schedule of the two sides goes below it
    print(f"verify_candidate_floor: {busy / forward:.2f} x")


if __name__ == "__main__":
    main()
