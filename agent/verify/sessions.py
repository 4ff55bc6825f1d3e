"""Which processes serve a unit: fresh ones for the unit, or the ones held for the units of one file.

A held session is kept under a key (the unit's file for torch; the file and the count of OUT
rewrites for MindSpore) while the units it serves pass; a unit that fails or errs ends both. Issue 15
allows a process per file: state a unit leaves behind reaches only the next units of its own file.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

from agent.sandbox.sides import Side


class Sessions:
    def __init__(self, ref: Side, cand: Side):
        self.sides = {"torch": ref, "mindspore": cand}
        self._held: dict[str, tuple] = {}  # side name -> (key, Session)

    def take(self, name: str, key, timeout: float):
        held = self._held.get(name)
        if held is not None and held[0] == key and not held[1].closed:
            held[1].renew(timeout)
            return held[1]
        self.drop(name)
        sess = self.sides[name].open(timeout)
        self._held[name] = (key, sess)
        return sess

    def take_both(self, keys: tuple, timeout: float) -> tuple:
        """take() of both sides; the MindSpore side's in a thread, so that the two templates' waits
        (ending the previous session, handing out the next) overlap."""
        found: dict = {}

        def take_candidate() -> None:
            try:
                found["cand"] = self.take("mindspore", keys[1], timeout)
            except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread below
                found["error"] = exc

        worker = threading.Thread(target=take_candidate, daemon=True)
        worker.start()
        try:
            ref = self.take("torch", keys[0], timeout)
        finally:
            worker.join()
        if "error" in found:
            raise found["error"]
        return ref, found["cand"]

    def drop(self, name: str) -> None:
        held = self._held.pop(name, None)
        if held is not None:
            held[1].close()

    def drop_all(self) -> None:
        for name in list(self._held):
            self.drop(name)

    def _drop_other_keys(self, reuse: tuple, torch_only: bool) -> None:
        """End every held process the unit will not use before opening any: both templates then
        tear down and fork their next session at the same time."""
        for name, key in (("torch", reuse[0]), ("mindspore", reuse[1])):
            held = self._held.get(name)
            if held is None or held[0] == key:
                continue
            # torch only (observe): the translation's process of the previous file is done, so ending it
            # now lets its template warm the next one while the torch side works
            self.drop(name)

    @contextmanager
    def pair(self, timeout: float, reuse: tuple | None, torch_only: bool = False):
        """(torch session, MindSpore session) for one unit. Without `reuse`, fresh processes that end
        with the block. With `reuse` = (torch key, MindSpore key), the processes the previous unit of
        the same keys used, if it passed."""
        if reuse is None:
            # a template serves one session at a time: a session held for another file ends first
            self.drop("torch")
            if not torch_only:
                self.drop("mindspore")
            with self.sides["torch"].session(timeout) as ref:
                if torch_only:
                    yield ref, None
                    return
                with self.sides["mindspore"].session(timeout) as cand:
                    yield ref, cand
            return
        self._drop_other_keys(reuse, torch_only)
        ok = False
        try:
            if torch_only:
                ref, cand = self.take("torch", reuse[0], timeout), None
            else:
                ref, cand = self.take_both(reuse, timeout)
            yield ref, cand
            ok = True
        finally:
            if not ok:
                self.drop("torch")
                self.drop("mindspore")
