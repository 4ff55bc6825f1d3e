"""msagent installs as a wheel, not only editable: the KB and the prompts travel inside it."""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_carries_kb_and_prompts_and_finds_them(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, timeout=600)
    (wheel,) = tmp_path.glob("msagent-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "agent/_data/mapping_kb/nn.yaml" in names
    assert "agent/_data/mapping_kb/verdicts/cpu.json" in names
    assert any(n.startswith("agent/_data/prompts/") and n.endswith(".j2") for n in names)
    assert "agent/cli/main.py" in names

    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=600)
    probe = ("from agent.kb.store import kb_root, load_kb; from agent.llm.prompts import prompts_root; "
             "print(kb_root()); print(prompts_root()); print(len(load_kb().entries))")
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path,
                         check=True).stdout.splitlines()
    assert out[0].startswith(str(target)) and out[1].startswith(str(target))
    assert int(out[2]) > 850
