"""The wild corpus measures the general case only if nothing in the product knows it: no rule, KB
entry, prompt or spec heuristic names one of its packages or modules. Class names are left out of
the check (Attention, FeedForward, ResBlock are everyone's names); module names that are ordinary
words are listed in GENERIC and left out too."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERIC = {"conv", "model", "norm", "utils", "experimental", "activ", "arch", "att", "gated", "reversible",
           "splat", "tutti", "ablation", "model_store"}
SEARCHED = [ROOT / "agent", ROOT / "tools" / "kb_src", ROOT / "mapping_kb", ROOT / "prompts"]


def _corpus_names() -> set[str]:
    manifest = tomllib.loads((ROOT / "evals" / "wild" / "corpus.toml").read_text())
    names = set()
    for pkg in manifest["package"]:
        names |= {pkg["dist"], pkg["package"], pkg["dist"].replace("-", "_")}
        for pattern in pkg["files"]:
            stem = Path(pattern).stem
            if "*" not in stem and stem != "__init__":
                names.add(stem)
    built = ROOT / ".wild" / "cases"
    if built.is_dir():  # the built corpus: every module of it, closure included
        names |= {p.stem for p in built.rglob("*.py") if p.stem != "__init__"}
    return names - GENERIC


def test_no_product_file_names_the_wild_corpus():
    names = _corpus_names()
    assert len(names) >= 20
    pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, names), key=len, reverse=True)) + r")\b", re.I)
    hits = []
    for base in SEARCHED:
        for path in base.rglob("*"):
            if path.is_file() and path.suffix in (".py", ".yaml", ".yml", ".j2", ".md", ".json", ".txt"):
                for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                    found = pattern.search(line)
                    if found:
                        hits.append(f"{path.relative_to(ROOT)}:{n}: {found.group(0)}")
    assert not hits, "\n".join(hits[:20])
