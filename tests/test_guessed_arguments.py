"""Constructor arguments msagent has to guess, guessed so the check means something: an up-sampling
factor is an integer 2 (1 would make the layer an identity, and a float breaks pixel shuffles and size
arithmetic), and a block whose stride the caller chooses is also tried with stride 2 (a transposed
convolution with output_padding refuses stride 1). Real migrations on the shared worker."""
from tests.support.one_file import migrate_one_file

SOURCE = '''\
import torch.nn as nn
import torch.nn.functional as F


class ShuffleUp(nn.Module):
    def __init__(self, in_channels, out_channels, scale_factor):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels * scale_factor * scale_factor, 3, padding=1)
        self.shuffle = nn.PixelShuffle(upscale_factor=scale_factor)

    def forward(self, x):
        return self.shuffle(self.conv(x))


class ResizeBy(nn.Module):
    def __init__(self, scale_factor):
        super().__init__()
        self.scale_factor = scale_factor

    def forward(self, x):
        size = (x.shape[2] * self.scale_factor, x.shape[3] * self.scale_factor)
        return F.interpolate(x, size=size, mode="nearest")


class DeconvBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.deconv = nn.ConvTranspose2d(in_channels, out_channels, 3, stride=stride, padding=1, output_padding=1)

    def forward(self, x):
        return self.deconv(x)
'''


def test_upsampling_factors_and_strides_guessed_to_exercise_the_layer(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "up.py", SOURCE, shared_verifier)
    units = {u.name: u for u in report.units}
    for name in ("ShuffleUp", "ResizeBy", "DeconvBlock"):
        assert units[name].status.startswith("verified"), (name, units[name].status, units[name].reason)
    assert "scale_factor=2" in units["ShuffleUp"].spec["init"], units["ShuffleUp"].spec
    assert "scale_factor=2" in units["ResizeBy"].spec["init"], units["ResizeBy"].spec
    assert "stride=2" in units["DeconvBlock"].spec["init"], units["DeconvBlock"].spec


SHAPED = '''\
import torch
import torch.nn as nn


class GridEmbedding(nn.Module):
    def __init__(self, dim, shape):
        super().__init__()
        self.axes = nn.ParameterList([nn.Parameter(torch.randn(n, dim)) for n in shape])
        self.rank = len(shape)

    def forward(self, x):
        return x + self.axes[0][: x.shape[1]] + self.axes[1][: x.shape[1]]
'''


def test_a_constructor_argument_used_as_a_shape_is_guessed_as_one(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "grid.py", SHAPED, shared_verifier)
    unit = next(u for u in report.units if u.name == "GridEmbedding")
    assert unit.status.startswith("verified"), (unit.status, unit.reason)
    assert "shape=(8, 8)" in unit.spec["init"], unit.spec


def test_instance_norm_first_layers_give_the_input_shape():
    import torch.nn as nn

    from agent.verify.infer import module_input_candidates

    for layer, rank in ((nn.InstanceNorm1d(5), 3), (nn.InstanceNorm2d(5, affine=True), 4), (nn.InstanceNorm3d(5), 5)):
        first = module_input_candidates(nn.Sequential(layer, nn.ReLU()))[0][0]
        assert len(first["shape"]) == rank and first["shape"][1] == 5, (layer, first)


POSITIONAL = '''\
import torch
import torch.nn as nn


class TableAdd(nn.Module):
    """A fixed table added along the sequence: its width, not the input, says what the last axis is."""

    def __init__(self, d_model=12, max_len=32):
        super().__init__()
        self.register_buffer("table", torch.linspace(-1, 1, max_len * d_model).reshape(max_len, 1, d_model))

    def forward(self, x):
        return x + self.table[: x.size(0), :]


class Tokens(nn.Module):
    def __init__(self):
        super().__init__()
        self.table = torch.nn.Parameter(torch.randn(20, 6))

    def forward(self, ids):
        return nn.functional.embedding(ids, self.table).sum(1)
'''


def test_inputs_corrected_from_torchs_own_shape_errors(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "pos.py", POSITIONAL, shared_verifier)
    units = {u.name: u for u in report.units}
    pos, tokens = units["TableAdd"], units["Tokens"]
    assert pos.status.startswith("verified"), (pos.status, pos.reason)
    assert pos.spec["inputs"][0][0]["shape"][-1] == 12  # the table's width, asked for by a broadcast error
    assert tokens.status.startswith("verified"), (tokens.status, tokens.reason)
    assert tokens.spec["inputs"][0][0]["dtype"] == "int64"


