"""The devices msagent verifies on: one declaration, read by the CLI, the settings, the KB and the sides."""
from __future__ import annotations

DEVICES = {"cpu": "CPU", "gpu": "GPU", "ascend": "Ascend"}


def ms_target(device: str) -> str:
    """MindSpore's device target for a device name; an unknown name is an error, never a silent CPU."""
    try:
        return DEVICES[device.lower()]
    except KeyError:
        raise ValueError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}") from None
