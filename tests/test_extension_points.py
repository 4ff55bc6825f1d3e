"""The extension points docs/architecture.md names ("Levels, devices and what the report adds"): a
device is an entry of `verify/devices.DEVICES`, a level an entry of `verify/levels.LEVELS` with its
function in `verify/levels.RUNNERS`. A toy device and a toy level, added there and nowhere else (in
this process), are accepted by the settings, the CLI and the KB loader; unknown names stay usage
errors."""
from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
from typer.testing import CliRunner

from agent.cli.main import app
from agent.config import MigrateSettings, load_settings
from agent.kb.store import load_kb
from agent.verify import devices, levels
from agent.verify.judge import Verifier  # imported before any fixture adds a level, as in a run

TOY_DEVICE = "toydev"
TOY_LEVEL = "toylevel"
SRC = "import torch\nimport torch.nn as nn\n\n\nclass Net(nn.Module):\n    def forward(self, x):\n" \
      "        return torch.relu(x)\n"


@pytest.fixture
def toy_device(monkeypatch):
    """A device running MindSpore on its CPU target, declared where the doc says devices are."""
    monkeypatch.setitem(devices.DEVICES, TOY_DEVICE, devices.Device(TOY_DEVICE, "CPU"))
    return TOY_DEVICE


def _toy_runner(ctx: levels.LevelContext) -> dict:
    """A level that needs no side operation of its own: the eval-mode forward output is finite."""
    tree, arrays = ctx.forward
    if not all(np.all(np.isfinite(a)) for a in arrays):
        raise levels.LevelFailure("value", "non-finite forward output")
    return {"max_abs": 0.0, "reason": "forward output finite"}


@pytest.fixture
def toy_level(monkeypatch):
    """A level right after forward (LEVELS is the run order), declared in LEVELS with its RUNNERS function."""
    monkeypatch.setattr(levels, "LEVELS", (levels.LEVELS[0], TOY_LEVEL, *levels.LEVELS[1:]))
    monkeypatch.setitem(levels.RUNNERS, TOY_LEVEL, _toy_runner)
    return TOY_LEVEL


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No user config file or MSAGENT_* variable of this machine decides the settings; the CLI's SIGTERM
    handler is put back afterwards."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for name in ("MSAGENT_DEVICE", "MSAGENT_LEVEL", "MSAGENT_VERIFY", "MSAGENT_JOBS"):
        monkeypatch.delenv(name, raising=False)
    handler = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, handler)


def _repo(tmp_path, toml: str | None = None):
    src = tmp_path / "src"
    src.mkdir()
    (src / "net.py").write_text(SRC)
    if toml is not None:
        (src / "msagent.toml").write_text(toml)
    return src


def _migrate(tmp_path, *flags):
    return CliRunner().invoke(app, ["migrate", str(tmp_path / "src"), "-o", str(tmp_path / "out"), "--no-verify",
                                    "--json", "-q", *flags])


# ---- a device -------------------------------------------------------------------------------------

def test_settings_take_the_toy_device(toy_device, clean_env, tmp_path):
    assert MigrateSettings(device=toy_device).device == toy_device
    assert devices.ms_target(toy_device) == "CPU"
    src = _repo(tmp_path, f'device = "{toy_device}"\n')
    assert load_settings(src, {}).device == toy_device  # from the repository's msagent.toml
    with pytest.raises(ValueError, match=f"unknown device 'bogus'; choose one of .*{toy_device}"):
        MigrateSettings(device="bogus")


def test_cli_takes_the_toy_device(toy_device, clean_env, tmp_path):
    _repo(tmp_path)
    result = _migrate(tmp_path, "--device", toy_device)
    assert result.exit_code in (0, 1), result.output  # 1: units not verified (--no-verify)
    report = json.loads(result.stdout)
    assert report["device"] == toy_device
    out = (tmp_path / "out" / "net.py").read_text()
    assert "mindspore" in out and "torch" not in out  # the KB's targets were chosen for it


def test_cli_rejects_an_unknown_device(toy_device, clean_env, tmp_path):
    _repo(tmp_path)
    result = _migrate(tmp_path, "--device", "bogus")
    assert result.exit_code == 2
    assert f"--device must be cpu, gpu, ascend, {toy_device}, not 'bogus'" in result.output
    assert not (tmp_path / "out").exists()


