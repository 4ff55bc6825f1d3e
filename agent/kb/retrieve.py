"""Find KB entries: by name (exact, with the usual import spellings), or by free text with BM25.

Free text is what the repair loop has in hand: an error message ("The kernel Conv2DExt
unregistered"), a MindSpore name, a torch call. Each entry is indexed by its names, its
targets' MindSpore names, its notes (which carry the seed probes' error texts and kernel names)
and its verdict details, with CamelCase and dotted names split into words as well.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable
from weakref import WeakKeyDictionary

from agent.kb.schema import Entry
from agent.kb.store import KB

# Import spellings seen in torch code -> the qualified prefix they stand for.
_PREFIXES = (
    ("F.", "torch.nn.functional."),
    ("nn.functional.", "torch.nn.functional."),
    ("functional.", "torch.nn.functional."),
    ("nn.", "torch.nn."),
    ("optim.", "torch.optim."),
    ("Tensor.", "torch.Tensor."),
    ("th.", "torch."),
)
_MODULE_PATH = re.compile(r"^torch\.nn\.modules\.[a-z_]+\.(?P<name>[A-Z]\w*)$")
_STOP = {"the", "a", "an", "of", "for", "to", "in", "on", "is", "was", "be", "but", "and", "or", "got",
         "with", "should", "must", "not", "this", "that", "it", "by", "as", "at", "from", "torch", "mindspore"}

_indexes: WeakKeyDictionary = WeakKeyDictionary()


def exact(kb: KB, name: str) -> Entry | None:
    """The entry for a torch name, written qualified, as an alias, or with a common import prefix."""
    name = name.strip().removesuffix("()")
    for candidate in _spellings(name):
        entry = kb.get(candidate)
        if entry is not None:
            return entry
    return None


def _spellings(name: str) -> list[str]:
    out = [name]
    for short, full in _PREFIXES:
        if name.startswith(short):
            out.append(full + name[len(short):])
    m = _MODULE_PATH.match(name)
    if m:
        out.append("torch.nn." + m.group("name"))
    if not name.startswith("torch"):
        out += ["torch." + name, "torch.nn." + name, "torch.nn.functional." + name, "torch.Tensor." + name]
    return out


def tokenize(text: str) -> list[str]:
    """Words of `text`, with dotted names, snake_case and CamelCase also split into their parts."""
    words: list[str] = []
    for raw in re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", text):
        raw = raw.strip("._")
        if not raw:
            continue
        parts = {raw.lower()}
        for piece in re.split(r"[._]", raw):
            if piece:
                parts.add(piece.lower())
                parts.update(p.lower() for p in re.findall(r"[A-Z]+(?=[A-Z][a-z]|\d|$)|[A-Z]?[a-z]+|\d+[A-Za-z]*", piece))
        words.extend(p for p in parts if p not in _STOP and len(p) > 1)
    return words


def entry_text(entry: Entry) -> str:
    parts = [entry.api, *entry.aliases, entry.api.rsplit(".", 1)[1], entry.notes]
    for t in entry.targets:
        parts += [t.api, t.notes]
        parts += [v.detail for v in t.verdicts.values()]
    return " ".join(p for p in parts if p)


class _Index:
    def __init__(self, kb: KB):
        import bm25s  # imported on first search only: exact lookups need no index

        self.entries = list(kb.entries)
        self.retriever = bm25s.BM25()
        self.retriever.index([tokenize(entry_text(e)) for e in self.entries], show_progress=False)

    def search(self, text: str, k: int) -> list[Entry]:
        words = [w for w in tokenize(text) if w in self.retriever.vocab_dict] if hasattr(self.retriever, "vocab_dict") \
            else tokenize(text)
        if not words:
            return []
        k = min(k, len(self.entries))
        docs, scores = self.retriever.retrieve([words], k=k, show_progress=False)
        return [self.entries[int(i)] for i, s in zip(docs[0], scores[0]) if s > 0]


def search(kb: KB, text: str, k: int = 5) -> list[Entry]:
    """Up to k entries best matching free text (an error message, an API name), best first.

    A text that names an entry exactly puts that entry first.
    """
    index = _indexes.get(kb)
    if index is None:
        index = _indexes[kb] = _Index(kb)
    hits = index.search(text, k)
    first = exact(kb, text) if re.fullmatch(r"[\w.]+", text.strip()) else None
    if first is not None:
        hits = [first, *[h for h in hits if h is not first]][:k]
    return hits


def nearest_candidate(kb: KB) -> Callable[[str], str | None]:
    """The marker hint of a translation: the KB api nearest to an unconverted call's text, or None."""

    @functools.lru_cache(maxsize=4096)  # the same unconverted API is marked many times in a repo
    def nearest(text: str) -> str | None:
        try:
            hits = search(kb, text, k=1)
        except Exception:
            return None
        return hits[0].api if hits else None

    return nearest
