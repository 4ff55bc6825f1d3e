"""msagent installs as a wheel, not only editable: the KB and the prompts travel inside it, and
what a user accepts or verifies goes to the user data folder, never into site-packages."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)],
                   check=True, capture_output=True, timeout=600)
    (path,) = dist.glob("msagent-*.whl")
    return path


def tree_digest(folder: Path) -> str:
    """Names, sizes, mtimes and contents of every file below `folder` (a write anywhere changes it)."""
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        st = f.stat()
        h.update(f"{f.relative_to(folder)}|{st.st_size}|{st.st_mtime_ns}|".encode())
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


CANDIDATES = [{"unit": "act.Expit", "by": "llm", "device": "cpu", "proven": True, "kind": "new-entry", "entry": {
    "api": "torch.special.expit", "kind": "function", "targets": [{"namespace": "legacy", "api": "mindspore.ops.sigmoid"}],
    "probe": {"setup": "x = torch.randn(4, 4)", "cases": [{"style": "positional", "code": "torch.special.expit(x)"}]}}}]


def test_wheel_carries_kb_and_prompts_and_finds_them(wheel, tmp_path):
    names = zipfile.ZipFile(wheel).namelist()
    assert "agent/_data/mapping_kb/nn.yaml" in names
    assert "agent/_data/mapping_kb/verdicts/cpu.json" in names
    assert any(n.startswith("agent/_data/prompts/") and n.endswith(".j2") for n in names)
    assert "agent/cli/main.py" in names
    meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
    assert "Requires-Dist: platformdirs" in zipfile.ZipFile(wheel).read(meta).decode()

    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=600)
    probe = ("from agent.kb.store import kb_root, load_kb; from agent.llm.prompts import prompts_root; "
             "print(kb_root()); print(prompts_root()); print(len(load_kb().entries))")
    data = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": str(target), "MSAGENT_DATA_DIR": str(data)}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path,
                         check=True).stdout.splitlines()
    assert out[0].startswith(str(target)) and out[1].startswith(str(target))
    assert int(out[2]) > 850

    # The installed package's KB is read, never written: accepted entries go to the data folder.
    before = tree_digest(target / "agent")
    cands = tmp_path / "kb-candidates.yaml"
    cands.write_text(yaml.safe_dump(CANDIDATES))
    cli = [sys.executable, "-c", "from agent.cli.main import app; app()"]
    accepted = subprocess.run([*cli, "kb", "accept", str(cands)], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=120)
    assert accepted.returncode == 0 and "accepted: 1" in accepted.stdout, accepted.stdout + accepted.stderr
    assert (data / "mapping_kb" / "learned.yaml").is_file()
    shown = subprocess.run([*cli, "kb", "show", "torch.special.expit"], capture_output=True, text=True, env=env,
                           cwd=tmp_path, timeout=120)
    assert shown.returncode == 0 and "mindspore.ops.sigmoid" in shown.stdout
    refused = subprocess.run([*cli, "kb", "verify", "--into-package"], capture_output=True, text=True, env=env,
                             cwd=tmp_path, timeout=120)
    assert refused.returncode == 2 and "installed package" in refused.stderr
    assert tree_digest(target / "agent") == before


def _venv_with_the_checkouts_dependencies(venv: Path) -> Path:
    """A fresh venv outside the checkout holding the dependencies of .venv (hard links: torch and
    MindSpore are not downloaded again) but not msagent. Returns its site-packages."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    purelib = sysconfig.get_paths()["purelib"]
    site = venv / Path(purelib).relative_to(sys.prefix)
    skip = {"agent", "_editable_impl_msagent.pth"}
    for item in Path(purelib).iterdir():
        if item.name in skip or item.name.startswith(("msagent-", "__editable__")):
            continue
        dest = site / item.name
        if item.is_dir() and not item.is_symlink():
            shutil.copytree(item, dest, symlinks=True, copy_function=os.link)
        else:
            os.link(item, dest, follow_symlinks=False)
    return site


@pytest.mark.slow
def test_an_installed_wheel_migrates_the_example_and_accepts_without_writing_site_packages(wheel, tmp_path):
    """The README's promise for a wheel install: `msagent migrate` on the bundled example (verified
    in the sandbox, from site-packages) and `msagent kb accept`, with the package folder untouched."""
    pytest.importorskip("mindspore")
    from agent.sandbox.isolation import sandbox_missing

    if sandbox_missing():
        pytest.skip("no verification sandbox on this host: " + "; ".join(sandbox_missing()))
    venv = tmp_path / "venv"
    site = _venv_with_the_checkouts_dependencies(venv)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True, timeout=600)
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MSAGENT_", "XDG_", "PYTHON", "VIRTUAL_ENV"))}
    env["HOME"] = str(home)  # the data folder is platformdirs' default under it
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import agent; print(agent.__file__)"],
                           capture_output=True, text=True, env=env, cwd=work, check=True).stdout.strip()
    assert where.startswith(str(site)), where
    before = tree_digest(site / "agent")
    top = sorted(p.name for p in site.iterdir())

    msagent = str(venv / "bin" / "msagent")
    proc = subprocess.run([msagent, "migrate", str(ROOT / "examples" / "textvision"), "-o", str(work / "out"),
                           "--json"], capture_output=True, text=True, env=env, cwd=work, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(proc.stdout)
    assert report["units"] and all(u["status"].startswith("verified") for u in report["units"])
    assert report["sandbox"].get("fs") is True

    cands = work / "kb-candidates.yaml"
    cands.write_text(yaml.safe_dump(CANDIDATES))
    accepted = subprocess.run([msagent, "kb", "accept", str(cands)], capture_output=True, text=True, env=env,
                              cwd=work, timeout=120)
    assert accepted.returncode == 0 and "accepted: 1" in accepted.stdout, accepted.stderr
    assert (home / ".local" / "share" / "msagent" / "mapping_kb" / "learned.yaml").is_file()
    assert tree_digest(site / "agent") == before
    assert sorted(p.name for p in site.iterdir()) == top
