"""A concatenation with an empty piece: `cat((t[..., :start], rotated, t[..., end:]), -1)` with start 0 (the
rotary-embedding way of rotating only part of the features). MindSpore 2.10's CPU gradient of an empty
slice fails inside ops.cat and mint.cat ('StridedSliceGrad ... out of bounds'); the KB's probe of
torch.cat differentiates such a case, so on CPU torch.cat goes to a helper that leaves empty pieces out.
Real torch and MindSpore on the shared worker."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary(freqs, t, start_index=0):
    end_index = start_index + freqs.shape[-1]
    left, middle, right = t[..., :start_index], t[..., start_index:end_index], t[..., end_index:]
    middle = middle * freqs.cos() + rotate_half(middle) * freqs.sin()
    return torch.cat((left, middle, right), dim=-1)
'''


def test_a_concatenation_with_an_empty_slice_differentiates(tmp_path, shared_verifier):
    report, text = migrate_one_file(tmp_path, "rotary.py", SOURCE, shared_verifier)
    assert_verified(report, ["apply_rotary", "rotate_half"])
    assert "_ms_cat((left, middle, right), axis=-1)" in text, text
