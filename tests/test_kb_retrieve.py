"""Finding KB entries by name and by error text."""
import pytest

from agent.kb import retrieve
from agent.kb.stats import show, stats
from agent.kb.store import load_kb


@pytest.fixture(scope="module")
def kb():
    return load_kb()


@pytest.mark.parametrize("name, api", [
    ("torch.nn.Conv2d", "torch.nn.Conv2d"),
    ("nn.Conv2d", "torch.nn.Conv2d"),
    ("torch.nn.modules.conv.Conv2d", "torch.nn.Conv2d"),
    ("torch.nn.modules.batchnorm.BatchNorm2d", "torch.nn.BatchNorm2d"),
    ("F.relu", "torch.nn.functional.relu"),
    ("torch.relu", "torch.nn.functional.relu"),
    ("nn.functional.softmax", "torch.nn.functional.softmax"),
    ("Tensor.view", "torch.Tensor.view"),
    ("torch.concat", "torch.cat"),
    ("optim.Adam", "torch.optim.Adam"),
    ("torch.float", "torch.float32"),
])
def test_exact_resolves_aliases_and_import_spellings(kb, name, api):
    entry = retrieve.exact(kb, name)
    assert entry is not None and entry.api == api


def test_exact_misses_unknown_names(kb):
    assert retrieve.exact(kb, "torch.nn.NoSuchLayer") is None
    assert retrieve.exact(kb, "numpy.mean") is None


@pytest.mark.parametrize("message, api", [
    ("RuntimeError: The kernel Conv2DExt unregistered.", "torch.nn.Conv2d"),
    ("RuntimeError: The kernel BatchNormExt unregistered.", "torch.nn.BatchNorm2d"),
    ("Create kernelmod for op LayerNormExt failed", "torch.nn.LayerNorm"),
    ("TypeError: For 'CrossEntropyLoss', the 'labels' should be Int32, but got 'mindspore.int64'.",
     "torch.nn.CrossEntropyLoss"),
    ("RuntimeError: 'repeat' is not supported on this device.", "torch.Tensor.repeat"),
    ("NotImplementedError: einsum only supports Ascend.", "torch.einsum"),
    ("RuntimeError: The kernel StackExt unregistered.", "torch.stack"),
    ("mindspore.ops.swapaxes", "torch.transpose"),
])
def test_search_finds_entries_from_error_text(kb, message, api):
    hits = [e.api for e in retrieve.search(kb, message, k=5)]
    assert api in hits, hits


def test_search_puts_an_exact_name_first(kb):
    assert retrieve.search(kb, "nn.Linear", k=3)[0].api == "torch.nn.Linear"


def test_search_without_known_words_is_empty(kb):
    assert retrieve.search(kb, "zzqx qqzy", k=5) == []


def test_stats_contract_fields(kb):
    s = stats(kb)
    assert {"entries", "with_rules", "with_probes", "verified", "by_namespace"} <= set(s)
    assert s["entries"] == len(kb.entries)
    assert 0 < s["with_probes"] <= s["entries"] and 0 < s["with_rules"] <= s["entries"]
    assert set(s["by_namespace"]) <= {"mint", "legacy", "tensor", "builtin"}
    assert s["verified"].get("cpu", 0) == sum(
        1 for e in kb.entries
        if any(v.source == "probe" and v.status == "matched" for t in e.targets for d, v in t.verdicts.items() if d == "cpu"))


def test_show_lists_targets_rules_and_verdicts(kb):
    text = show(kb, "torch.nn.BatchNorm2d")
    assert "builtins._MsBatchNorm2d" in text and "1 - {v}" in text and "moving_mean" in text
    assert "cpu: matched (" in text and "chosen on cpu" in text
    assert show(kb, "torch.nn.NoSuchLayer").startswith("no KB entry")
