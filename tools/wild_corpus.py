"""Build the wild eval corpus (evals/wild/corpus.toml) into a scratch folder: one eval case per
pinned PyPI distribution, holding the files the manifest names plus every module of the same
package they import, `__init__.py` files included (what a user who migrates that package has).

    python tools/wild_corpus.py --into .wild

Downloads go through pip (`pip download --no-deps`), so the package index configured for pip is
used; nothing is written outside --into. The cases carry no spec and no expectation list.
"""
from __future__ import annotations

import argparse
import ast
import fnmatch
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

MANIFEST = Path(__file__).resolve().parents[1] / "evals" / "wild" / "corpus.toml"


def download(dist: str, version: str, into: Path) -> Path:
    """The distribution's wheel or sdist in INTO (downloaded once)."""
    def found() -> list[Path]:
        want = re.sub(r"[-_.]+", "_", dist).lower()
        return [p for p in into.iterdir() if f"-{version}" in p.name
                and re.sub(r"[-_.]+", "_", p.name.split(f"-{version}")[0]).lower() == want]

    if not found():
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", f"{dist}=={version}",
                        "-d", str(into)], check=True)
    if not found():
        raise SystemExit(f"{dist}=={version}: pip downloaded nothing recognisable into {into}")
    return found()[0]


def unpack(archive: Path, into: Path, package: str) -> Path:
    """The folder of PACKAGE inside the unpacked ARCHIVE."""
    target = into / archive.name.split(".tar")[0].removesuffix(".whl")
    if not target.exists():
        tmp = target.with_suffix(".part")
        shutil.rmtree(tmp, ignore_errors=True)
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as z:
                z.extractall(tmp)
        else:
            with tarfile.open(archive) as t:
                t.extractall(tmp, filter="data")
        tmp.rename(target)
    found = sorted(target.glob(f"**/{package}/__init__.py"), key=lambda p: len(p.parts))
    if not found:
        raise SystemExit(f"{archive.name}: no package {package!r} inside")
    return found[0].parent


def _local_imports(path: Path, root: Path, package: str) -> set[Path]:
    """Modules of PACKAGE (under ROOT, the folder holding it) that the file at PATH imports."""
    try:
        tree = ast.parse(path.read_bytes())
    except SyntaxError:
        return set()
    here = path.relative_to(root).parent.parts
    out: set[Path] = set()
    for node in ast.walk(tree):
        names: list[tuple[str, ...]] = []
        if isinstance(node, ast.Import):
            names = [tuple(a.name.split(".")) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[:len(here) - node.level + 1] if node.level else ()
            mod = tuple(node.module.split(".")) if node.module else ()
            names = [base + mod + (a.name,) for a in node.names] + [base + mod]
        for parts in names:
            if not parts or parts[0] != package:
                continue
            for n in range(len(parts), 0, -1):
                for cand in (root.joinpath(*parts[:n]).with_suffix(".py"), root.joinpath(*parts[:n], "__init__.py")):
                    if cand.is_file():
                        out.add(cand)
    return out


def closure(pkg_dir: Path, globs: list[str]) -> list[Path]:
    root, package = pkg_dir.parent, pkg_dir.name
    todo = [p for p in pkg_dir.rglob("*.py") if any(fnmatch.fnmatch(str(p.relative_to(pkg_dir)), g) for g in globs)]
    seen: set[Path] = set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        for parent in p.relative_to(root).parents:  # the packages on the way are imported first
            init = root / parent / "__init__.py"
            if parent.parts and init.is_file() and init not in seen:
                todo.append(init)
        todo.extend(_local_imports(p, root, package) - seen)
    return sorted(seen)


def build(into: Path, only: list[str] | None = None) -> list[Path]:
    manifest = tomllib.loads(MANIFEST.read_text())
    downloads, unpacked, cases = into / "downloads", into / "unpacked", into / "cases"
    for d in (downloads, unpacked, cases):
        d.mkdir(parents=True, exist_ok=True)
    made = []
    for spec in manifest["package"]:
        name = spec["dist"]
        if only and name not in only:
            continue
        pkg_dir = unpack(download(name, spec["version"], downloads), unpacked, spec["package"])
        files = closure(pkg_dir, spec["files"])
        case = cases / name
        shutil.rmtree(case, ignore_errors=True)
        for f in files:
            dest = case / "repo" / f.relative_to(pkg_dir.parent)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dest)
        (case / "case.toml").write_text(
            f'category = "{name}"\ndifficulty = "wild"\n'
            f'description = "{name}=={spec["version"]}: {len(files)} files of {spec["package"]}"\n\n[expect]\nverify = []\n')
        made.append(case)
        print(f"{name}=={spec['version']}: {len(files)} files", file=sys.stderr)
    return made


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--into", type=Path, default=Path(".wild"))
    ap.add_argument("--only", nargs="*", help="distributions to build (default: all)")
    args = ap.parse_args()
    build(args.into, args.only)


if __name__ == "__main__":
    main()
