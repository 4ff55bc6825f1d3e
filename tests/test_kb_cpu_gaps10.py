"""Functions found migrating public metric-learning and signal packages: torch.unique (mint.unique has no
CPU kernel; ops.unique keeps values in order of first appearance, torch sorts them), nonzero/where with
as_tuple=True (no CPU kernel for MindSpore's own), torch.iinfo, renorm (MindSpore's takes an integer p
only), and window functions whose MindSpore
counterparts default to float64. Verified on real torch and MindSpore."""
from agent.kb.store import load_kb
from agent.rules.engine import translate_source
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch
import torch.nn as nn


class ClassCentres(nn.Module):
    """Mean embedding of each label present in the batch, scaled by how often it occurs."""

    def __init__(self, dim=8):
        super().__init__()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, labels: torch.Tensor):
        z = self.proj(x)
        classes, inverse, counts = torch.unique(labels, return_inverse=True, return_counts=True)
        one_hot = (inverse[:, None] == torch.arange(classes.shape[0])[None]).float()
        centres = one_hot.t() @ z / counts[:, None].float()
        rows, cols = torch.nonzero(z > 0, as_tuple=True)
        positive = z[rows, cols].sum() + (z < 0).nonzero(as_tuple=True)[0].float().sum()
        limit = torch.iinfo(torch.int32).max
        window = torch.hann_window(z.shape[-1])
        capped = torch.renorm(self.proj.weight, 2, 1, 0.5).sum() + z.renorm(2.0, dim=0, maxnorm=1.0).sum()
        return centres * window + positive / limit + capped
'''


def test_unique_nonzero_iinfo_and_windows_translate():
    out = translate_source(SOURCE, load_kb(), "cpu").code
    assert "_ms_unique(labels, True, True)" in out, out
    assert "_ms_nonzero((z > 0), True)" in out and "_ms_nonzero((z < 0), True)" in out, out
    assert "_ms_iinfo(ms.int32).max" in out, out
    assert "hann_window(z.shape[-1], dtype=ms.float32)" in out, out
    assert "ops.renorm(self.proj.weight, p=2, axis=1, maxnorm=0.5)" in out, out
    assert "z.renorm(2, axis=0, maxnorm=1.0)" in out, out
    assert "msagent:" not in out, out


def test_unique_counts_and_index_tuples_verify(tmp_path, shared_verifier):
    # `labels`, a forward argument after the first, is given class indices (two classes)
    report, _ = migrate_one_file(tmp_path, "centres.py", SOURCE, shared_verifier)
    units = assert_verified(report, ["ClassCentres"])
    labels = units["ClassCentres"].spec["inputs"][0][1]
    assert labels["dtype"] == "int64" and labels["high"] == 2, units["ClassCentres"].spec


def test_an_optional_labels_argument_a_loss_requires_is_given(tmp_path, shared_verifier):
    source = ("import torch\nimport torch.nn as nn\n\n\nclass CentreLoss(nn.Module):\n"
              "    def __init__(self, num_classes=2, dim=8):\n        super().__init__()\n"
              "        self.centres = nn.Parameter(torch.randn(num_classes, dim))\n\n"
              "    def forward(self, embeddings, labels=None, weights=None):\n        if labels is None:\n"
              "            raise ValueError('labels are required for this loss function')\n"
              "        return ((embeddings - self.centres[labels]) ** 2).sum(dim=1).mean()\n")
    report, _ = migrate_one_file(tmp_path, "loss.py", source, shared_verifier)
    units = assert_verified(report, ["CentreLoss"])
    assert len(units["CentreLoss"].spec["inputs"][0]) == 2, units["CentreLoss"].spec  # embeddings, labels


def test_fill_diagonal_and_cdist_take_what_mindspore_accepts():
    out = translate_source("import torch\n\n\ndef f(x: torch.Tensor, y: torch.Tensor, p: int):\n"
                           "    mask = x > 0\n    mask.fill_diagonal_(False)\n    d = torch.cdist(x, y, p=p)\n"
                           "    d.fill_diagonal_(0)\n    return d * mask\n", load_kb(), "cpu").code
    # out of place on MindSpore (its own fill_diagonal returns a new tensor), written back; float values
    assert "mask = _ms_fill_diagonal(mask, False, False)" in out and "d = _ms_fill_diagonal(d, 0, False)" in out, out
    assert "mint.cdist(x, y, p=float(p))" in out, out


LOSSES = {
    "base.py": "import torch\n\n\nclass BaseLoss(torch.nn.Module):\n    def forward(self, x, labels=None):\n"
               "        d = torch.cdist(x, x, p=2)\n        same = labels[:, None] == labels[None]\n"
               "        same.fill_diagonal_(False)\n        return self.compute(d, same)\n",
    # no torch import of its own: still a module, its forward must become construct
    "pairs.py": "from .base import BaseLoss\n\n\nclass PairLoss(BaseLoss):\n    def compute(self, d, same):\n"
                "        return (d * same).sum() / (same.sum() + 1)\n\n    def forward(self, x, labels=None):\n"
                "        return super().forward(x, labels) * 2\n",
}


def test_a_loss_in_a_file_without_torch_imports_verifies(tmp_path, shared_verifier):
    from tests.support.one_file import migrate_files

    report = migrate_files(tmp_path, {"pkg/__init__.py": "", **{f"pkg/{k}": v for k, v in LOSSES.items()}},
                           shared_verifier)
    assert_verified(report, ["PairLoss"])
    assert "def construct(self, x, labels=None):" in (tmp_path / "out" / "pkg" / "pairs.py").read_text()
