"""convert-ckpt: a torch checkpoint, converted through the report's verified weight map, loads into the
migrated model and reproduces the torch outputs."""
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ms = pytest.importorskip("mindspore")

import typer  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from agent.ckpt.convert import ConvertError, convert_checkpoint, pick_unit  # noqa: E402
from agent.cli.ckpt_command import convert_ckpt  # noqa: E402
from agent.kb.store import load_kb  # noqa: E402
from agent.rules.engine import translate_source  # noqa: E402
from tests.support.verify import verify_unit  # noqa: E402
from agent.verify.loader import RepoImporter  # noqa: E402

TORCH_SRC = '''
import torch
import torch.nn as nn


class Tagger(nn.Module):
    def __init__(self, vocab=20, dim=8, classes=3):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.norm = nn.LayerNorm(dim)
        self.bn = nn.BatchNorm1d(dim)
        self.out = nn.Linear(dim, classes)

    def forward(self, tokens):
        h = self.norm(self.embed(tokens)).mean(dim=1)
        return self.out(self.bn(h))
'''
UNIT = {"file": "tagger.py", "module": "tagger", "name": "Tagger", "kind": "module"}
SPEC = [{"source": "user", "init": "Tagger()", "inputs": [[{"shape": [4, 5], "dtype": "int64", "low": 0, "high": 20}]]}]


@pytest.fixture(scope="module")
def migrated(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ckpt")
    src, out = tmp / "src", tmp / "out"
    src.mkdir()
    out.mkdir()
    (src / "tagger.py").write_text(TORCH_SRC)
    (out / "tagger.py").write_text(translate_source(TORCH_SRC, load_kb(), "cpu", module_classes={"Tagger"}).code)
    r = verify_unit(str(src), str(out), UNIT, SPEC, seeds=(0,))
    assert r["status"] == "verified", r["reason"]
    report = tmp / "msagent-report.json"
    report.write_text(json.dumps({"units": [{"file": "tagger.py", "name": "Tagger", "weight_map": r["weight_map"]}]}))
    return tmp, src, out, report


def _torch_model(src: Path):
    imp = RepoImporter(src, "torch")
    with imp.active():
        torch.manual_seed(3)
        model = imp.load("tagger").Tagger()
    with torch.no_grad():  # non-default norm statistics, so a dropped or swapped buffer shows
        model.bn.running_mean.uniform_(-1, 1)
        model.bn.running_var.uniform_(0.5, 2)
        model.norm.weight.uniform_(0.5, 1.5)
    return model.eval()


def _ms_outputs(out: Path, ckpt: Path, tokens: np.ndarray) -> np.ndarray:
    imp = RepoImporter(out, "ms")
    with imp.active():
        cell = imp.load("tagger").Tagger()
    missing, unused = ms.load_param_into_net(cell, ms.load_checkpoint(str(ckpt)))
    assert not missing and not unused
    cell.set_train(False)
    return cell(ms.Tensor(tokens)).asnumpy()


@pytest.mark.parametrize("fmt", ["pt", "safetensors"])
def test_converted_checkpoint_reproduces_torch_outputs(migrated, fmt):
    tmp, src, out, report = migrated
    model = _torch_model(src)
    ckpt = tmp / f"tagger.{fmt}"
    if fmt == "pt":
        torch.save(model.state_dict(), ckpt)
    else:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(ckpt))
    target = tmp / f"tagger_{fmt}.ckpt"
    summary = convert_checkpoint(ckpt, report, target)
    assert summary["unit"] == "Tagger" and "bn.num_batches_tracked" in summary["dropped"]
    tokens = np.random.default_rng(0).integers(0, 20, size=(4, 5)).astype(np.int64)
    with torch.no_grad():
        expected = model(torch.from_numpy(tokens)).numpy()
    np.testing.assert_allclose(_ms_outputs(out, target, tokens), expected, rtol=1e-4, atol=1e-5)


def test_cli_writes_safetensors_and_refuses_a_foreign_checkpoint(migrated):
    tmp, src, out, report = migrated
    app = typer.Typer()
    app.command()(convert_ckpt)
    ckpt = tmp / "wrapped.pth"
    torch.save({"module." + k: v for k, v in _torch_model(src).state_dict().items()}, ckpt)  # DataParallel names
    res = CliRunner().invoke(app, [str(ckpt), "--report", str(report), "-o", str(tmp / "o.safetensors"), "--json"])
    assert res.exit_code == 0, res.output
    from safetensors.numpy import load_file

    assert "embed.embedding_table" in load_file(str(tmp / "o.safetensors"))
    assert json.loads(res.stdout)["unit"] == "Tagger"

    foreign = tmp / "foreign.pt"
    torch.save({"encoder.weight": torch.zeros(2, 2)}, foreign)
    res = CliRunner().invoke(app, [str(foreign), "--report", str(report), "-o", str(tmp / "x.ckpt")])
    assert res.exit_code == 1 and "no unit's weight map covers" in res.output
    with pytest.raises(ConvertError, match="no unit 'Missing'"):
        pick_unit(json.loads(report.read_text()), {"out.weight"}, "Missing")
