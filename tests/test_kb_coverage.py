"""`msagent kb stats --corpus DIR`: how often a corpus uses each torch API, and whether the KB maps it."""
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli.kb_commands import app
from agent.kb.coverage import STATUSES, coverage, status_of
from agent.kb.schema import Entry, Target, Verdict
from agent.kb.store import KB, kb_root, load_kb

FILES = {
    # import torch; import torch.nn as nn; a Tensor method on a receiver of unknown type
    "pkg/model.py": (
        "import torch\n"
        "import torch.nn as nn\n"
        "import numpy as np\n"
        "class M(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.c = nn.Conv2d(3, 8, 3)\n"
        "    def forward(self, x):\n"
        "        y = torch.cat([x, x], dim=1).view(2, -1)\n"
        "        self.norm(y)\n"  # a method of the module, not of a tensor
        "        np.sum(y)\n"  # numpy's, not a tensor method
        "        'a b'.split()\n"
        "        return y.to(torch.float32)\n"
    ),
    # from torch.nn import functional as F; from torch import nn; a parameter shadowing F
    "pkg/fn.py": (
        "from torch.nn import functional as F\n"
        "from torch import nn\n"
        "def act(x):\n"
        "    return F.relu(x)\n"
        "def other(F):\n"
        "    return F.relu(1)\n"  # F is the parameter here: not torch
        "layer = nn.Conv2d(1, 1, 1)\n"
        "missing = nn.NotAThing()\n"
        "build(nn=3)\n"  # a keyword named like the alias is no reference
    ),
    # a module's own path is canonical: torch.nn.modules.conv.Conv2d -> torch.nn.Conv2d; einops too
    "pkg/deep.py": (
        "from torch.nn.modules.conv import Conv2d\n"
        "from einops import rearrange\n"
        "m = Conv2d(1, 1, 1)\n"
        "z = rearrange(m, 'b c -> c b')\n"
    ),
    "pkg/plain.py": "import os\nprint(os.path.join('a', 'b').split('/'))\n",
    "pkg/broken.py": "import torch\ndef f(:\n    torch.cat()\n",
    "notes.txt": "torch.cat(x)\n",
    ".venv/lib/site.py": "import torch\ntorch.cat([])\n",
    "__pycache__/cached.py": "import torch\ntorch.cat([])\n",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.fixture(scope="module")
def kb() -> KB:
    return load_kb(str(kb_root()))  # the shipped KB, without any user layer


@pytest.fixture(scope="module")
def cov(kb, corpus) -> dict:
    return coverage(kb, corpus, device="cpu", top=3)


def by_api(cov: dict) -> dict[str, dict]:
    return {r["api"]: r for r in cov["apis"]}


def test_files_and_skipped(cov):
    assert cov["files"] == 5  # .venv and __pycache__ are passed over; only .py files count
    assert cov["skipped"] == 1
    assert cov["skipped_files"][0]["file"] == "pkg/broken.py"
    assert "parse" in cov["skipped_files"][0]["reason"]


def test_counts_and_canonical_names(cov):
    apis = by_api(cov)
    assert apis["torch.nn.Conv2d"]["uses"] == 3 and apis["torch.nn.Conv2d"]["files"] == 3
    assert apis["torch.nn.functional.relu"]["uses"] == 1  # the shadowed F.relu is not torch's
    assert apis["torch.cat"]["uses"] == 1 and apis["torch.cat"]["files"] == 1
    assert apis["torch.nn.Module"]["uses"] == 1
    assert apis["torch.float32"]["uses"] == 1
    assert apis["einops.rearrange"]["uses"] == 1
    assert not any(a.startswith("torch.nn.modules.") for a in apis)
    # neither packages nor keywords are APIs; import statements are not uses
    assert {"torch", "torch.nn.functional"}.isdisjoint(apis)
    assert sum(r["uses"] for r in cov["apis"]) == 9
    assert [r["uses"] for r in cov["apis"]] == sorted((r["uses"] for r in cov["apis"]), reverse=True)
    assert cov["apis"][0]["api"] == "torch.nn.Conv2d"


def test_statuses_in_shipped_kb(cov):
    apis = by_api(cov)
    assert apis["torch.nn.Conv2d"]["status"] == "verified"
    assert apis["torch.nn.Conv2d"]["target"] == "mindspore.nn.Conv2d"
    assert apis["torch.cat"]["status"] == "verified"
    assert apis["einops.rearrange"]["status"] == "verified"
    assert apis["torch.nn.NotAThing"] == {"api": "torch.nn.NotAThing", "uses": 1, "files": 1,
                                          "status": "missing", "target": None}
    assert set(cov["top_status"]) == set(STATUSES) == set(cov["status"])
    assert sum(cov["top_status"].values()) == cov["top"] == 3
    assert sum(cov["status"].values()) == len(cov["apis"])


def test_tensor_methods_are_name_based(cov):
    methods = cov["tensor_methods"]
    assert "name-based" in methods["basis"]
    names = {r["api"]: r["uses"] for r in methods["apis"]}
    # not self.norm, np.sum, 'a b'.split, nor torch.cat; the parameter F's F.relu(1) is, by its name
    assert names == {"torch.Tensor.view": 1, "torch.Tensor.to": 1, "torch.Tensor.relu": 1}
    assert not any(r["api"].startswith("torch.Tensor.") for r in cov["apis"])


def test_status_of_each_kind():
    def verdict(status, source="probe"):
        return Verdict(status=status, source=source)

    entries = [
        Entry(api="torch.a", kind="function", targets=[Target(namespace="legacy", api="ms.a",
                                                              verdicts={"cpu": verdict("matched")})]),
        Entry(api="torch.b", kind="function", targets=[Target(namespace="legacy", api="ms.b")]),
        Entry(api="torch.c", kind="function", targets=[Target(namespace="legacy", api="ms.c",
                                                              verdicts={"cpu": verdict("matched", "seed")})]),
        Entry(api="torch.d", kind="function", targets=[Target(namespace="mint", api="ms.d",
                                                              verdicts={"cpu": verdict("raised")})]),
        Entry(api="torch.e", kind="function", notes="no CPU kernel in MindSpore"),
        Entry(api="torch.f", kind="function", aliases=["torch.f_alias"]),
    ]
    kb = KB(entries)
    assert status_of(kb, "torch.a", "cpu") == ("verified", "ms.a")
    assert status_of(kb, "torch.a", "gpu") == ("mapped-unprobed", "ms.a")
    assert status_of(kb, "torch.b", "cpu") == ("mapped-unprobed", "ms.b")
    assert status_of(kb, "torch.c", "cpu") == ("mapped-unprobed", "ms.c")  # a seed verdict is no probe
    assert status_of(kb, "torch.d", "cpu") == ("refuted", None)
    assert status_of(kb, "torch.e", "cpu") == ("explained", None)
    assert status_of(kb, "torch.f_alias", "cpu") == ("missing", None)  # an entry that says nothing
    assert status_of(kb, "torch.zzz", "cpu") == ("missing", None)


def test_cli_json_holds_coverage(corpus):
    res = CliRunner().invoke(app, ["stats", "--corpus", str(corpus), "--top", "2", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert {"entries", "verified", "by_namespace"} <= set(data)  # the old contract stays
    cov = data["coverage"]
    assert cov["corpus"] == str(corpus) and cov["top"] == 2 and cov["files"] == 5 and cov["skipped"] == 1
    assert by_api(cov)["torch.nn.Conv2d"]["status"] == "verified"
    assert sum(cov["top_status"].values()) == 2


def test_cli_without_corpus_has_no_coverage():
    res = CliRunner().invoke(app, ["stats", "--json"])
    assert res.exit_code == 0, res.output
    assert "coverage" not in json.loads(res.output)


def test_cli_table_and_bad_corpus(corpus, tmp_path):
    res = CliRunner().invoke(app, ["stats", "--corpus", str(corpus), "--top", "2"])
    assert res.exit_code == 0, res.output
    assert "torch.nn.Conv2d" in res.output and "verified" in res.output and "top 2:" in res.output
    bad = CliRunner().invoke(app, ["stats", "--corpus", str(tmp_path / "nowhere")])
    assert bad.exit_code == 2
