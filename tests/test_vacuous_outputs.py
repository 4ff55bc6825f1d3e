"""A unit whose outputs hold nothing to compare (None, a functools.partial of a tensor function, any opaque
object), or only plain values it was given (a guard that returns its argument before computing anything),
is not verified: its trials checked nothing. A unit returning a Python value it computed still is.
(A function returning a layer builder is checked through the layer it builds: test_returned_builders.py.)"""
from agent.verify.compare import compare_trees
from agent.verify.tree import encode
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import functools

import torch
import torch.nn.functional as F


def relu_factory(kind="plain"):
    return functools.partial(F.relu, inplace=False)


def report_size(x):
    print("elements:", torch.numel(x))


def count_positive(x):
    return int(torch.sum(x > 0)), None


def keep_some(layers, prob_survival):
    if prob_survival == 1:
        return layers
    keep = torch.rand(layers) < prob_survival
    return int(keep.sum())
'''


def test_outputs_with_nothing_to_compare_are_not_verified(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "factories.py", SOURCE, shared_verifier)
    units = {u.name: u for u in report.units}
    assert units["relu_factory"].status == "not-exercised", units["relu_factory"]
    assert "nothing was checked" in units["relu_factory"].reason
    assert units["report_size"].status == "not-exercised", units["report_size"]
    assert units["count_positive"].status == "verified-by-rules", (units["count_positive"].status,
                                                                  units["count_positive"].reason)
    assert units["keep_some"].status == "not-exercised", (units["keep_some"].status, units["keep_some"].reason)
    assert "values it was given" in units["keep_some"].reason, units["keep_some"].reason


def test_a_comparison_counts_the_values_it_compared():
    pa, ma = [], []
    assert compare_trees(encode((None, object()), pa), pa, encode((None, object()), ma), ma).values == 0
    pa, ma = [], []
    assert compare_trees(encode((3, None), pa), pa, encode((3, None), ma), ma).values == 1
