"""A model whose constructor defaults to a large image (`img_size=1024`, a segmentation encoder's) is tried
first at a small one, a multiple of its patch size: at its default its forward on MindSpore's CPU ran past
the unit's time limit, and the unit was failed as a timeout."""
from agent.verify.init_sizes import smaller_images
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import torch
from torch import nn


class PatchEncoder(nn.Module):
    def __init__(self, img_size: int = 1024, patch_size: int = 16, dim: int = 8):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch_size, stride=patch_size)
        self.pos = nn.Parameter(torch.randn(1, dim, img_size // patch_size, img_size // patch_size) * 0.02)

    def forward(self, x):
        return (self.proj(x) + self.pos).flatten(2).mean(-1)
'''


class _Encoder:
    def __init__(self, dim, img_size=1024, patch_size=24):
        pass


def test_large_default_image_sizes_are_tried_small_first():
    assert smaller_images(_Encoder, ["_Encoder(dim=8)", "_Encoder(dim=16)"]) == [
        "_Encoder(dim=8, img_size=72)", "_Encoder(dim=16, img_size=72)"]  # 64 made a multiple of 24
    assert smaller_images(_Encoder, ["_Encoder(dim=8, img_size=32)"]) == []


def test_an_encoder_with_a_large_default_image_verifies_at_a_small_one(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "encoder.py", SOURCE, shared_verifier)
    (unit,) = [u for u in report.units if u.name == "PatchEncoder"]
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert unit.spec["init"] == "PatchEncoder(img_size=64)", unit.spec
