"""The devices msagent verifies on: one declaration, read by the CLI, the settings, the KB, the sides
and the Ray lanes. A new device is one more `Device` in DEVICES (docs/architecture.md)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Device:
    name: str  # as the CLI, the settings and the report spell it
    target: str  # MindSpore's device target (`ms.set_device`)
    # KB target namespaces, most preferred first, where no target has a verdict for the device yet: on
    # CPU half of mint has no kernel, so the legacy namespaces come first; elsewhere mint follows torch
    namespaces: tuple[str, ...] = ("mint", "legacy", "tensor", "builtin")
    accelerator: str | None = None  # the Ray resource one verifying actor needs (`GPU`, `NPU`), None: a CPU

    @property
    def verdict_file(self) -> str:
        """Where the KB keeps this device's probe verdicts, relative to a KB root."""
        return f"verdicts/{self.name}.json"

    @property
    def rounding_file(self) -> str:
        """Where the KB keeps this device's measured float32 kernel errors (verify/kernel_rounding.py)."""
        return f"rounding/{self.name}.yaml"


DEVICES: dict[str, Device] = {d.name: d for d in (
    Device("cpu", "CPU", ("legacy", "tensor", "builtin", "mint")),
    Device("gpu", "GPU", accelerator="GPU"),
    Device("ascend", "Ascend", accelerator="NPU"),
)}


def device(name: str) -> Device:
    """The declaration of device NAME; an unknown name is an error, never a silent CPU."""
    try:
        return DEVICES[name.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)}") from None


def ms_target(name: str) -> str:
    """MindSpore's device target for a device name."""
    return device(name).target
