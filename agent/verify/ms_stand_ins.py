"""What stands in on the MindSpore side for the names a spec's `init` may use beyond the repo's own:
the twins of verify/parents.py's torch_part, torch_identity and torch_filled."""
from __future__ import annotations

from agent.verify.parents import FILLED, IDENTITY, LINEAR, PART, SEQUENCE

__all__ = ["FILLED", "IDENTITY", "LINEAR", "PART", "SEQUENCE", "ms_filled", "ms_identity", "ms_linear", "ms_part",
           "ms_sequence"]


def ms_part(cell, path: str):
    """The sub-cell at PATH (dotted attribute names and list indices), as `torch_part` walks torch's."""
    for name in path.split(".") if path else []:
        child = getattr(cell, name, None)
        if child is None and name.lstrip("-").isdigit():
            child = cell[int(name)]
        if child is None:
            raise AttributeError(f"{type(cell).__name__} has no sub-cell {name!r} (path {path!r})")
        cell = child
    return cell


def ms_identity():
    """The MindSpore twin of parents.torch_identity: a cell returning its first argument."""
    from mindspore import nn

    class Identity(nn.Cell):
        def construct(self, x, *args, **kwargs):
            return x

    return Identity()


def ms_sequence():
    """The MindSpore twin of parents.torch_sequence: a SequentialCell of two identities."""
    from mindspore import nn

    return nn.SequentialCell([ms_identity(), ms_identity()])


def ms_filled(cell):
    """The MindSpore twin of parents.torch_filled: CELL with two identity sub-cells added when it has none."""
    if not len(cell._cells):
        for i in range(2):
            if callable(getattr(cell, "append", None)):  # SequentialCell, CellList: their own bookkeeping
                cell.append(ms_identity())
            else:
                cell.insert_child_to_cell(str(i), ms_identity())
    return cell


def ms_linear(features: int):
    """The MindSpore twin of parents.torch_linear: a Dense with the same fixed weights."""
    import mindspore as ms
    from mindspore import nn

    from agent.verify.inputs import stand_in_weights

    layer = nn.Dense(features, features)
    weight, bias = stand_in_weights(features)
    layer.weight.set_data(ms.Tensor(weight))
    layer.bias.set_data(ms.Tensor(bias))
    return layer