def test_kb_commands_take_the_toy_device_and_reject_an_unknown_one(toy_device, clean_env, tmp_path):
    ok = CliRunner().invoke(app, ["kb", "stats", "--json", "--device", toy_device])
    assert ok.exit_code == 0, ok.output
    for command in (["kb", "stats", "--device", "bogus"], ["kb", "verify", "--device", "bogus", "torch.relu"]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2
        assert f"--device must be cpu, gpu, ascend, {toy_device}, not 'bogus'" in result.output
    assert devices.device(toy_device).verdict_file == f"verdicts/{toy_device}.json"
    with pytest.raises(ValueError, match="unknown device 'bogus'"):
        load_kb().target_for(load_kb().get("torch.relu"), "bogus")  # never a silent CPU


def test_a_repository_cannot_name_an_unknown_device(toy_device, clean_env, tmp_path):
    _repo(tmp_path, 'device = "bogus"\n')
    result = _migrate(tmp_path)
    assert result.exit_code == 2
    assert "msagent.toml: device: unknown device 'bogus'" in result.output


def test_kb_loader_reads_the_toy_devices_verdicts(toy_device, tmp_path):
    """verdicts/<device>.json decides the target for that device; other devices are not affected."""
    root = tmp_path / "kb"
    (root / "verdicts").mkdir(parents=True)
    (root / "entries.yaml").write_text(
        "- api: torch.relu\n  kind: function\n  signature: \"(input)\"\n  targets:\n"
        "  - {namespace: legacy, api: mindspore.ops.relu}\n"
        "  - {namespace: mint, api: mindspore.mint.nn.functional.relu}\n")
    (root / "verdicts" / f"{toy_device}.json").write_text(json.dumps({"device": toy_device, "verdicts": {
        "torch.relu": {"mindspore.ops.relu": {"status": "raised", "detail": "no kernel on the toy device"},
                       "mindspore.mint.nn.functional.relu": {"status": "matched"}}}}))
    kb = load_kb(str(root))
    try:
        entry = kb.get("torch.relu")
        assert kb.target_for(entry, toy_device).api == "mindspore.mint.nn.functional.relu"
        assert kb.target_for(entry, "cpu").api == "mindspore.ops.relu"  # no verdict: the cpu preference
        assert {t.api: sorted(t.verdicts) for t in entry.targets} == {
            "mindspore.ops.relu": [toy_device], "mindspore.mint.nn.functional.relu": [toy_device]}
    finally:
        load_kb.cache_clear()


# ---- a level --------------------------------------------------------------------------------------

def test_settings_take_the_toy_level(toy_level, clean_env, tmp_path):
    assert MigrateSettings(level=toy_level).level == toy_level
    src = _repo(tmp_path, f'level = "{toy_level}"\n')
    assert load_settings(src, {}).level == toy_level
    assert levels.levels_for(toy_level) == ["forward", toy_level]
    assert levels.levels_for("grad") == ["forward", toy_level, "train", "grad"]  # it runs before the later ones
    with pytest.raises(ValueError, match=f"unknown verification level 'bogus'; choose one of forward, {toy_level}"):
        MigrateSettings(level="bogus")


def test_cli_takes_the_toy_level(toy_level, clean_env, tmp_path):
    _repo(tmp_path)
    result = _migrate(tmp_path, "--level", toy_level)
    assert result.exit_code in (0, 1), result.output
    assert json.loads(result.stdout)["level"] == toy_level


def test_cli_rejects_an_unknown_level(toy_level, clean_env, tmp_path):
    _repo(tmp_path)
    result = _migrate(tmp_path, "--level", "bogus")
    assert result.exit_code == 2
    assert f"--level must be forward, {toy_level}, train, grad, step, graph, not 'bogus'" in result.output


class _Sides:
    """Stands for the LevelContext's two sessions: the toy level calls neither."""

    def __getattr__(self, name):
        raise AssertionError(f"the toy level used a side ({name})")


def test_the_judges_level_loop_runs_the_toy_level(toy_level):
    ctx = levels.LevelContext(ref=_Sides(), cand=_Sides(), seed=0, inputs=((), []), plan={}, weights=None,
                              forward=({"kind": "array", "index": 0}, [np.ones((2, 3), dtype=np.float32)]))
    results: dict = {}
    assert levels.run_levels(ctx, toy_level, results) is None
    assert results == {toy_level: {"status": "verified", "max_abs": 0.0, "reason": "forward output finite"}}


def test_the_verifier_accepts_the_toy_level(toy_level):
    verifier = Verifier.__new__(Verifier)  # never started: an unknown level is refused before any side is used
    verifier._sessions = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("sides reached"))
    result = verifier.verify("src", "out", {"file": "net.py", "module": "net", "name": "Net", "kind": "module"},
                             level=toy_level)
    assert "unknown verification level" not in result["reason"]


@pytest.mark.skipif(os.path.exists("/dev/nvidia0"), reason="a GPU is here: MindSpore may well run on it")
def test_a_device_the_framework_cannot_use_stops_the_run_with_a_usage_error(clean_env, tmp_path):
    """The MindSpore side warms on the run's device; where its build cannot (GPU asked on a CPU-only
    machine) the run stops once with the framework's reason, not unit by unit with repairs."""
    _repo(tmp_path)
    result = CliRunner().invoke(app, ["migrate", str(tmp_path / "src"), "-o", str(tmp_path / "out"), "--json", "-q",
                                      "--device", "gpu"])
    assert result.exit_code == 2, result.output
    assert "--device gpu: the side's framework cannot run on device 'gpu'" in result.output
    assert "GPU" in result.output.split("device 'gpu':", 1)[1]
