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


def bind(namespace: dict, absent, exc: BaseException, bound: list) -> None:
    """After a guarded import failed with EXC: bind its names in NAMESPACE to stand-ins when the module it
    imports is one of ABSENT. BOUND: (local name, module, imported attribute or None) per name."""
    if not isinstance(exc, ImportError):
        return
    for local, module, attr in bound:
        if module.split(".")[0] in absent:
            namespace[local] = AbsentModule(module) if attr is None else Unavailable(f"{module}.{attr}")
