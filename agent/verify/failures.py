"""What a side's error text says about the cause: a kernel the device lacks, or the sandbox's own
limits (no network, the memory cap), so a unit's failure is named for its cause."""
from __future__ import annotations

import re

KERNEL_MISSING = re.compile(
    r"kernel.{0,80}(unregistered|not registered|not found|not support)|not supported on this device"
    r"|Unsupported op|can ?not find.{0,40}kernel",
    re.I | re.S,
)
NETWORK = re.compile(r"Network is unreachable|Temporary failure in name resolution|Name or service not known"
                     r"|gaierror|ConnectionRefused|Connection refused|urlopen error|No route to host", re.I)
MEMORY = re.compile(r"MemoryError|Cannot allocate memory|std::bad_alloc|out of memory|DefaultCPUAllocator"
                    r"|Allocate memory failed", re.I)  # the last: MindSpore's device allocator


def blocked_by_limits(text: str, memory_gib: float) -> tuple[str, str] | None:
    """(failure kind, reason) when the sandbox's own limits caused TEXT (not a missing spec), else None."""
    if NETWORK.search(text):
        return "network", "the code needs the network, which verification blocks: " + text[:300]
    if MEMORY.search(text):
        return "memory", f"ran out of memory under the sandbox's {memory_gib:g} GiB limit: " + text[:300]
    return None
