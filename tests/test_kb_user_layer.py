"""The user's KB layer: `msagent kb accept` and `msagent kb verify` write under the user data
folder (MSAGENT_DATA_DIR, else platformdirs' user data dir), `load_kb()` puts it over the packaged
KB (the user's entry or verdict wins), and the packaged mapping_kb/ is never written."""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agent.kb.store import kb_root, load_kb, user_kb_root
from agent.probes.runner import merge

ROOT = Path(__file__).resolve().parents[1]
MSAGENT = [sys.executable, "-m", "agent"]

# A proven candidate for an API the packaged KB does not know (its name differs from the target's,
# so no draft would propose it: written by hand, as a migration's kb-candidates.yaml would hold it).
EXPIT = {"api": "torch.special.expit", "kind": "function", "signature": "(input, *, out=None)",
         "targets": [{"namespace": "legacy", "api": "mindspore.ops.sigmoid"}],
         "probe": {"setup": "x = torch.randn(4, 4)",
                   "cases": [{"style": "positional", "code": "torch.special.expit(x)"}]}}
CANDIDATES = [
    {"unit": "act.Expit", "by": "llm", "device": "cpu", "proven": True, "kind": "new-entry", "entry": EXPIT},
    {"unit": "act.Relu", "by": "llm", "device": "cpu", "proven": True, "kind": "new-entry",
     "entry": {**EXPIT, "api": "torch.nn.ReLU", "kind": "class",
               "targets": [{"namespace": "legacy", "api": "mindspore.nn.ReLU"}]}},
]


def tree_digest(folder: Path) -> str:
    """Names, sizes, mtimes and contents of every file below `folder`."""
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        st = f.stat()
        h.update(f"{f.relative_to(folder)}|{st.st_size}|{st.st_mtime_ns}|".encode())
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    d = tmp_path / "data"
    monkeypatch.setenv("MSAGENT_DATA_DIR", str(d))
    load_kb.cache_clear()
    yield d
    load_kb.cache_clear()


def test_the_data_folder_comes_from_the_environment_or_platformdirs(tmp_path, monkeypatch):
    monkeypatch.setenv("MSAGENT_DATA_DIR", str(tmp_path / "mine"))
    assert user_kb_root() == tmp_path / "mine" / "mapping_kb"
    monkeypatch.delenv("MSAGENT_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    if sys.platform == "linux":
        assert user_kb_root() == tmp_path / "xdg" / "msagent" / "mapping_kb"


def test_the_user_layer_goes_over_the_packaged_kb_and_wins(data_dir):
    packaged = load_kb(str(kb_root()))
    relu = packaged.get("torch.nn.ReLU")
    target = relu.targets[0].api
    assert packaged.get("torch.special.expit") is None
    layer = data_dir / "mapping_kb"
    (layer / "verdicts").mkdir(parents=True)
    (layer / "learned.yaml").write_text(yaml.safe_dump([EXPIT]))
    mine = {"status": "differs", "detail": "mine", "source": "probe"}
    (layer / "verdicts" / "cpu.json").write_text(json.dumps({"verdicts": {"torch.nn.ReLU": {target: mine}}}))

    kb = load_kb()
    assert kb.user == layer and kb.root == kb_root()
    assert kb.get("torch.special.expit").targets[0].api == "mindspore.ops.sigmoid"
    assert kb.get("torch.nn.ReLU").targets[0].verdicts["cpu"].detail == "mine"  # the user's verdict wins
    assert len(kb.entries) == len(packaged.entries) + 1
    # an explicit KB folder (MSAGENT_KB_ROOT, a test's KB) is that folder alone
    assert load_kb(str(kb_root())).get("torch.special.expit") is None


def test_kb_accept_writes_the_data_folder_and_never_the_packaged_kb(tmp_path, data_dir):
    cands = tmp_path / "kb-candidates.yaml"
    cands.write_text(yaml.safe_dump(CANDIDATES))
    before = tree_digest(kb_root())
    proc = subprocess.run([*MSAGENT, "kb", "accept", str(cands)], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120, env={**os.environ, "MSAGENT_DATA_DIR": str(data_dir)})
    assert proc.returncode == 0, proc.stderr
    learned = data_dir / "mapping_kb" / "learned.yaml"
    assert "accepted: 1" in proc.stdout and f"written: {learned}" in proc.stdout
    # a name the packaged KB already has is not added again, and the packaged file is not the fix
    assert "skipped: torch.nn.ReLU: torch.nn.ReLU already has an entry in the packaged nn.yaml" in proc.stdout
    assert [e["api"] for e in yaml.safe_load(learned.read_text())] == ["torch.special.expit"]
    assert tree_digest(kb_root()) == before
    assert load_kb().get("torch.special.expit") is not None


def test_verdicts_in_the_user_layer_are_compared_with_the_packaged_seed(tmp_path):
    base, layer = tmp_path / "packaged", tmp_path / "user"
    (base / "verdicts").mkdir(parents=True)
    seed = {"status": "matched", "detail": "seed row", "source": "seed"}
    (base / "verdicts" / "cpu.json").write_text(json.dumps({"verdicts": {"torch.abs": {"mindspore.ops.abs": seed}}}))
    fresh = {"torch.abs": {"mindspore.ops.abs": {"status": "raised", "detail": "no kernel", "source": "probe"}}}
    counts = merge(layer, "cpu", fresh, base=base)
    assert counts == {"recorded": 1, "disagree_with_seed": 1}
    written = json.loads((layer / "verdicts" / "cpu.json").read_text())["verdicts"]["torch.abs"]["mindspore.ops.abs"]
    assert written["status"] == "raised" and "seed table said matched" in written["detail"]
    assert json.loads((base / "verdicts" / "cpu.json").read_text())["verdicts"]["torch.abs"]["mindspore.ops.abs"] == seed


def test_make_kb_verify_refreshes_the_packaged_verdicts_explicitly():
    assert "msagent kb verify --into-package" in (ROOT / "Makefile").read_text()


def test_kb_verify_probes_an_accepted_entry_from_a_data_folder_under_the_hidden_home(tmp_path):
    """The probe worker hides $HOME; the user's layer below it stays visible to it, read-only.
    The default data folder (platformdirs under HOME) is used: no MSAGENT_DATA_DIR."""
    pytest.importorskip("mindspore")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("MSAGENT_DATA_DIR", "XDG_DATA_HOME")}
    env["HOME"] = str(home)
    cands = tmp_path / "kb-candidates.yaml"
    cands.write_text(yaml.safe_dump(CANDIDATES[:1]))
    before = tree_digest(kb_root())
    run = lambda *argv: subprocess.run([*MSAGENT, "kb", *argv], capture_output=True, text=True, cwd=tmp_path,  # noqa: E731
                                       env=env, timeout=600)
    assert run("accept", str(cands)).returncode == 0
    proc = run("verify", "torch.special.expit", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    layer = home / ".local" / "share" / "msagent" / "mapping_kb"
    summary = json.loads(proc.stdout)
    assert summary["written"] == str(layer / "verdicts" / "cpu.json") and summary["entries"] == 1
    verdict = json.loads((layer / "verdicts" / "cpu.json").read_text())["verdicts"]["torch.special.expit"]
    assert verdict["mindspore.ops.sigmoid"]["status"] == "matched", verdict
    assert tree_digest(kb_root()) == before
