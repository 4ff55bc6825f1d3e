"""RNN layers called on packed sequences (`pack_padded_sequence`), as sequence models batch sentences
of different lengths.

MindSpore has no PackedSequence: its RNN layers take the padded batch and a `seq_length` tensor, and
then give what torch gives a packed sequence (zeros past each length, each sequence's own last step in
the final state; probed for GRU, LSTM and RNN, both directions). The KB turns `pack_padded_sequence`
into that pair (`_MsPackedSequence`); here a layer called on one, `out, h = self.rnn(packed)`, becomes
`_ms_rnn_packed(self.rnn, packed)`, which passes the lengths when the callee is a MindSpore RNN layer at
run time and otherwise calls it unchanged. Which values are packed is static: a `pack_padded_sequence`
result, a name bound to one, or the first result of a layer called on one, in the same function.
"""
from __future__ import annotations

import libcst as cst

from agent.rules.catalog import rewrite

PACK = "torch.nn.utils.rnn.pack_padded_sequence"

_HELPER = '''def _ms_rnn_packed(layer, packed, *args):
    """LAYER called on a packed sequence: a MindSpore RNN layer gets the padded batch and the lengths
    (`seq_length`), which gives torch's packed results, and its output is packed again in its layout;
    any other callee is called as written."""
    if not isinstance(layer, (mindspore.nn.RNN, mindspore.nn.GRU, mindspore.nn.LSTM)):
        return layer(packed, *args)
    data = packed.data
    if packed.batch_first != layer.batch_first:
        data = data.swapaxes(0, 1)
    out, state = layer(data, args[0] if args else None, packed.lengths)
    return _MsPackedSequence(out, packed.lengths, layer.batch_first), state
'''


class PackedSequenceRules:
    """Mixin of the engine's rewriter: which local names hold packed sequences, and the calls on them."""

    def is_packed(self, node: cst.BaseExpression) -> bool:
        if isinstance(node, cst.Name):
            return node.value in self.scope.packed
        return isinstance(node, cst.Call) and self._torch_name(node.func) == PACK

    def _layer_on_packed(self, call: cst.BaseExpression) -> bool:
        return (isinstance(call, cst.Call) and bool(call.args) and call.args[0].keyword is None
                and isinstance(call.func, (cst.Name, cst.Attribute)) and self._torch_name(call.func) is None
                and self.is_packed(call.args[0].value))

    def bind_packed(self, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        """`packed = pack_padded_sequence(...)`; `out, h = self.rnn(packed)` (out is packed too)."""
        if isinstance(target, cst.Tuple) and target.elements and self._layer_on_packed(value):
            target = target.elements[0].value
        elif not self.is_packed(value):
            if isinstance(target, cst.Name):
                self.scope.packed.discard(target.value)
            return
        if isinstance(target, cst.Name):
            self.scope.packed.add(target.value)

    @rewrite("rnn-on-a-packed-sequence")
    def packed_call(self, original: cst.Call, updated: cst.Call):
        """`self.rnn(packed, h0)` on a `pack_padded_sequence` result: a helper that gives MindSpore's RNN
        layer the padded batch and the lengths, and packs its output again."""
        if not self.packs_sequences or not self._layer_on_packed(original):
            return None
        self.add_helper(_HELPER)
        return cst.Call(func=cst.Name("_ms_rnn_packed"), args=[cst.Arg(updated.func), *updated.args])
