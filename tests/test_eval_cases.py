"""The eval corpus under evals/cases/ is well formed and its torch code really runs.

Each case is checked statically (case.toml keys, expected units exist, trap lines exist
verbatim) and then dynamically under torch only: every module of repo/ is imported
without running `__main__` blocks, and every expected unit is built and called the way a
verifier would find out how: msagent.toml, a literal instantiation in the repo, or the
constructor defaults, with inputs from msagent.toml or from the first layer's shape.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import sys
import tomllib
from collections import Counter
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

CASES_DIR = Path(__file__).resolve().parents[1] / "evals" / "cases"
CASES = sorted(p for p in CASES_DIR.iterdir() if (p / "case.toml").is_file())

CATEGORIES = {"cnn", "transformer", "rnn", "generative", "functional", "indexing", "training", "data", "trap", "misc"}
DIFFICULTIES = {"easy", "medium", "hard"}
TOP_KEYS = {"category", "difficulty", "description", "expect"}
EXPECT_KEYS = {"verify", "unchanged", "missing"}


def load_case(case: Path) -> dict:
    return tomllib.loads((case / "case.toml").read_text())


def load_user_spec(case: Path) -> dict:
    path = case / "repo" / "msagent.toml"
    return tomllib.loads(path.read_text()).get("verify", {}) if path.is_file() else {}


def split_unit(unit: str) -> tuple[str, str]:
    module, _, name = unit.rpartition(".")
    return module, name


def module_file(repo: Path, module: str) -> Path | None:
    base = repo.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def repo_modules(repo: Path) -> list[str]:
    names = []
    for path in sorted(repo.rglob("*.py")):
        parts = list(path.relative_to(repo).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts:
            names.append(".".join(parts))
    return names


def missing_units(spec: dict) -> dict[str, str]:
    return {m["unit"]: m["dependency"] for m in spec["expect"].get("missing", [])}


# ---------------------------------------------------------------- static checks


def test_corpus_size_and_spread():
    specs = [load_case(c) for c in CASES]
    assert len(specs) >= 42
    by_difficulty = Counter(s["difficulty"] for s in specs)
    assert by_difficulty["easy"] >= 12 and by_difficulty["medium"] >= 12 and by_difficulty["hard"] >= 10
    categories = {s["category"] for s in specs}
    assert categories == CATEGORIES, CATEGORIES - categories
    # Exactly one case exercises the missing-dependency path.
    assert sum(1 for s in specs if s["expect"].get("missing")) == 1
    assert sum(1 for s in specs if s["expect"].get("unchanged")) >= 4


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_case_toml_is_valid(case):
    spec = load_case(case)
    repo = case / "repo"
    assert set(spec) <= TOP_KEYS and {"category", "difficulty", "description", "expect"} <= set(spec)
    assert spec["category"] in CATEGORIES
    assert spec["difficulty"] in DIFFICULTIES
    assert spec["description"].strip() and "\n" not in spec["description"]
    expect = spec["expect"]
    assert set(expect) <= EXPECT_KEYS
    assert expect["verify"] and len(set(expect["verify"])) == len(expect["verify"])

    for unit in list(expect["verify"]) + list(missing_units(spec)):
        module, name = split_unit(unit)
        path = module_file(repo, module)
        assert path is not None, f"{unit}: no file for module {module}"
        tree = ast.parse(path.read_text(), filename=str(path))
        top = {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
        assert name in top, f"{unit}: {name} is not defined at the top of {path.name}"

    for trap in expect.get("unchanged", []):
        assert set(trap) == {"file", "line"}
        path = repo / trap["file"]
        assert path.is_file(), trap
        assert trap["line"] in path.read_text().splitlines(), trap

    for unit in load_user_spec(case):
        assert unit in expect["verify"] or unit in missing_units(spec), f"msagent.toml names unknown unit {unit}"


# --------------------------------------------------------------- dynamic checks


@contextlib.contextmanager
def imported_from(repo: Path):
    """Make repo/ importable, and forget its modules afterwards so cases with the same
    module names (models.py, ...) do not see each other."""
    before = set(sys.modules)
    sys.path.insert(0, str(repo))
    try:
        yield
    finally:
        sys.path.remove(str(repo))
        for name in set(sys.modules) - before:
            mod = sys.modules[name]
            if str(repo) in str(getattr(mod, "__file__", "") or ""):
                del sys.modules[name]


def is_literal(node: ast.AST) -> bool:
    """Literal arguments, allowing names and nested calls such as GPT(GPTConfig(n_layer=2))."""
    if isinstance(node, ast.Call):
        return all(is_literal(a) for a in node.args) and all(
            k.arg is not None and is_literal(k.value) for k in node.keywords
        )
    if isinstance(node, ast.Starred):
        return False
    if isinstance(node, ast.Name):
        # A module-level name such as a block class (ResNet(BasicBlock, [2, 2])); whether it
        # resolves is decided when the spec is evaluated in the unit's module namespace.
        return True
    try:
        ast.literal_eval(node)
        return True
    except ValueError:
        return False


def repo_instantiations(repo: Path, name: str) -> list[str]:
    found = []
    for path in sorted(repo.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if called == name and is_literal(node):
                call = ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=node.args, keywords=node.keywords)
                found.append(ast.unparse(call))
    return found


def infer_inputs(model) -> list[dict] | None:
    """The input a verifier would infer from the first shape-carrying layer."""
    nn = torch.nn
    for mod in model.modules():
        if isinstance(mod, nn.Embedding):
            return [{"shape": [2, 8], "dtype": "int64", "low": 0, "high": mod.num_embeddings}]
        if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d)):
            return [{"shape": [2, mod.in_channels, 16, 16], "dtype": "float32"}]
        if isinstance(mod, (nn.Conv1d, nn.ConvTranspose1d)):
            return [{"shape": [2, mod.in_channels, 16], "dtype": "float32"}]
        if isinstance(mod, nn.Linear):
            return [{"shape": [2, mod.in_features], "dtype": "float32"}]
        if isinstance(mod, nn.RNNBase):
            shape = [2, 8, mod.input_size] if mod.batch_first else [8, 2, mod.input_size]
            return [{"shape": shape, "dtype": "float32"}]
    return None


def make_tensor(spec: dict):
    dtype = getattr(torch, spec["dtype"])
    if dtype.is_floating_point:
        if "low" in spec or "high" in spec:  # a bounded float input, e.g. probabilities
            low, high = spec.get("low", 0.0), spec.get("high", 1.0)
            return low + (high - low) * torch.rand(spec["shape"], dtype=dtype)
        return torch.randn(spec["shape"], dtype=dtype)
    if dtype == torch.bool:
        return torch.rand(spec["shape"]) > 0.5
    return torch.randint(spec.get("low", 0), spec.get("high", 10), spec["shape"], dtype=dtype)


def holds_tensor(out) -> bool:
    if isinstance(out, torch.Tensor):
        return True
    if isinstance(out, (tuple, list)):
        return any(holds_tensor(o) for o in out)
    if isinstance(out, dict):
        return any(holds_tensor(o) for o in out.values())
    if hasattr(out, "__dataclass_fields__"):
        return any(holds_tensor(getattr(out, f)) for f in out.__dataclass_fields__)
    return False


def run_module_unit(module, name: str, user: dict, repo: Path) -> str:
    inits = [user["init"]] if "init" in user else repo_instantiations(repo, name) + [f"{name}()"]
    errors = []
    for init in inits:
        try:
            model = eval(init, vars(module))  # the spec contract: evaluated in the unit's module namespace
            model.eval()
            sizes = user.get("inputs") or [infer_inputs(model)]
            assert sizes[0] is not None, "no input spec and nothing to infer it from"
            with torch.no_grad():
                for inputs in sizes:
                    assert holds_tensor(model(*[make_tensor(s) for s in inputs]))
            return init
        except Exception as exc:  # try the next candidate, as a verifier would
            errors.append(f"{init}: {type(exc).__name__}: {exc}")
    raise AssertionError("no spec runs under torch:\n" + "\n".join(errors))


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_case_runs_under_torch(case):
    spec = load_case(case)
    repo = case / "repo"
    user_specs = load_user_spec(case)
    # module -> the uninstalled package it imports (a case's expect.missing)
    blocked = {split_unit(u)[0]: dep for u, dep in missing_units(spec).items()}
    torch.manual_seed(0)
    with imported_from(repo):
        for name in repo_modules(repo):
            if name in blocked and importlib.util.find_spec(blocked[name]) is None:
                with pytest.raises(ModuleNotFoundError, match=blocked[name]):
                    importlib.import_module(name)
                continue
            importlib.import_module(name)
        for unit in spec["expect"]["verify"]:
            module_name, name = split_unit(unit)
            module = importlib.import_module(module_name)
            obj = getattr(module, name)
            user = user_specs.get(unit, {})
            if isinstance(obj, type) and issubclass(obj, torch.nn.Module):
                run_module_unit(module, name, user, repo)
            else:
                assert callable(obj)
                assert "inputs" in user, f"{unit}: a function unit needs inputs in msagent.toml"
                with torch.no_grad():
                    for inputs in user["inputs"]:
                        assert holds_tensor(obj(*[make_tensor(s) for s in inputs])), unit


# ------------------------------------------------------- the bundled example repo

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "textvision"


def test_bundled_example_builds_and_runs_under_torch():
    """`make demo` migrates examples/textvision: every model class there must build from
    what the repo says (defaults, build_model) and run on the inputs a verifier infers."""
    with imported_from(EXAMPLE):
        for name in repo_modules(EXAMPLE):
            importlib.import_module(name)  # train.py included: its loop sits under __main__
        tvnet = importlib.import_module("tvnet")
        model = tvnet.build_model().eval()
        with torch.no_grad():
            out = model(torch.randn(2, 3, 16, 16), torch.randint(0, 100, (2, 12)))
        assert out.shape == (2, 5)
        for cls in (tvnet.ResidualBlock, tvnet.MLPHead, tvnet.TextEncoder):
            block = cls().eval()
            with torch.no_grad():
                assert holds_tensor(block(*[make_tensor(s) for s in infer_inputs(block)]))
        attn = tvnet.AttentionBlock().eval()
        with torch.no_grad():
            assert attn(torch.randn(2, 12, 32)).shape == (2, 12, 32)
