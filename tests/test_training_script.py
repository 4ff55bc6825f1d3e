"""The bundled example's train.py, migrated by the rules, trains like the torch original.

Three steps, each in its own process: torch trains from a saved initial state on fixed batches and
the weight map is planned from both models; the torch checkpoint is converted through that map
(agent/ckpt); MindSpore, with torch made unimportable, loads the converted checkpoint into the
migrated model and trains the migrated `train` on the same batches. Dropout is set to p=0 on both
sides (random masks cannot match across frameworks); everything else runs as written.
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("mindspore")

from agent.config import MigrateSettings  # noqa: E402
from agent.pipeline import migrate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "examples" / "textvision"
STEPS = 5

TORCH_SIDE = r"""
import json, sys
import numpy as np, torch
from agent.kb.store import load_kb
from agent.verify.loader import RepoImporter
from agent.verify.reference import _zero_dropout as _zero_dropout_torch
from agent.verify.weights import plan_weight_map
src, out, tmp, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
pt_imp, ms_imp = RepoImporter(src, "torch"), RepoImporter(out, "ms")
with pt_imp.active():
    torch.manual_seed(0)
    model = pt_imp.load("tvnet.model").build_model({})
    torch.save(model.state_dict(), f"{tmp}/init.pt")
    with ms_imp.active():
        cell = ms_imp.load("tvnet.model").build_model({})
    plan = plan_weight_map(model, cell, load_kb(), "cpu")
    b = np.load(f"{tmp}/batches.npz")
    batches = [(torch.from_numpy(b[f"i{k}"]), torch.from_numpy(b[f"t{k}"]), torch.from_numpy(b[f"l{k}"]))
               for k in range(steps)]
    _zero_dropout_torch(model)
    losses = pt_imp.load("train").train(model, batches, steps, 1e-3, "cpu")
report = {"units": [{"file": "tvnet/model.py", "name": "TextVisionNet", "weight_map": plan}]}
open(f"{tmp}/msagent-report.json", "w").write(json.dumps(report))
print(json.dumps(losses))
"""

MS_SIDE = r"""
import json, sys
sys.modules["torch"] = None  # the migrated code must train without torch
import numpy as np, mindspore as ms
from agent.verify.loader import strip_script_code
from agent.verify.candidate import _zero_dropout as _zero_dropout_ms
out, tmp, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, out)
path = f"{out}/train.py"
ns = {"__name__": "train", "__file__": path, "__msagent_missing__": [], "__msagent_errors__": []}
exec(compile(strip_script_code(open(path).read(), path), path, "exec"), ns)
model = ns["build_model"]({})
missing, unused = ms.load_param_into_net(model, ms.load_checkpoint(f"{tmp}/init.ckpt"))
# load_param_into_net fills parameters only; a buffer (the causal mask) is rebuilt by the cell itself
assert not missing and set(unused) <= {n for n, _ in model.named_buffers()}, (missing, unused)
_zero_dropout_ms(model)
b = np.load(f"{tmp}/batches.npz")
batches = [(ms.Tensor(b[f"i{k}"]), ms.Tensor(b[f"t{k}"]), ms.Tensor(b[f"l{k}"])) for k in range(steps)]
print(json.dumps(ns["train"](model, batches, steps, 1e-3, "cpu")))
"""


def _run(code: str, *args) -> list[float]:
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _batches(path: Path) -> None:
    rng = np.random.default_rng(7)
    arrays = {}
    for k in range(STEPS):
        tokens = rng.integers(1, 100, size=(4, 12))
        lengths = rng.integers(3, 13, size=(4, 1))
        tokens[np.arange(12)[None, :] >= lengths] = 0  # padded like the example's dataset
        arrays[f"i{k}"] = rng.standard_normal((4, 3, 16, 16)).astype(np.float32)
        arrays[f"t{k}"] = tokens.astype(np.int64)
        arrays[f"l{k}"] = rng.integers(0, 5, size=(4,)).astype(np.int64)
    np.savez(path, **arrays)


def test_migrated_train_script_matches_torch_losses(tmp_path):
    out = tmp_path / "out"
    migrate(SRC, out, MigrateSettings(verify=False))
    code = (out / "train.py").read_text()
    assert "value_and_grad" in code and "loss.backward()" not in code and "mint.optim" not in code
    _batches(tmp_path / "batches.npz")
    pt_losses = _run(TORCH_SIDE, SRC, out, tmp_path, STEPS)

    from agent.ckpt.convert import convert_checkpoint

    summary = convert_checkpoint(tmp_path / "init.pt", tmp_path / "msagent-report.json", tmp_path / "init.ckpt")
    assert summary["unit"] == "TextVisionNet" and summary["tensors_out"] > 0
    ms_losses = _run(MS_SIDE, out, tmp_path, STEPS)

    assert len(pt_losses) == len(ms_losses) == STEPS
    assert len(set(np.round(pt_losses, 5))) > 1  # the weights really change between steps
    np.testing.assert_allclose(ms_losses, pt_losses, rtol=2e-3, atol=2e-4)


# ---------------------------------------------------------------- the rules alone (no execution)
def _translate(src: str) -> str:
    import textwrap

    from agent.kb.store import load_kb
    from agent.rules.engine import translate_source

    return translate_source(textwrap.dedent(src), load_kb(), "cpu", module_classes={"Net"}).code


def test_clipping_between_backward_and_step_is_marked_not_rewritten():
    code = _translate("""
        import torch
        def fit(model, x, y):
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            loss = ((model(x) - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
    """)
    assert "grad_fn" not in code and "loss.backward()" in code
    assert "# msagent: statements between backward() and step()" in code


def test_loader_columns_seed_and_checkpoints():
    code = _translate("""
        import torch
        from torch.utils.data import DataLoader, Dataset
        class Pairs(Dataset):
            def __init__(self):
                self.xs, self.ys = torch.zeros(4, 2), torch.zeros(4)
            def __len__(self):
                return 4
            def __getitem__(self, i):
                return self.xs[i], self.ys[i]
        torch.manual_seed(1)
        data = Pairs()
        loader = DataLoader(data, batch_size=2)
        for x, y in loader:
            pass
        def save(model, path):
            torch.save(model.state_dict(), path)
        def restore(model, path):
            model.load_state_dict(torch.load(path))
    """)
    assert "GeneratorDataset(data, column_names=['xs', 'ys'], shuffle=False).batch(2)" in code
    assert "loader.create_tuple_iterator()" in code and "ms.set_seed(1)" in code
    assert "ms.save_checkpoint(model, path)" in code
    assert "ms.load_param_into_net(model, ms.load_checkpoint(path))" in code
    assert "import torch" not in code and "# msagent:" not in code


def test_look_alikes_are_left_alone():
    src = """
        import torch
        def run(scheduler, game):
            scheduler.step()
            game.backward()
            game.step()
    """
    code = _translate(src)
    assert "grad_fn" not in code and "game.step()" in code and "# msagent:" not in code


def test_device_moves_on_unknown_receivers_go_without_other_training_words():
    code = _translate("""
        import torch
        DEVICE = "cuda"
        def batch(pair):
            a, b = pair
            a, b = a.to(DEVICE), b.to(torch.device("cuda:0"))
            return a, b.to(torch.float16)
    """)
    assert "a, b = a.to" not in code and "a, b = a, b" not in code  # the move is gone, and the `x = x` left
    assert "to(DEVICE)" not in code and "cuda:0" not in code
    assert "b.to(" in code  # a dtype cast on an unknown receiver is not a device move: left for the KB pass
