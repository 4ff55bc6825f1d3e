"""MindSpore's PyNative dispatch on CPU, asynchronous (its default) against synchronous
(`mindspore.runtime.launch_blocking()`, what the MindSpore side of verification sets on CPU): the
same small cells a verification runs (a Dense stack forward and gradient, a Conv2d), each variant in
a fresh process. Prints wall and CPU seconds of each and `ms_sync_dispatch_speedup`.
"""
from __future__ import annotations

import subprocess
import sys

CALLS = 200

CHILD = f"""
import resource, sys, time
import numpy as np
import mindspore as ms
from mindspore import nn

ms.set_context(mode=ms.PYNATIVE_MODE)
ms.set_device("CPU")
if sys.argv[1] == "sync":
    ms.runtime.launch_blocking()
net = nn.SequentialCell([nn.Dense(8, 16), nn.ReLU(), nn.Dense(16, 8)])
conv = nn.Conv2d(3, 8, 3)
x = ms.Tensor(np.random.randn(2, 8).astype(np.float32))
img = ms.Tensor(np.random.randn(2, 3, 16, 16).astype(np.float32))
grad = ms.grad(lambda t: net(t).sum())
for _ in range(10):
    net(x).asnumpy(); grad(x).asnumpy(); conv(img).asnumpy()
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
for _ in range({CALLS}):
    net(x).asnumpy(); grad(x).asnumpy(); conv(img).asnumpy()
r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
cpu = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
print(t1 - t0, cpu)
"""


def run(mode: str) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True).stdout
    wall, cpu = out.split()[-2:]
    return float(wall), float(cpu)


def main() -> None:
    async_wall, async_cpu = run("async")
    sync_wall, sync_cpu = run("sync")
    print(f"ms_async_dispatch_s: {async_wall:.2f} s")
    print(f"ms_async_dispatch_cpu_s: {async_cpu:.2f} s")
    print(f"ms_sync_dispatch_s: {sync_wall:.2f} s")
    print(f"ms_sync_dispatch_cpu_s: {sync_cpu:.2f} s")
    print(f"ms_sync_dispatch_speedup: {async_wall / sync_wall:.2f} x")


if __name__ == "__main__":
    main()
