"""Signal code cuts overlapping frames as a strided view: sizes and strides read from the padded
tensor, then `as_strided`. mindspore 2.10 has no as_strided; the translation gathers the same elements,
and the function verifies (values and gradient) on real torch and MindSpore."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import math

import torch
import torch.nn.functional as F


def frames(signal: torch.Tensor, size: int, hop: int):
    shape = list(signal.shape)
    length = shape.pop(-1)
    count = math.ceil((max(length, size) - size) / hop) + 1
    padded = F.pad(signal, (0, (count - 1) * hop + size - length)).contiguous()
    strides = [padded.stride(d) for d in range(padded.dim() - 1)]
    return padded.as_strided(shape + [count, size], strides + [hop, 1])


def shifted(x: torch.Tensor):
    return torch.as_strided(x, (2, 3), (1, 2), 1) * 2
'''


def test_strided_views_convert_and_verify(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "frames.py", SOURCE, shared_verifier)
    assert not [m for f in report.files for m in f.markers], [f.markers for f in report.files]
    assert "_ms_as_strided(padded, (shape + [count, size]), (strides + [hop, 1]), None)" in out, out
    assert_verified(report, ["frames", "shifted"])
