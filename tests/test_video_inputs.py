"""A video model unpacks five axes from its input with the idiom `b, f, c, h, w, *_, device = *video.shape,
video.device`: the spread shape says the rank, and the image size its constructor was given becomes a clip
of frames (`[2, frames, 3, H, W]`). Real torch and MindSpore."""
from agent.verify.usage import RANK, parameter_kinds
from tests.support.one_file import assert_verified, load_source, migrate_one_file

SOURCE = '''\
import torch.nn as nn
from einops import rearrange


class ClipNet(nn.Module):
    def __init__(self, image_size=16, num_frames=4, channels=3, dim=8, num_classes=5):
        super().__init__()
        self.num_frames = num_frames
        self.frame = nn.Conv2d(channels, dim, 4, stride=4)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, video):
        b, f, _, h, w, *_, device = *video.shape, video.device
        assert f <= self.num_frames
        x = self.frame(rearrange(video, 'b f c h w -> (b f) c h w'))
        x = rearrange(x, '(b f) d h w -> b (f h w) d', b=b)
        return self.head(x.mean(dim=1))


def heads(x, n_heads=2):
    b, n, d, h = *x.shape, n_heads
    return x.reshape(b, n, h, d // h)
'''


def test_a_spread_shape_gives_the_rank(tmp_path):
    mod = load_source(tmp_path, "clips_for_kinds", SOURCE)
    assert parameter_kinds(mod.ClipNet.forward) == {"video": RANK + "5"}
    assert parameter_kinds(mod.heads)["x"] == RANK + "3"


def test_video_model_gets_clips(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "clips.py", SOURCE, shared_verifier)
    units = assert_verified(report, ["ClipNet"])
    assert units["ClipNet"].spec["inputs"][0][0]["shape"] == [2, 4, 3, 16, 16], units["ClipNet"].spec
