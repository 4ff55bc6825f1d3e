"""Arithmetic on complex tensors, written so that it runs and has gradients on every device.

MindSpore 2.10 on CPU multiplies two complex tensors forward but has no gradient for it, and refuses
a Python complex scalar (`1j * t`) or a real tensor beside a complex one in `*` and `/`. Sums,
differences, `exp`, matmul, `real`/`imag` and `Complex(re, im)` run there with gradients. So a `+`,
`-`, `*` or `/` one of whose operands may be complex becomes `_ms_complex_op(op, a, b)`: the native
operator when neither operand is complex at run time, else the same arithmetic on real and
imaginary parts. "May be complex" is static and generous (the helper decides at run time): a
complex literal, a complex-valued torch result (FFTs, `torch.complex`, `torch.polar`,
`view_as_complex`), a name bound to such a value earlier in the same function, or a call or
operation with such an operand, unless it takes the real part, imaginary part, magnitude or angle.
"""
from __future__ import annotations

import re

import libcst as cst

from agent.rules.catalog import rewrite

COMPLEX_RESULTS = {"torch.complex", "torch.polar", "torch.view_as_complex", "torch.stft"} | {
    f"torch.fft.{f}" for f in ("fft", "ifft", "fft2", "ifft2", "fftn", "ifftn", "rfft", "rfft2", "rfftn", "ihfft")}
REAL_RESULTS = {"torch.real", "torch.imag", "torch.abs", "torch.angle", "torch.view_as_real", "torch.istft",
                "torch.is_complex"} | {f"torch.fft.{f}" for f in ("irfft", "irfft2", "irfftn", "hfft")}
REAL_METHODS = {"abs", "absolute", "angle", "size", "dim", "numel", "is_complex", "item", "tolist", "numpy"}
REAL_ATTRIBUTES = {"real", "imag", "shape", "dtype", "device", "ndim"}

# A superset of the files with anything complex: a complex literal or the name of a complex-valued API.
_MAY_COMPUTE_COMPLEX = re.compile(r"[0-9.][jJ]\b|fft|complex|polar|stft")


def computes_complex(source: str) -> bool:
    return _MAY_COMPUTE_COMPLEX.search(source) is not None


_OPERATORS = {cst.Add: "add", cst.Subtract: "sub", cst.Multiply: "mul", cst.Divide: "div"}
AUGMENTED = {cst.AddAssign: cst.Add, cst.SubtractAssign: cst.Subtract, cst.MultiplyAssign: cst.Multiply,
             cst.DivideAssign: cst.Divide, cst.FloorDivideAssign: cst.FloorDivide, cst.ModuloAssign: cst.Modulo,
             cst.BitOrAssign: cst.BitOr, cst.BitAndAssign: cst.BitAnd}  # `a op= b` is `a = a op b`

_HELPER = '''def _ms_complex_op(op, a, b):
    """`a <op> b` where either side may be complex: MindSpore's complex Mul has no gradient on CPU and
    refuses Python complex scalars and mixed real/complex operands, so complex operands are combined
    through their real and imaginary parts (whose operations all have gradients)."""
    def is_complex(v):
        return isinstance(v, complex) or (isinstance(v, mindspore.Tensor) and v.is_complex())

    if not (is_complex(a) or is_complex(b)) or not any(isinstance(v, mindspore.Tensor) for v in (a, b)):
        return {"add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b, "div": lambda: a / b}[op]()

    def parts(v):
        if isinstance(v, complex):
            return v.real, v.imag
        if is_complex(v):
            return mindspore.ops.real(v), mindspore.ops.imag(v)
        return v, 0.0

    (ar, ai), (br, bi) = parts(a), parts(b)
    if op == "add":
        re, im = ar + br, ai + bi
    elif op == "sub":
        re, im = ar - br, ai - bi
    elif op == "mul":
        re, im = ar * br - ai * bi, ar * bi + ai * br
    else:
        den = br * br + bi * bi
        re, im = (ar * br + ai * bi) / den, (ai * br - ar * bi) / den
    wide = any(isinstance(v, mindspore.Tensor) and v.dtype in (mindspore.float64, mindspore.complex128)
               for v in (a, b))
    dtype = mindspore.float64 if wide else mindspore.float32
    re = re if isinstance(re, mindspore.Tensor) else mindspore.Tensor(re, dtype)
    im = im if isinstance(im, mindspore.Tensor) else mindspore.Tensor(im, dtype)
    zero = re * 0 + im * 0  # the shape both parts broadcast to
    return mindspore.ops.Complex()((re + zero).astype(dtype), (im + zero).astype(dtype))
'''


_PART_HELPER = '''def _ms_complex_part(v, part):
    """torch's `.real` / `.imag` attributes: MindSpore's Tensor has them as methods."""
    if isinstance(v, mindspore.Tensor):
        return mindspore.ops.real(v) if part == "real" else mindspore.ops.imag(v)
    return getattr(v, part)
'''


_ABS_HELPER = '''def _ms_complex_abs(v):
    """torch's abs: a complex tensor's magnitude is real (MindSpore's abs keeps it complex)."""
    if isinstance(v, mindspore.Tensor) and v.is_complex():
        return mindspore.ops.ComplexAbs()(v)
    return abs(v)
'''


