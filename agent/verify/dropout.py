"""Dropout off, the same way on both sides, for the train-mode levels.

Random numbers differ between the frameworks, so train-mode checks run with every dropout-like
layer at p=0 (the report notes it): layers whose class name holds "Drop" (Dropout*, DropPath,
DropBlock) get their rate attributes zeroed; any layer's float attribute named like an attention
or path dropout rate is zeroed; and the frameworks' functional dropouts become the identity for
the session (each session is a fresh process, so nothing outlives the unit).
"""
from __future__ import annotations

RATE_NAMES = ("p", "dropout", "dropout_p", "attn_dropout", "attention_dropout", "drop_prob", "drop_path_prob",
              "drop_rate", "drop_path_rate", "attn_drop_rate", "proj_drop_rate")
FUNCTIONAL = {
    "torch": ["torch.nn.functional.dropout", "torch.nn.functional.dropout1d", "torch.nn.functional.dropout2d",
              "torch.nn.functional.dropout3d", "torch.nn.functional.alpha_dropout",
              "torch.nn.functional.feature_alpha_dropout", "torch.dropout", "torch.alpha_dropout",
              "torch.feature_dropout", "torch.feature_alpha_dropout"],
    "mindspore": ["mindspore.ops.dropout", "mindspore.ops.dropout1d", "mindspore.ops.dropout2d",
                  "mindspore.ops.dropout3d", "mindspore.mint.nn.functional.dropout",
                  "mindspore.mint.nn.functional.dropout2d", "mindspore.ops.function.nn_func.dropout"],
}


def _identity(x, *args, **kwargs):
    return x


def zero_layers(modules) -> int:
    """Zero the rates of dropout-like layers among `modules` (name, layer) pairs; returns how many."""
    n = 0
    for _, m in modules:
        is_drop = "Drop" in type(m).__name__
        for name in RATE_NAMES:
            value = m.__dict__.get(name)
            if isinstance(value, float) and not isinstance(value, bool) and (is_drop or name != "p"):
                setattr(m, name, 0.0)
                n += 1
        if is_drop and isinstance(m.__dict__.get("keep_prob"), float):
            m.keep_prob = 1.0
            n += 1
    return n


def patch_functional(side: str) -> None:
    import importlib

    for dotted in FUNCTIONAL[side]:
        module, _, attr = dotted.rpartition(".")
        try:
            setattr(importlib.import_module(module), attr, _identity)
        except (ImportError, AttributeError):
            pass
