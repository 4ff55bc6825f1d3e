"""Stand-ins for modules installed on neither side here (the judge names them, see loader.absent_modules):
the file imports, and a use of one raises ModuleNotFoundError where the code reaches it, on either side
(one applied as a decorator leaves what it decorates as written).
The MindSpore side gets them through a finder (`Absent`, last on the meta path); the torch side, whose
imports the loader guards one by one, binds them where such an import failed (`bind`), so a statement
that only names one (`NORMS = dict(frozen=FrozenBatchNorm2d, ...)`) runs on both sides alike."""
from __future__ import annotations

import importlib.abc
import importlib.util
import inspect
import types

from agent.verify.failures import ABSENT_TEXT


class Absent(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, names):
        self.names = set(names)

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] not in self.names:
            return None
        return importlib.util.spec_from_loader(fullname, self, is_package=True)

    def create_module(self, spec):
        return AbsentModule(spec.name)

    def exec_module(self, module):
        module.__path__ = []


class AbsentModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return Unavailable(f"{self.__name__}.{name}")


class Unavailable:
    """A name imported from a module not installed here: any use raises."""

    def __init__(self, name):
        self._name = name

    def _raise(self, *args, **kwargs):
        raise ModuleNotFoundError(f"{self._name}: {ABSENT_TEXT}")

    def __call__(self, *args, **kwargs):
        """Applied as a decorator (`@beartype`, `@typechecked` on a function or class, at import): what it
        decorates stays as written, on both sides alike. Called with settings only (`@numba.jit(nopython=True)`,
        a decorator factory): a stand-in for what it returns. Any other use raises."""
        if len(args) == 1 and not kwargs and (inspect.isfunction(args[0]) or inspect.isclass(args[0])):
            return args[0]
        if all(_setting(v) for v in (*args, *kwargs.values())):
            return Unavailable(f"{self._name}(...)")
        self._raise()

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        self._raise()

    def __mro_entries__(self, bases):
        self._raise()

    __iter__ = __len__ = __bool__ = __getitem__ = __add__ = __radd__ = __mul__ = __rmul__ = _raise


def _setting(value) -> bool:
    """A literal a decorator factory is configured with (a number, string, flag or None, or a tuple of them)."""
    if isinstance(value, tuple):
        return all(_setting(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


def bind(namespace: dict, absent, exc: BaseException, bound: list, reference=None) -> bool:
    """After a guarded import failed with EXC: bind its names in NAMESPACE to stand-ins when the module it
    imports is one of ABSENT. BOUND: (local name, module, imported attribute or None) per name. REFERENCE:
    qualified name -> the KB's torch version of it or None (torch side only, see References). True when
    every name got its KB version: nothing the import promised is missing."""
    if not isinstance(exc, ImportError):
        return False
    covered = bool(bound)
    for local, module, attr in bound:
        found = None
        if module.split(".")[0] in absent:
            found = reference(f"{module}.{attr}") if reference is not None and attr is not None else None
            namespace[local] = found if found is not None else (
                AbsentModule(module) if attr is None else Unavailable(f"{module}.{attr}"))
        covered = covered and found is not None
    return covered


class References:
    """The KB's torch versions of a torch-built library's names (Entry.reference), for the torch side where
    the library cannot be imported: one namespace per library, its sources run once (in an order that lets
    one use a name another defines), the names handed out recorded in `used`."""

    def __init__(self, sources: dict[str, str] | None = None):
        self.sources = dict(sources or {})
        self.used: set[str] = set()
        self._spaces: dict[str, dict] = {}

    def __call__(self, name: str):
        if name not in self.sources:
            return None
        library = name.split(".")[0]
        if library not in self._spaces:
            self._spaces[library] = self._run([src for n, src in self.sources.items() if n.split(".")[0] == library],
                                              library)
        found = self._spaces[library].get(name.rsplit(".", 1)[1])
        if found is not None:
            self.used.add(name)
        return found

    @staticmethod
    def _run(sources: list[str], library: str) -> dict:
        import torch

        space: dict = {"torch": torch, "__name__": f"msagent_reference_{library}"}
        waiting = list(dict.fromkeys(sources))
        while waiting:
            failed = []
            for source in waiting:
                try:
                    exec(compile(source, f"<KB reference for {library}>", "exec"), space)  # noqa: S102 - the KB's own
                except NameError:
                    failed.append(source)  # uses a name a later source defines
            if len(failed) == len(waiting):
                break
            waiting = failed
        return space