def test_corrections_read_each_kind_of_error():
    from agent.verify.shape_fix import corrected

    x = [{"shape": [2, 64, 16], "dtype": "float32", "_vary": [1]}]
    fixed = corrected(x, "The size of tensor a (16) must match the size of tensor b (8) at non-singleton dimension 2")
    assert fixed[0]["shape"] == [2, 64, 8] and fixed[0]["_vary"] == [1]
    fixed = corrected(x, "mat1 and mat2 shapes cannot be multiplied (128x16 and 40x40)")
    assert fixed[0]["shape"] == [2, 64, 40]
    assert corrected(x, "mat1 and mat2 shapes cannot be multiplied (7x16 and 40x40)") is None  # not this input
    img = [{"shape": [2, 8, 16, 16], "dtype": "float32", "_vary": [2, 3]}]
    fixed = corrected(img, "Given groups=1, weight of size [4, 3, 3, 3], expected input[2, 8, 16, 16] to have 3 "
                           "channels, but got 8 channels instead")
    assert fixed[0]["shape"] == [2, 3, 16, 16]
    fixed = corrected(x, "Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                         "Long, Int; but got torch.FloatTensor", vocab=20)
    assert fixed[0]["dtype"] == "int64" and fixed[0]["high"] == 20
    fixed = corrected(x, "Given normalized_shape=[64, 12], expected input with shape [*, 64, 12], but got input of "
                         "size[2, 64, 16]")
    assert fixed[0]["shape"] == [2, 64, 12] and fixed[0]["_vary"] == []
    fixed = corrected(img, "Calculated padded input size per channel: (3 x 3). Kernel size: (4 x 4). Kernel size "
                           "can't be greater than actual input size")
    assert fixed[0]["shape"] == [2, 8, 32, 32]
    assert corrected([{"shape": [2, 8, 128, 128], "dtype": "float32"}], "Kernel size can't be greater than actual "
                                                                          "input size") is None  # large enough
    fixed = corrected(x, "Dimension out of range (expected to be in range of [-3, 2], but got 3)")
    assert fixed[0]["shape"] == [2, 64, 16, 8]  # `x.mean((2, 3))`: a fourth axis
    assert corrected(x, "Dimension out of range (expected to be in range of [-3, 2], but got 2)") is None
    fixed = corrected(img, "einsum(): subscript m has size 256 for operand 1 which does not broadcast with "
                           "previously seen size 64")
    assert fixed[0]["shape"] == [2, 8, 8, 8]  # a flattened map against an n*n table: each side scaled alike
    fixed = corrected(x, "einsum(): subscript n has size 64 for operand 0 which does not broadcast with previously "
                         "seen size 32")
    assert fixed[0]["shape"] == [2, 32, 16]
    tokens = [{"shape": [2, 8, 16], "dtype": "float32", "_vary": [1]}]
    fixed = corrected(tokens, ' Error while processing rearrange-reduction pattern "b (h w) c -> b c h w".\n Input '
                              "tensor shape: torch.Size([2, 8, 16]). Additional info: {'h': 2, 'w': 2}.\n Shape "
                              "mismatch, 8 != 4")
    assert fixed[0]["shape"] == [2, 9, 16]  # `h = w = int(sqrt(n))`: a square count of tokens
    chunks = ("Shape mismatch, can't divide axis of length 7 in chunks of 8", [2, 9, 16]), \
        ("Shape mismatch, can't divide axis of length 8 in chunks of 3", [2, 9, 16])
    for message, shape in chunks:  # after `x[:, 1:]` (a class token cut): 1 + frames * n; else a multiple
        assert corrected(tokens, message)[0]["shape"] == shape, message
    grouped = [{"shape": [2, 3, 16, 16], "dtype": "float32", "_vary": [2, 3]}]
    fixed = corrected(grouped, ' Error while processing rearrange-reduction pattern "b h (x y) d -> b h x y d".\n '
                               "Input tensor shape: torch.Size([2, 3, 16, 16]). Additional info: {'x': 8, 'y': 8}.\n "
                               "Shape mismatch, 16 != 64")
    assert fixed[0]["shape"] == [2, 3, 64, 16]  # `(x y)` with x and y given: their product
    fixed = corrected(fixed, "einsum(): subscript d has size 2 for operand 1 which does not broadcast with "
                             "previously seen size 16")
    assert fixed[0]["shape"] == [2, 3, 64, 2]  # the input is operand 0: it takes the module's size
    assert corrected(x, "some other error") is None


def test_a_guessed_number_a_forward_unpacks_becomes_a_pair():
    from agent.verify.constructors import naming_none

    class RelPos:
        def __init__(self, fmap_size, dim_head):
            pass

    lines = ("return forward_call(*args, **kwargs)", "h, w = self.fmap_size")
    assert naming_none("RelPos(fmap_size=8, dim_head=2)", "cannot unpack non-iterable int object", RelPos, lines) \
        == "RelPos(fmap_size=(8, 8), dim_head=2)"


WRAPPER = '''\
import torch
import torch.nn as nn


class Backbone(nn.Module):
    def __init__(self, dim_in, dim_hidden):
        super().__init__()
        self.dim_hidden = dim_hidden
        self.net = nn.Sequential(nn.Linear(dim_in, dim_hidden), nn.Tanh())

    def forward(self, x):
        return self.net(x)


class Readout(nn.Module):
    def __init__(self, net, classes):
        super().__init__()
        assert isinstance(net, (Backbone, nn.Sequential)), "Readout must wrap a Backbone"
        self.net = net
        self.head = nn.Linear(net.dim_hidden, classes)

    def forward(self, x):
        return self.head(self.net(x)).softmax(dim=-1)
'''


def test_a_wrapper_asserting_its_models_class_gets_one(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "wrap.py", WRAPPER, shared_verifier)
    unit = next(u for u in report.units if u.name == "Readout")
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert "Backbone(dim_in=8, dim_hidden=8)" in unit.spec["init"], unit.spec


DOMAIN = '''\
import torch


def safe_log(t, eps=1e-6):
    return torch.log(t + eps)


def entropy(p, eps=1e-8):
    return -(p * torch.log(p + eps)).sum(dim=-1)
'''


def test_guessed_inputs_with_non_finite_outputs_give_way_to_ones_in_the_domain(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "logs.py", DOMAIN, shared_verifier)
    for unit in report.units:
        assert unit.status == "verified-by-rules", (unit.name, unit.status, unit.reason)
        assert unit.level_reached == "grad", (unit.name, unit.levels)


KEYWORD_ONLY = '''\
import torch
import torch.nn as nn


class MaskedAttention(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.qkv = nn.Linear(dim, dim * 3)

    def forward(self, x, *, mask):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
        if mask is not None:
            scores = scores.masked_fill(~mask, -1e9)
        return scores.softmax(dim=-1) @ v
'''


def test_a_required_keyword_only_argument_is_given_none(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "attn.py", KEYWORD_ONLY, shared_verifier)
    unit = next(u for u in report.units if u.name == "MaskedAttention")
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert unit.level_reached == "grad", unit.levels


def test_a_guessed_image_size_is_a_multiple_of_the_patch_sizes():
    from agent.verify.constructors import default_inits

    class TwoScaleViT:
        def __init__(self, *, image_size, num_classes, small_dim, large_dim, small_patch_size=12,
                     large_patch_size=16):
            assert image_size % small_patch_size == 0 and image_size % large_patch_size == 0

    inits = default_inits("TwoScaleViT", TwoScaleViT)
    assert inits and all("image_size=48" in i for i in inits), inits
    for init in inits:
        eval(init, {"TwoScaleViT": TwoScaleViT})  # the guess satisfies the constructor's own check


def test_dropout_probabilities_named_the_gpt_way_are_guessed_as_zero():
    from agent.verify.constructors import default_inits

    class CausalSelfAttention:
        def __init__(self, n_embd, n_head, attn_pdrop, resid_pdrop, max_seqlen):
            assert 0.0 <= attn_pdrop < 1.0 and 0.0 <= resid_pdrop < 1.0

    inits = default_inits("CausalSelfAttention", CausalSelfAttention)
    assert inits and all("attn_pdrop=0.0, resid_pdrop=0.0" in i for i in inits), inits
    for init in inits:
        eval(init, {"CausalSelfAttention": CausalSelfAttention})


def test_a_guessed_channel_count_is_a_multiple_of_the_group_counts():
    import torch.nn as nn

    from agent.verify.constructors import default_inits

    class GroupNorm32(nn.GroupNorm):  # channels first, 32 groups by default, as model libraries write it
        def __init__(self, num_channels, num_groups=32, eps=1e-5):
            super().__init__(num_groups, num_channels, eps=eps)

    inits = default_inits("GroupNorm32", GroupNorm32)
    assert inits and all("num_channels=32" in i for i in inits), inits
    for init in inits:
        eval(init, {"GroupNorm32": GroupNorm32})  # builds: 32 channels in 32 groups


def test_a_sequence_length_left_none_is_also_tried_set():
    from agent.verify.constructors import default_inits

    class Classifier:
        def __init__(self, dim, sequence_length=None, positional="sine"):
            assert positional != "sine" or sequence_length is not None, "sine needs the sequence length"

    inits = default_inits("Classifier", Classifier)
    assert "Classifier(dim=8, sequence_length=16)" in inits, inits


SUBLAYERS = '''\
import torch.nn as nn


class ResidualBlock(nn.Module):
    def __init__(self, width, self_attn, feed_forward, layer, dropout=0.1):
        super().__init__()
        self.self_attn, self.feed_forward, self.layer = self_attn, feed_forward, layer
        self.norm = nn.LayerNorm(width)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, mask):
        x = x + self.drop(self.self_attn(self.norm(x), x, x, mask))
        return self.layer(x + self.feed_forward(self.norm(x)))
'''


def test_submodules_named_as_transformer_code_names_them_get_identities(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "block.py", SUBLAYERS, shared_verifier)
    unit = next(u for u in report.units if u.name == "ResidualBlock")
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert "self_attn=__msagent_identity__()" in unit.spec["init"] and "layer=__msagent_identity__()" in unit.spec["init"]


TOP_K = '''\
import torch


def keep_top_k(logits, thres=0.9):
    k = int((1 - thres) * logits.shape[-1])
    val, ind = torch.topk(logits, k)
    probs = torch.full_like(logits, float("-inf"))
    probs.scatter_(1, ind, val)
    return probs
'''


def test_top_k_filtering_gets_a_last_axis_wide_enough_for_k(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "sample.py", TOP_K, shared_verifier)
    unit = next(u for u in report.units if u.name == "keep_top_k")
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert unit.spec["inputs"][0][0]["shape"] == [2, 32], unit.spec


CHANNEL_GATE = '''\
import torch.nn as nn


class ChannelGate(nn.Module):
    """Efficient channel attention: its first layer is a 1-channel Conv1d, yet it takes images."""

    def __init__(self, kernel_size=3):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x):
        y = x.mean((2, 3)).view(x.shape[0], 1, -1)
        y = self.conv(y).view(x.shape[0], -1, 1, 1).sigmoid()
        return x * y.expand_as(x)
'''


def test_an_input_of_too_low_a_rank_gets_the_axes_torch_asks_for(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "gate.py", CHANNEL_GATE, shared_verifier)
    unit = {u.name: u for u in report.units}["ChannelGate"]
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert len(unit.spec["inputs"][0][0]["shape"]) == 4, unit.spec


FUNCTIONS = '''\
from typing import List

import torch
import torch.nn.functional as F


def group_std(x, groups: int = 32, eps: float = 1e-5):
    B, C, H, W = x.shape
    assert C % groups == 0
    x = x.reshape(B, groups, C // groups, H, W)
    return x.var(dim=(2, 3, 4), unbiased=False, keepdim=True).add(eps).sqrt().expand(x.shape).reshape(B, C, H, W)


def pad_same(x, kernel_size: List[int], stride: List[int], value: float = 0):
    ih, iw = x.size()[-2:]
    pad_h = max((-(ih // -stride[0]) - 1) * stride[0] + kernel_size[0] - ih, 0)
    pad_w = max((-(iw // -stride[1]) - 1) * stride[1] + kernel_size[1] - iw, 0)
    return F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2), value=value)
'''


def test_functions_get_group_sized_channels_and_integer_lists(tmp_path, shared_verifier):
    """A function asserting its channels divide its default group count gets an input with that many
    channels; a `List[int]` parameter gets one size per spatial axis, not a tensor."""
    report, _ = migrate_one_file(tmp_path, "fns.py", FUNCTIONS, shared_verifier)
    units = {u.name: u for u in report.units}
    for name in ("group_std", "pad_same"):
        assert units[name].status.startswith("verified"), (name, units[name].status, units[name].reason)
    assert units["group_std"].spec["inputs"][0][0]["shape"][1] == 32
    assert units["pad_same"].spec["inputs"][0][1] == {"value": [3, 3]}, units["pad_same"].spec


MASKED = '''\
import torch


def masked_mean(seq, mask):
    seq = seq.masked_fill(~mask[..., None], 0.0)
    return seq.sum(dim=1) / mask.sum(dim=1, keepdim=True).clamp(min=1)
'''


def test_a_mask_parameter_gets_a_boolean_over_the_leading_axes(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "masked.py", MASKED, shared_verifier)
    unit = next(u for u in report.units if u.name == "masked_mean")
    assert unit.status.startswith("verified"), (unit.status, unit.reason)
    seq, mask = unit.spec["inputs"][0]
    assert mask["dtype"] == "bool" and mask["shape"] == seq["shape"][:2], unit.spec


TIMESTEPS = '''\
import math
import torch
from torch import nn


class StepEmbedding(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, t):
        half = self.dim // 2
        freqs = torch.exp(torch.arange(half) * -(math.log(10000) / (half - 1)))
        args = t[:, None] * freqs[None, :]
        return torch.cat((args.sin(), args.cos()), dim=-1)
'''


def test_a_timestep_embedding_is_fed_one_number_per_sample(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "steps.py", TIMESTEPS, shared_verifier)
    unit = {u.name: u for u in report.units}["StepEmbedding"]
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert unit.spec["inputs"][0][0]["shape"] == [2], unit.spec


CHOICES = '''\
import torch.nn as nn
import torch.nn.functional as F


class Pooled(nn.Module):
    def __init__(self, mode, channels):
        super().__init__()
        if mode not in ("max", "avg"):
            raise ValueError(mode)
        self.mode = mode
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        pool = F.max_pool2d if self.mode == "max" else F.avg_pool2d
        return pool(self.proj(x), 2)
'''


def test_a_required_string_is_one_the_constructor_compares_it_with(tmp_path, shared_verifier):
    report, _ = migrate_one_file(tmp_path, "choices.py", CHOICES, shared_verifier)
    unit = {u.name: u for u in report.units}["Pooled"]
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert unit.spec["init"] == "Pooled(mode='max', channels=8)", unit.spec


USES = '''\
import torch
import torch.nn as nn


class Coupling(nn.Module):
    def __init__(self, f, g):
        super().__init__()
        self.f, self.g = f, g

    def forward(self, x, f_args, g_args):
        x1, x2 = torch.chunk(x, 2, dim=1)
        y1 = x1 + self.f(x2, **f_args)
        return torch.cat([y1, x2 + self.g(y1, **g_args)], dim=1)


class PickExpert(nn.Module):
    def __init__(self, in_features, out_features, num_options=4):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_options, out_features, in_features))

    def forward(self, x, indices):
        w = torch.index_select(self.weight, dim=0, index=indices)
        return torch.bmm(w, x.unsqueeze(-1)).squeeze(-1)


class LatentStack(nn.Module):
    def __init__(self, dim_in, dim_hidden):
        super().__init__()
        self.first = nn.Linear(dim_in, dim_hidden)
        self.second = nn.Linear(dim_hidden + dim_in, dim_hidden)

    def forward(self, z):
        return self.second(torch.cat((torch.relu(self.first(z)), z)))


class Window(nn.Module):
    def __init__(self, dim, n=None, r=None):
        super().__init__()
        assert n is not None or r is not None, "give the window size (n=h=w)"
        self.proj = nn.Linear(dim, dim)
        self.pos = nn.Parameter(torch.randn(n or r, dim))

    def forward(self, x):
        return self.proj(x) + self.pos
'''


def test_inputs_and_arguments_read_from_how_the_code_uses_them(tmp_path, shared_verifier):
    """Keyword arguments passed on (`**f_args`) get an empty mapping, an `index_select` index a vector, a
    stack that concatenates along axis 0 one unbatched sample, and a parameter left None that the
    constructor's own error names a size."""
    report, _ = migrate_one_file(tmp_path, "uses.py", USES, shared_verifier)
    units = {u.name: u for u in report.units}
    for name in ("Coupling", "PickExpert", "LatentStack", "Window"):
        assert units[name].status.startswith("verified"), (name, units[name].status, units[name].reason)
    assert "{}" in str(units["Coupling"].spec["inputs"][0]), units["Coupling"].spec
    assert units["PickExpert"].spec["inputs"][0][1]["shape"] == [2], units["PickExpert"].spec
    assert units["LatentStack"].spec["inputs"][0][0]["shape"] == [8], units["LatentStack"].spec
    assert "n=8" in units["Window"].spec["init"], units["Window"].spec


CONTAINER = '''\
import torch
import torch.nn as nn


class Branches(nn.Sequential):
    def __init__(self, axis=1):
        super().__init__()
        self.axis = axis

    def forward(self, x):
        return torch.cat([branch(x) for branch in self._modules.values()], dim=self.axis)


class Summed(nn.ModuleList):
    def forward(self, x):
        return torch.stack([m(x) for m in self], dim=0).sum(dim=0) * 0.5


class Collect(nn.ModuleList):
    def forward(self, x):
        return [m(x) * 2 for m in self]
'''


def test_a_container_subclass_left_empty_gets_two_identity_children(tmp_path, shared_verifier):
    """A Sequential or ModuleList subclass whose constructor adds nothing merges nothing: with no model of
    the repo that fills it (those come first), it is checked holding two identities (each side its own),
    so its own forward runs."""
    report, _ = migrate_one_file(tmp_path, "branches.py", CONTAINER, shared_verifier)
    units = {u.name: u for u in report.units}
    for name in ("Branches", "Summed", "Collect"):  # Collect left empty returns [], nothing to compare
        assert units[name].status.startswith("verified"), (name, units[name].status, units[name].reason)
        assert units[name].spec["init"].startswith("__msagent_filled__("), units[name].spec


COUNTS = '''\
import torch
import torch.nn.functional as F


def pad_to(t, multiple, dim=-1):
    n = t.shape[dim]
    rem = (multiple - n % multiple) % multiple
    return F.pad(t, (0, rem)), rem


def turn(gamma):
    return torch.stack([torch.cos(gamma), -torch.sin(gamma), torch.sin(gamma), torch.cos(gamma)]).view(2, 2)
'''


def test_a_function_gets_counts_by_name_and_single_numbers_as_tensors(tmp_path, shared_verifier):
    """A parameter named as a count (`multiple`, `heads`) gets that integer; an angle named as a scalar
    (`gamma`) that torch wants as a tensor gets one number as a 0-d tensor."""
    report, _ = migrate_one_file(tmp_path, "counts.py", COUNTS, shared_verifier)
    units = {u.name: u for u in report.units}
    for name in ("pad_to", "turn"):
        assert units[name].status.startswith("verified"), (name, units[name].status, units[name].reason)
    assert units["pad_to"].spec["inputs"][0][1] == {"value": 2}, units["pad_to"].spec
    assert units["turn"].spec["inputs"][0][0]["shape"] == [], units["turn"].spec


HUGE = '''\
import torch
import torch.nn as nn


class Table(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.table = nn.Parameter(torch.zeros(dim, 2 ** 31))

    def forward(self, x):
        return x @ self.table[:, :4]
'''


def test_a_spec_that_runs_out_of_memory_leaves_the_unit_not_exercised(tmp_path, shared_verifier):
    """Memory the sandbox's limit refuses while a spec is sought says nothing of the translation: the unit
    is not exercised, and the reason names the limit."""
    report, _ = migrate_one_file(tmp_path, "huge.py", HUGE, shared_verifier)
    unit = next(u for u in report.units if u.name == "Table")
    assert unit.status == "not-exercised", (unit.status, unit.reason)
    assert "out of memory" in unit.reason, unit.reason


BUILDERS = '''\
import torch.nn as nn


def conv_bn(inp, oup, stride=1):
    return nn.Sequential(nn.Conv2d(inp, oup, 3, stride, 1, bias=False), nn.BatchNorm2d(oup), nn.SiLU())


class Patches(nn.Module):
    def __init__(self, dim, patch_size):
        super().__init__()
        self.ph, self.pw = patch_size
        self.proj = nn.Linear(dim * self.ph * self.pw, dim)

    def forward(self, x):
        b, c, h, w = x.shape
        x = x.reshape(b, c, h // self.ph, self.ph, w // self.pw, self.pw).permute(0, 2, 4, 1, 3, 5)
        return self.proj(x.reshape(b, (h // self.ph) * (w // self.pw), c * self.ph * self.pw))


class Pairs(nn.Module):
    def forward(self, pair):
        first, second = pair
        return first * second
'''


def test_sizes_and_pairs_read_from_how_a_builder_and_a_constructor_use_them(tmp_path, shared_verifier):
    """Names a layer's constructor takes (`nn.Conv2d(inp, oup, ...)`) are counts; a constructor parameter
    unpacked into two names is a pair; a forward's parameter unpacked so is still a tensor (pairs of
    tensors travel that way)."""
    report, _ = migrate_one_file(tmp_path, "builders.py", BUILDERS, shared_verifier)
    units = {u.name: u for u in report.units}
    for name in ("conv_bn", "Patches", "Pairs"):
        assert units[name].status.startswith("verified"), (name, units[name].status, units[name].reason)
    assert "patch_size=(8, 8)" in units["Patches"].spec["init"], units["Patches"].spec
    assert units["Pairs"].spec["inputs"][0][0].get("shape"), units["Pairs"].spec


def test_a_constructor_error_asking_for_a_tuple_gets_one():
    from agent.verify.constructors import naming_none

    class Pyramid:
        def __init__(self, image_size, depth, dims=None):
            pass

    assert naming_none("Pyramid(image_size=8, depth=2)", "depth must be a tuple of integers, one per stage",
                       Pyramid) == "Pyramid(image_size=8, depth=(2, 2))"
    assert naming_none("Pyramid(image_size=8, dims=(8, 8), depth=2)", "dims must be a tuple of 3", Pyramid) == \
        "Pyramid(image_size=8, dims=(8, 8, 8), depth=2)"
    assert naming_none("Pyramid(image_size=8, depth=2)", "image too small", Pyramid) is None


def test_mindspores_allocator_failure_is_named_as_the_memory_limit():
    from agent.verify.failures import blocked_by_limits

    kind, reason = blocked_by_limits("RuntimeError: Allocate memory failed\n---- C++ Call Stack", 8)
    assert kind == "memory" and "8 GiB" in reason
    assert blocked_by_limits("RuntimeError: shapes do not match", 8) is None


RANKS = '''\
import torch
import torch.nn as nn


def relative_logits(q, rel_k):
    b, heads, h, w, dim = q.shape
    logits = torch.einsum("bhxyd,rd->bhxyr", q, rel_k)
    return logits.reshape(b, heads * h, w, -1)


class SpaceToDepth(nn.Module):
    def forward(self, x):
        b, c, h, w = x.shape
        x = x.reshape(b, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4)
        return x.reshape(b, c * 4, h // 2, w // 2)
'''


def test_a_tensor_whose_shape_the_code_unpacks_gets_that_many_axes(tmp_path, shared_verifier):
    """`b, heads, h, w, dim = q.shape`: q has five axes, whatever the other arguments have."""
    report, _ = migrate_one_file(tmp_path, "ranks.py", RANKS, shared_verifier)
    units = {u.name: u for u in report.units}
    for name in ("relative_logits", "SpaceToDepth"):
        assert units[name].status.startswith("verified"), (name, units[name].status, units[name].reason)
    assert len(units["relative_logits"].spec["inputs"][0][0]["shape"]) == 5, units["relative_logits"].spec
    assert len(units["SpaceToDepth"].spec["inputs"][0][0]["shape"]) == 4, units["SpaceToDepth"].spec


STAGES = '''\
import torch.nn as nn


class Stages(nn.Module):
    """Per-stage settings as tuples, zipped together: a guessed number for any of them is not iterable."""

    def __init__(self, *, channels, dims, depths):
        super().__init__()
        dims = (channels, *dims)
        self.stages = nn.ModuleList()
        for dim_in, dim_out, depth in zip(dims[:-1], dims[1:], depths):
            layers = [nn.Conv2d(dim_in, dim_out, 3, padding=1)]
            layers += [nn.Conv2d(dim_out, dim_out, 3, padding=1) for _ in range(depth)]
            self.stages.append(nn.Sequential(*layers))

    def forward(self, x):
        for stage in self.stages:
            x = stage(x).relu()
        return x
'''


def test_numbers_a_constructor_iterates_become_tuples(tmp_path, shared_verifier):
    """`Value after * must be an iterable, not int` and `'int' object is not iterable`: the guessed numbers
    the failing line unpacks or zips become tuples (channels, unpacked nowhere, stays a number)."""
    report, _ = migrate_one_file(tmp_path, "stages.py", STAGES, shared_verifier)
    unit = next(u for u in report.units if u.name == "Stages")
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    assert "dims=(8, 8)" in unit.spec["init"] and "depths=(2, 2)" in unit.spec["init"], unit.spec
    assert "channels=8," in unit.spec["init"], unit.spec


RESOLUTION_KEPT = '''\
import torch
from torch import nn


class WindowBlock(nn.Module):
    def __init__(self, dim, input_resolution, window_size=4):
        super().__init__()
        self.input_resolution = input_resolution
        self.window_size = window_size
        if min(self.input_resolution) <= self.window_size:
            self.window_size = min(self.input_resolution)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        H, W = self.input_resolution
        B, L, C = x.shape
        assert L == H * W
        return self.proj(x).view(B, H, W, C).mean(1)
'''


def test_a_number_the_constructor_iterates_on_self_becomes_a_tuple(tmp_path, shared_verifier):
    """`min(self.input_resolution)` (Swin's blocks) iterates a guessed number kept on the module first."""
    unit = _sole_unit_verified(tmp_path, "swin.py", RESOLUTION_KEPT, shared_verifier)
    assert "input_resolution=(" in unit.spec["init"], unit.spec


HEAD_WRAPPER = '''\
import torch
from torch import nn


class MultiCropWrapper(nn.Module):
    def __init__(self, backbone, head):
        super().__init__()
        backbone.fc, backbone.head = nn.Identity(), nn.Identity()
        self.backbone = backbone
        self.head = head

    def forward(self, x):
        return self.head(torch.cat([self.backbone(x), self.backbone(x * 2)]))
'''


def test_a_head_argument_is_a_module_not_a_head_count(tmp_path, shared_verifier):
    """`MultiCropWrapper(backbone, head)` (DINO): `head` was guessed 2, as a number of attention heads."""
    unit = _sole_unit_verified(tmp_path, "wrapper.py", HEAD_WRAPPER, shared_verifier)
    assert "head=__msagent_identity__()" in unit.spec["init"], unit.spec


DOWNSAMPLING = '''\
import torch.nn as nn


class Hourglass(nn.Module):
    def __init__(self, input_nc, output_nc, num_downs, ngf=8):
        super().__init__()
        downs, ups, ch = [], [], input_nc
        for i in range(num_downs):
            downs += [nn.Conv2d(ch, ngf * 2 ** i, 4, 2, 1), nn.LeakyReLU(0.2)]
            ch = ngf * 2 ** i
        for i in reversed(range(num_downs)):
            out = ngf * 2 ** (i - 1) if i else output_nc
            ups += [nn.ConvTranspose2d(ch, out, 4, 2, 1), nn.ReLU()]
            ch = out
        self.model = nn.Sequential(*downs, *ups)

    def forward(self, x):
        return self.model(x)
'''


def test_a_count_of_downsampling_stages_is_guessed_small(tmp_path, shared_verifier):
    """`num_downs` (pix2pix's U-Net): each stage halves the map, so the generic guess 8 needed inputs of 256
    pixels and the unit was not exercised; a count of stages is guessed 2, as a count of layers is."""
    unit = _sole_unit_verified(tmp_path, "hourglass.py", DOWNSAMPLING, shared_verifier)
    assert "num_downs=2" in unit.spec["init"], unit.spec


SKIP_LEVEL = '''\
import torch
import torch.nn as nn


class SkipLevel(nn.Module):
    def __init__(self, outer_nc, inner_nc, submodule=None, outermost=False, innermost=False):
        super().__init__()
        self.outermost = outermost
        down = [nn.Conv2d(outer_nc, inner_nc, 4, 2, 1)]
        if innermost:
            model = down + [nn.ReLU(), nn.ConvTranspose2d(inner_nc, outer_nc, 4, 2, 1)]
        else:
            model = down + [submodule, nn.ReLU(), nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1)]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)
'''


def test_a_flag_turned_from_its_default_when_the_defaults_build_nothing_usable(tmp_path, shared_verifier):
    """A U-Net level (pix2pix's skip-connection block) neither innermost nor given its submodule puts None in
    its Sequential: every guess failed. Each boolean flag is also tried turned, after the other guesses."""
    unit = _sole_unit_verified(tmp_path, "levels.py", SKIP_LEVEL, shared_verifier)
    assert unit.spec["init"] == "SkipLevel(outer_nc=8, inner_nc=8, innermost=True)", unit.spec


UNSET_HEADS = '''\
import torch.nn as nn


class HeadedAttention(nn.Module):
    def __init__(self, channels, num_heads=-1, num_head_channels=-1):
        super().__init__()
        if num_heads == -1:
            assert num_head_channels != -1, "set num_heads or num_head_channels"
            num_heads = channels // num_head_channels
        self.attn = nn.MultiheadAttention(channels, num_heads, batch_first=True)

    def forward(self, x):
        return self.attn(x, x, x, need_weights=False)[0]
'''


def test_counts_left_unset_at_minus_one_get_their_names_guess(tmp_path, shared_verifier):
    """`num_heads=-1, num_head_channels=-1` with an assertion that one is set (diffusion U-Nets): the
    defaults never build; the -1 counts are also tried at what their names say, after the other guesses."""
    unit = _sole_unit_verified(tmp_path, "heads.py", UNSET_HEADS, shared_verifier)
    assert "num_heads=2" in unit.spec["init"], unit.spec


def _sole_unit_verified(tmp_path, filename: str, source: str, verifier):
    """The one unit of SOURCE, migrated alone, asserted verified by the rules."""
    from tests.support.one_file import migrate_one_file

    report, _ = migrate_one_file(tmp_path, filename, source, verifier)
    (unit,) = report.units
    assert unit.status == "verified-by-rules", (unit.status, unit.reason)
    return unit
