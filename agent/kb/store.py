"""Load the knowledge base, look entries up by name, and pick a target per device.

Two layers: the packaged KB (mapping_kb/, inside the wheel or the checkout), never written at run
time, and the user's layer under the user data folder (`user_kb_root()`): the entries
`msagent kb accept` added (learned.yaml) and the verdicts `msagent kb verify` recorded
(verdicts/<device>.json). `load_kb()` puts the user's layer over the packaged one; where both
name the same API or the same target's verdict, the user's wins.
"""
from __future__ import annotations

import json
import re
import os
from functools import lru_cache
from pathlib import Path

import yaml

from agent.kb.schema import Entry, Target, Verdict
from agent.verify.devices import device as declared

def kb_root() -> Path:
    """mapping_kb/ inside an installed wheel, else the checkout's."""
    packaged = Path(__file__).resolve().parents[1] / "_data" / "mapping_kb"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "mapping_kb"


DATA_ENV = "MSAGENT_DATA_DIR"


def data_dir() -> Path:
    """The user's msagent data folder: $MSAGENT_DATA_DIR, else platformdirs' user data dir
    (~/.local/share/msagent on Linux, under $XDG_DATA_HOME when set)."""
    override = os.environ.get(DATA_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("msagent", appauthor=False))


def user_kb_root() -> Path:
    """The user's KB layer: learned.yaml from `msagent kb accept`, verdicts/ from `msagent kb verify`."""
    return data_dir() / "mapping_kb"


def helper_name(source: str) -> str:
    """The name a KB helper's source defines."""
    found = re.search(r"^(?:async\s+)?(?:def|class)\s+(\w+)", source, re.M)  # past any decorator
    return found.group(1) if found else source.split("(", 1)[0].split()[-1].rstrip(":")


class KB:
    def __init__(self, entries: list[Entry], root: Path | None = None, user: Path | None = None):
        self.root = root
        self.user = user  # the user's layer loaded over `root`, or None
        self.entries = entries
        self._by_name: dict[str, Entry] = {}
        for e in entries:
            for n in e.names:
                self._by_name.setdefault(n, e)

    def kernel_rounding(self, device: str) -> dict[str, float]:
        """Torch function name -> MindSpore's float32 kernel error on DEVICE, as measured by
        tools/measure_kernel_rounding.py (the user's layer over the packaged file); {} where none was."""
        return _kernel_rounding(str(self.root) if self.root else None, str(self.user) if self.user else None, device)

    def get(self, name: str) -> Entry | None:
        return self._by_name.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def names_under(self, prefix: str) -> list[str]:
        """Every name (API or alias) the KB holds below the dotted PREFIX (`torch.compiler` -> its functions)."""
        start = prefix + "."
        return [n for n in self._by_name if n.startswith(start)]

    def helper_source(self, name: str) -> str | None:
        """The source of the KB helper that defines NAME (`_ms_interpolate`), for a helper that uses another."""
        if not hasattr(self, "_helpers"):
            self._helpers = {helper_name(t.helper): t.helper for e in self.entries for t in e.targets if t.helper}
        return self._helpers.get(name)

    def references(self, libraries=None) -> dict[str, str]:
        """Qualified name -> torch source, for the names of torch-built libraries the torch side runs in the
        library's place where it cannot be imported (Entry.reference); only LIBRARIES' names when given."""
        if not hasattr(self, "_references"):
            self._references = {n: e.reference for e in self.entries if e.reference for n in e.names
                                if n.split(".")[0] != "torch"}
        if libraries is None:
            return self._references
        return {n: src for n, src in self._references.items() if n.split(".")[0] in libraries}

    def methods(self) -> dict[str, Entry]:
        """Tensor method name -> entry, for entries of kind 'method' named torch.Tensor.X."""
        out = {}
        for e in self.entries:
            if e.kind == "method" and e.api.startswith("torch.Tensor."):
                out.setdefault(e.api.rsplit(".", 1)[1], e)
        return out

    def target_for(self, entry: Entry, device: str) -> Target | None:
        """The target a translation for `device` should use: a verified one first, never a raised one."""
        if not entry.targets:
            return None
        order = declared(device).namespaces
        ranked = sorted(entry.targets, key=lambda t: order.index(t.namespace) if t.namespace in order else 9)
        for grads_too in (True, False):  # a target that also trains the same first (its gradients matched)
            for t in ranked:
                v = t.verdicts.get(device)
                if v and v.source == "probe" and v.status == "matched" and (
                        not grads_too or v.grad in (None, "matched")):
                    return t
        for t in ranked:
            v = t.verdicts.get(device)
            if v is None or v.status not in ("raised", "differs"):
                return t
        return None

    def alternatives(self, entry: Entry, device: str, exclude: Target | None = None) -> list[Target]:
        """Other targets to try during repair, best first."""
        order = declared(device).namespaces
        rest = [t for t in entry.targets if t is not exclude]
        return sorted(rest, key=lambda t: order.index(t.namespace) if t.namespace in order else 9)


