"""Arrays cross the worker boundary as .npy files, never pickle."""
from __future__ import annotations

import os
import re
import tempfile
import uuid
from pathlib import Path

import numpy as np


def array_dir() -> Path:
    """Where arrays go by default: the worker's temp dir inside a worker, the system temp dir outside."""
    base = os.environ.get("MSAGENT_WORKDIR") or tempfile.gettempdir()
    path = Path(base) / "arrays"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _as_numpy(arr) -> np.ndarray:
    # Duck-typed so this module needs neither torch nor MindSpore.
    if hasattr(arr, "detach"):
        arr = arr.detach().cpu().numpy()
    elif hasattr(arr, "asnumpy"):
        arr = arr.asnumpy()
    return np.asarray(arr)


def save_array(name: str, arr, directory: str | os.PathLike | None = None) -> str:
    """Write `arr` (numpy, torch or MindSpore) as `<directory>/<name>-<uid>.npy` and return the path."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:80] or "array"
    folder = Path(directory) if directory is not None else array_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{safe}-{uuid.uuid4().hex[:8]}.npy"
    np.save(path, _as_numpy(arr), allow_pickle=False)
    return str(path)


def load_array(path: str | os.PathLike) -> np.ndarray:
    """Read an array written by save_array; object arrays are refused."""
    return np.load(path, allow_pickle=False)
