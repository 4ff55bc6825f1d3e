"""Small ops the worker always offers: liveness, round-trip timing, self-description."""
from __future__ import annotations

import os
import sys


def noop() -> dict:
    """Does nothing: measures the call round-trip."""
    return {}


def echo(value=None):
    return value


def info() -> dict:
    """What the worker sees of itself: pid, cwd, environment names, modules already imported."""
    return {
        "pid": os.getpid(),
        "cwd": os.getcwd(),
        "env": sorted(os.environ),
        "torch_loaded": "torch" in sys.modules,
        "mindspore_loaded": "mindspore" in sys.modules,
    }