def _load_verdicts(root: Path) -> dict[str, dict[str, dict[str, Verdict]]]:
    """device -> api -> target api -> verdict, as recorded by `msagent kb verify`."""
    out: dict[str, dict[str, dict[str, Verdict]]] = {}
    vdir = root / "verdicts"
    if not vdir.is_dir():
        return out
    for f in sorted(vdir.glob("*.json")):
        data = json.loads(f.read_text())
        out[f.stem] = {
            api: {tapi: Verdict(**v) for tapi, v in targets.items()} for api, targets in data.get("verdicts", {}).items()
        }
    return out


@lru_cache(maxsize=8)
def _kernel_rounding(root: str | None, user: str | None, device_name: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for base in (root, user):
        f = Path(base, declared(device_name).rounding_file) if base else None
        if f is not None and f.is_file():
            data = yaml.safe_load(f.read_text()) or {}
            found.update({str(k): float(v) for k, v in (data.get("errors") or {}).items()})
    return found


def load_entries(root: Path) -> list[Entry]:
    entries: list[Entry] = []
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for f in sorted(root.glob("*.yaml")):
        docs = yaml.load(f.read_text(), Loader=loader) or []
        for i, raw in enumerate(docs):
            try:
                entries.append(Entry(**raw))
            except Exception as exc:  # a broken entry names its file and position
                raise ValueError(f"{f}: entry {i} ({raw.get('api', '?')}): {exc}") from exc
    return entries


def load_kb(root: str | None = None, user: str | None = None) -> KB:
    """The KB at `root` with the layer `user` over it. Without `root`: the packaged KB with the
    user's layer (`user_kb_root()`, or `user` when given). With `root` (MSAGENT_KB_ROOT, a test's
    KB): that folder, with only the layer `user` names (None: none)."""
    if not root:
        root, user = str(kb_root()), user or str(user_kb_root())
    return _load_kb(str(root), str(user) if user else None)


@lru_cache(maxsize=4)
def _load_kb(root: str, user: str | None) -> KB:
    path = Path(root)
    entries = load_entries(path)
    verdicts = _load_verdicts(path)
    layer = Path(user) if user else None
    if layer is not None and layer.is_dir():
        mine = load_entries(layer)
        taken = {e.api for e in mine}  # the user's entry replaces a packaged one of the same API
        entries = [*mine, *(e for e in entries if e.api not in taken)]
        for device, per_api in _load_verdicts(layer).items():
            slot = verdicts.setdefault(device, {})
            for api, targets in per_api.items():
                slot.setdefault(api, {}).update(targets)
    for e in entries:
        for t in e.targets:
            for device, per_api in verdicts.items():
                v = per_api.get(e.api, {}).get(t.api)
                if v is not None:
                    t.verdicts[device] = v
    return KB(entries, path, layer)


load_kb.cache_clear = _load_kb.cache_clear
