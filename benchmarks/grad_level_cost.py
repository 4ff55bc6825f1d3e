"""grad_level_cost_ratio: verification time at the default level (grad: eval forward, train-mode
forward, loss, parameter and input gradients) over forward-only verification, same units, same
warm sides, one run each (the units of the verification fixture repo)."""
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


def timed(verifier, kb, level: str) -> float:
    pt, ms = str(FIX / "tvrepo" / "torch"), str(FIX / "tvrepo" / "ms")
    total = 0.0
    for module, name, init in UNITS:
        unit = {"module": module, "name": name, "kind": "module", "file": module.replace(".", "/") + ".py"}
        specs = [{"source": "user", "init": init, "inputs": None}] if init else []
        t0 = time.perf_counter()
        r = verifier.verify(pt, ms, unit, specs, kb=kb, level=level,
                            reuse=((pt, unit["file"]), (ms, unit["file"], 0)))
        total += time.perf_counter() - t0
        assert r["status"] == "verified", (level, r["reason"])
    return total


def main() -> None:
    kb = load_kb(str(FIX / "kb"))
    with Verifier.for_paths([FIX]) as verifier:
        timed(verifier, kb, "grad")  # warm
        forward = timed(verifier, kb, "forward")
        grad = timed(verifier, kb, "grad")
    print(f"grad_level_cost_ratio: {grad / forward:.2f} x")


if __name__ == "__main__":
    main()