class ComplexRules:
    """Mixin of the engine's rewriter: tracks which local names may hold complex values and
    rewrites the arithmetic on them."""

    def may_be_complex(self, node: cst.BaseExpression) -> bool:
        if not self.scope.complex and not self.complex_seen:
            return False  # nothing complex so far in this file: the common case, answered at once
        if isinstance(node, cst.Name):
            return node.value in self.scope.complex
        key = id(node)
        known = self.complex_memo.get(key)
        if known is None:
            known = self.complex_memo[key] = self._may_be_complex(node)
        return known

    def _may_be_complex(self, node: cst.BaseExpression) -> bool:
        if isinstance(node, cst.Imaginary):
            return True
        if isinstance(node, cst.Attribute):
            return node.attr.value not in REAL_ATTRIBUTES and self.may_be_complex(node.value)
        if isinstance(node, (cst.Subscript, cst.UnaryOperation)):
            return self.may_be_complex(node.value if isinstance(node, cst.Subscript) else node.expression)
        if isinstance(node, cst.BinaryOperation):
            return self.may_be_complex(node.left) or self.may_be_complex(node.right)
        if isinstance(node, cst.IfExp):
            return self.may_be_complex(node.body) or self.may_be_complex(node.orelse)
        if isinstance(node, cst.Call):
            func = node.func
            name = self._torch_name(func) if isinstance(func, (cst.Name, cst.Attribute)) else None
            if name in COMPLEX_RESULTS:
                return True
            if name in REAL_RESULTS:
                return False
            if isinstance(func, cst.Attribute):
                if func.attr.value in REAL_METHODS:
                    return False
                if self.may_be_complex(func.value):
                    return True
            return any(self.may_be_complex(a.value) for a in node.args)
        return False

    def bind_complex(self, target: cst.BaseExpression, value: cst.BaseExpression | None) -> None:
        if isinstance(target, cst.Attribute):
            self.complex_stores.add(id(target))  # `z.real = ...` stays an attribute
        if isinstance(target, cst.Name):
            complex_value = value is not None and self.may_be_complex(value)
            if complex_value != (target.value in self.scope.complex):
                (self.scope.complex.add if complex_value else self.scope.complex.discard)(target.value)
                self.complex_memo.clear()

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.target, cst.Attribute):
            self.complex_stores.add(id(node.target))  # `z.real += 1` stays an attribute
        elif (isinstance(node.target, cst.Name) and node.target.value not in self.scope.complex
              and self.may_be_complex(node.value)):
            self.scope.complex.add(node.target.value)
            self.complex_memo.clear()

    def leave_AugAssign(self, original: cst.AugAssign, updated: cst.AugAssign):
        """`z *= w` is `z = z * w`, rewritten as that would be."""
        operator = AUGMENTED.get(type(original.operator))
        if operator is None or not self.complex_seen:
            return updated
        spelled = cst.BinaryOperation(left=original.target, operator=operator(), right=original.value)
        call = self._complex_arithmetic(spelled, spelled.with_changes(left=updated.target, right=updated.value))
        if call is None:
            return updated
        return cst.Assign(targets=[cst.AssignTarget(updated.target)], value=call, semicolon=updated.semicolon)

    def leave_BinaryOperation(self, original: cst.BinaryOperation, updated: cst.BinaryOperation):
        updated = self.numpy_scalar_operands(original, updated) or updated  # rules/numpy_scalars.py
        return self._complex_arithmetic(original, updated) or updated

    @rewrite("complex-arithmetic-by-parts")
    def _complex_arithmetic(self, original: cst.BinaryOperation, updated: cst.BinaryOperation):
        """`a * b` where `a` or `b` may be complex: a helper that multiplies (adds, divides) through
        real and imaginary parts, which have gradients where complex Mul has none."""
        op = _OPERATORS.get(type(original.operator))
        if op is None or not (self.may_be_complex(original.left) or self.may_be_complex(original.right)):
            return None
        self.add_helper(_HELPER)
        return cst.Call(func=cst.Name("_ms_complex_op"),
                        args=[cst.Arg(cst.SimpleString(f'"{op}"')), cst.Arg(updated.left), cst.Arg(updated.right)],
                        lpar=updated.lpar, rpar=updated.rpar)

    @rewrite("complex-parts-are-functions")
    def _complex_part(self, original: cst.Attribute, updated: cst.Attribute):
        """`z.real` / `z.imag`: functions of a MindSpore tensor (its attributes of these names are methods);
        a helper decides at run time where the value may also be a Python number."""
        part = original.attr.value
        if part not in ("real", "imag") or id(original) in self.complex_stores:
            return None
        if self.inf.is_tensor(original.value, self.scope):
            return cst.Call(func=cst.parse_expression(self.plan.render(f"mindspore.ops.{part}")),
                            args=[cst.Arg(updated.value)])
        if self.may_be_complex(original.value):
            self.add_helper(_PART_HELPER)
            return cst.Call(func=cst.Name("_ms_complex_part"),
                            args=[cst.Arg(updated.value), cst.Arg(cst.SimpleString(f'"{part}"'))])
        return None

    @rewrite("complex-magnitude-is-real")
    def complex_call(self, original: cst.Call, updated: cst.Call):
        """`z.abs()` / `torch.abs(z)` where `z` may be complex: a helper that gives torch's real magnitude
        (MindSpore's abs of a complex tensor is complex)."""
        func = original.func
        if isinstance(func, cst.Attribute) and func.attr.value in ("abs", "absolute") and not original.args:
            if not self.may_be_complex(func.value):
                return None
            value = updated.func.value
        elif (id(func) in self.roots and len(original.args) == 1 and self._torch_name(func) in ("torch.abs", "torch.absolute")
              and original.args[0].keyword is None and self.may_be_complex(original.args[0].value)):
            self.api_calls += 1
            self.api_converted += 1
            value = updated.args[0].value
        else:
            return None
        self.add_helper(_ABS_HELPER)
        return cst.Call(func=cst.Name("_ms_complex_abs"), args=[cst.Arg(value)])
