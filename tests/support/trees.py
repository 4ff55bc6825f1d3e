"""A snapshot of a directory tree, to prove a run left it exactly as it was."""
from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path


def tree_state(root: Path) -> dict[str, str]:
    """Every entry under root (links not followed) -> its type and content hash or link target."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            rel = p.relative_to(root).as_posix()
            mode = p.lstat().st_mode
            if stat.S_ISLNK(mode):
                state[rel] = "link:" + os.readlink(p)
            elif stat.S_ISDIR(mode):
                state[rel] = "dir"
            elif stat.S_ISREG(mode):
                state[rel] = f"file:{oct(mode)}:" + hashlib.sha256(p.read_bytes()).hexdigest()
            else:  # a FIFO or device: reading it could block
                state[rel] = f"special:{oct(mode)}"
    return state
