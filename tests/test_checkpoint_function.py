"""The gradient-checkpointing autograd Function that diffusion code copies (guided-diffusion, latent
diffusion: forward runs a function under no_grad, backward reruns it under enable_grad and calls
torch.autograd.grad) has no MindSpore counterpart for its backward. Its gradient is the function's own,
so the translation differentiates forward itself: attention blocks that always checkpoint verified forward
and failed at the gradient level before."""
from tests.support.one_file import assert_verified, migrate_one_file

SOURCE = '''\
import torch
from torch import nn


def checkpoint(func, inputs, params, flag):
    if flag:
        args = tuple(inputs) + tuple(params)
        return CheckpointFunction.apply(func, len(inputs), *args)
    return func(*inputs)


class CheckpointFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, run_function, length, *args):
        ctx.run_function = run_function
        ctx.input_tensors = list(args[:length])
        ctx.input_params = list(args[length:])
        with torch.no_grad():
            output_tensors = ctx.run_function(*ctx.input_tensors)
        return output_tensors

    @staticmethod
    def backward(ctx, *output_grads):
        ctx.input_tensors = [x.detach().requires_grad_(True) for x in ctx.input_tensors]
        with torch.enable_grad():
            shallow_copies = [x.view_as(x) for x in ctx.input_tensors]
            output_tensors = ctx.run_function(*shallow_copies)
        input_grads = torch.autograd.grad(output_tensors, ctx.input_tensors + ctx.input_params, output_grads,
                                          allow_unused=True)
        del ctx.input_tensors
        del ctx.input_params
        del output_tensors
        return (None, None) + input_grads


class AttentionBlock(nn.Module):
    def __init__(self, channels=8):
        super().__init__()
        self.norm = nn.GroupNorm(2, channels)
        self.qkv = nn.Conv1d(channels, channels * 3, 1)
        self.proj = nn.Conv1d(channels, channels, 1)

    def forward(self, x):
        return checkpoint(self._forward, (x,), self.parameters(), True)

    def _forward(self, x):
        b, c, *spatial = x.shape
        x = x.reshape(b, c, -1)
        q, k, v = self.qkv(self.norm(x)).chunk(3, dim=1)
        weight = torch.softmax(torch.einsum("bct,bcs->bts", q, k) / c ** 0.5, dim=-1)
        h = torch.einsum("bts,bcs->bct", weight, v)
        return (x + self.proj(h)).reshape(b, c, *spatial)
'''


def test_a_checkpointed_block_verifies_at_the_gradient_level(tmp_path, shared_verifier):
    report, text = migrate_one_file(tmp_path, "attention.py", SOURCE, shared_verifier)
    assert_verified(report, ["AttentionBlock"])
    assert "class CheckpointFunction(_MsRecompute)" in text


def test_a_backward_that_fails_in_torch_itself_leaves_the_gradient_level_not_run(tmp_path, shared_verifier):
    """Latent diffusion checkpoints `(x, context)` with context None: the torch original's own backward calls
    `None.detach()` (an AttributeError). Its forward is compared; the gradient level says torch raises."""
    source = SOURCE.replace("return checkpoint(self._forward, (x,), self.parameters(), True)",
                            "return checkpoint(self._forward, (x, None), self.parameters(), True)")
    source = source.replace("def _forward(self, x):", "def _forward(self, x, context=None):")
    report, _ = migrate_one_file(tmp_path, "attention.py", source, shared_verifier)
    units = assert_verified(report, ["AttentionBlock"], level=None)
    grad = units["AttentionBlock"].levels["grad"]
    assert grad["status"] == "not-run" and "the torch original raises in its backward pass" in grad["reason"], grad


def test_a_no_grad_block_inside_the_checkpointed_function_still_stops_gradients(tmp_path, shared_verifier):
    """Only forward's own no_grad is lifted: one inside the function it runs (a scale computed without
    gradients) keeps stopping them, as in torch's recomputation."""
    source = SOURCE.replace("        return (x + self.proj(h)).reshape(b, c, *spatial)",
                            "        with torch.no_grad():\n"
                            "            scale = h.abs().mean() + 1.0\n"
                            "        return (x + self.proj(h) * scale).reshape(b, c, *spatial)")
    assert "scale = h.abs()" in source
    report, _ = migrate_one_file(tmp_path, "attention.py", source, shared_verifier)
    assert_verified(report, ["AttentionBlock"])
