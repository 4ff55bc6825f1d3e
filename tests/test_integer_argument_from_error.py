"""A function whose argument is a count but whose name says nothing (`reps`) is first tried on a tensor
there; torch's error that it wanted integers turns that argument into a small count, and the function
verifies. Real torch and MindSpore."""
from agent.verify.shape_fix import corrected
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import torch


def tile_along(t, axis, reps):
    t = t.unsqueeze(axis)
    shape = [-1] * t.dim()
    shape[axis] = reps
    return torch.tanh(t.expand(*shape))
'''


def test_the_last_tensor_after_the_first_becomes_a_count():
    inputs = [{"shape": [2, 8], "dtype": "float32"}, {"value": -1}, {"shape": [2, 8], "dtype": "float32"}]
    error = "expand(): argument 'size' failed to unpack the object at pos 3 with error \"type must be tuple of ints,but got Tensor\""
    assert corrected(inputs, error) == inputs[:2] + [{"value": 2}]
    assert corrected(inputs[:1], error) is None  # one tensor: nothing else can be the count


def test_function_with_an_unnamed_count_verifies(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "tile.py", SOURCE, shared_verifier)
    unit = report.units[0]
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert unit.spec["inputs"][0][2] == {"value": 2}, unit.spec
