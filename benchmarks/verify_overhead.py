"""verify_overhead_ratio: time of verify_unit over the bare torch + MindSpore forward passes of the
same trials, with the worker warm (modules imported and cached by a first call)."""
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.verify.harness import verify_unit  # noqa: E402

FIX = ROOT / "tests" / "fixtures" / "verify"
UNITS = [("tvnet.blocks", "ConvBlock", "ConvBlock(3, 8)"), ("tvnet.blocks", "MLP", "MLP(8, hidden=12)"),
         ("tvnet.blocks", "TokenEncoder", None), ("tvnet.models", "Net", "Net(NetConfig())")]


def main() -> None:
    pt, ms = str(FIX / "tvrepo" / "torch"), str(FIX / "tvrepo" / "ms")
    total = forward = 0.0
    for module, name, init in UNITS:
        unit = {"module": module, "name": name, "kind": "module"}
        specs = [{"source": "user", "init": init, "inputs": None}] if init else []
        verify_unit(pt, ms, unit, specs, kb_root=str(FIX / "kb"))  # warm: imports, kernels, caches
        t0 = time.perf_counter()
        r = verify_unit(pt, ms, unit, specs, kb_root=str(FIX / "kb"))
        total += time.perf_counter() - t0
        forward += r["timing"]["torch_forward"] + r["timing"]["ms_forward"]
        assert r["status"] == "verified", r
    print(f"verify_overhead_ratio: {total / forward:.2f} x")


if __name__ == "__main__":
    main()
