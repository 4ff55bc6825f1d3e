"""A slice of timm 1.0.31's `timm/layers` as a repo to migrate: some building blocks every timm model
uses (MLPs, squeeze-excite, layer scale, drop path, patch embedding, ECA, CBAM, conv-norm-act) and
every module of `timm/layers` they import, relative imports followed. timm's own `__init__.py` files
import the whole library (141k lines), so the slice's are empty: the files themselves are timm's.

    python tools/timm_slice.py OUT_DIR          # then: msagent migrate OUT_DIR --out ...

The timm source comes from benchmarks/rules_beside_paconvert.py's download (.bench/timm-src/).
"""
from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEEDS = ["mlp.py", "squeeze_excite.py", "layer_scale.py", "drop.py", "patch_embed.py", "eca.py", "cbam.py",
         "conv_bn_act.py"]


def build(out: Path) -> list[str]:
    from benchmarks.rules_beside_paconvert import timm_tree

    layers = timm_tree() / "layers"
    need, todo = set(), list(SEEDS)
    while todo:
        name = todo.pop()
        if name in need or not (layers / name).is_file():
            continue
        need.add(name)
        todo += [m + ".py" for m in re.findall(r"^\s*from \.(\w+) import", (layers / name).read_text(), re.M)]
    if out.exists():
        shutil.rmtree(out)
    (out / "timm" / "layers").mkdir(parents=True)
    (out / "timm" / "__init__.py").write_text("")
    (out / "timm" / "layers" / "__init__.py").write_text("")
    for name in sorted(need):
        shutil.copy(layers / name, out / "timm" / "layers" / name)
    return sorted(need)


if __name__ == "__main__":
    files = build(Path(sys.argv[1]))
    print(f"{len(files)} files of timm/layers: {', '.join(files)}")
