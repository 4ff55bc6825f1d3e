"""torch.linalg documents its functions as `linalg.vector_norm(x, ord=2, dim=None, ...)`; the KB build
read no signature from that, so no call with keywords converted, and the tables' mint.linalg targets
have no CPU kernel in mindspore 2.10. Norms and the matrix inverse go to ops and verify on real torch and
MindSpore (values and gradients)."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch


def normalized(x: torch.Tensor, eps: float = 1e-6):
    n = torch.linalg.vector_norm(x, ord=2, dim=-1, keepdim=True)
    return x / (n + eps) + torch.linalg.norm(x) * 0.01


def spectral_ish(w: torch.Tensor):
    return torch.linalg.matrix_norm(w, ord=1) + torch.linalg.matrix_norm(w)


def whiten(a: torch.Tensor):
    eye = torch.eye(a.shape[-1])
    return torch.linalg.inv(a @ a.transpose(-1, -2) + eye)
'''


def test_signatures_come_from_linalg_docs():
    from tools.build_kb import torch_signature

    assert torch_signature("torch.linalg.vector_norm", "function").startswith("(x, ord=2, dim=None, keepdim=False")


def test_linalg_norms_and_inverse_convert_and_verify(tmp_path, shared_verifier):
    report, out = migrate_one_file(tmp_path, "norms.py", SOURCE, shared_verifier)
    assert not [m for f in report.files for m in f.markers], [f.markers for f in report.files]
    assert "ops.vector_norm(x, ord=2, axis=-1, keepdims=True)" in out and "ops.inverse(" in out, out
    assert_verified(report, ["normalized", "spectral_ish", "whiten"])
