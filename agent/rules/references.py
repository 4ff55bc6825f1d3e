"""The rules pass on torch names used as values (a mixin of the engine's rewriter, whose state it
uses): a reference to a torch function or class outside a call, tensor and module attributes, the
`.values/.indices` of torch's pair results, class references in type positions (isinstance, bases,
`type(m) is nn.Linear`), which are renamed and never wrapped, and isinstance narrowing:
`if isinstance(m, nn.BatchNorm2d): m.weight` is `m.gamma` in MindSpore."""
from __future__ import annotations

import re

import libcst as cst
import libcst.matchers as matchers

from agent.rules import structural
from agent.rules.adapters import adapter_name, adapter_source, adapter_sources
from agent.rules.calls import MS_NAME, Unconvertible, code, expression, has_arg_rules, helper_name
from agent.rules.catalog import rewrite
from agent.rules.imports_pass import TORCH_ONLY_STAND_IN

# typing's generics (and the builtins' own): a torch name in their brackets stands for a type
TYPING_GENERICS = frozenset({"Type", "Optional", "Union", "List", "Dict", "Tuple", "Set", "FrozenSet", "Callable",
                             "Iterable", "Iterator", "Sequence", "Mapping", "MutableMapping", "Generator",
                             "AsyncIterator", "Awaitable", "ClassVar", "Final", "Annotated", "TypeGuard", "type",
                             "list", "dict", "tuple", "set", "frozenset"})

PAIR_RESULTS = {"max", "min", "sort", "topk", "kthvalue", "median", "mode", "cummax", "cummin"}


class ReferenceRules:
    # -- torch references ---------------------------------------------------------------------
    def visit_Attribute(self, node: cst.Attribute) -> bool:
        if dotted(node) and (name := self._torch_name(node)) is not None:
            if self._value_of_mapped_constant(node, name):
                return True  # the constant is the root; its method stays a method call
            self.roots.add(id(node))
            return False
        self.not_refs.add(id(node.attr))
        return True

    @rewrite("methods-of-mapped-constants")
    def _value_of_mapped_constant(self, node: cst.Attribute, name: str) -> bool:
        """`torch.__version__.split(".")`: an attribute of a torch constant the KB maps to a plain Python
        value (a version string), where the whole name has no entry: the constant is converted and the
        attribute read on its value."""
        if self.kb.get(name) is not None or not isinstance(node.value, cst.Attribute):
            return False
        entry = self.kb.get(self._torch_name(node.value) or "")
        target = self._target(entry) if entry is not None and entry.kind == "attribute" else None
        return target is not None and target.namespace == "builtin"

    def visit_Name(self, node: cst.Name) -> bool:
        if self._torch_name(node) is not None:
            self.roots.add(id(node))
        return False

    def visit_Arg(self, node: cst.Arg) -> bool:
        if id(node) in self.probe_args:
            return False
        if node.keyword is not None:
            self.not_refs.add(id(node.keyword))
        return True

    def visit_Call(self, node: cst.Call) -> bool:
        self.call_funcs.add(id(node.func))
        probed = self._feature_probe(node)
        if probed is not None:  # the object and name asked about are not entered; a getattr's default is
            self.probes[id(node)] = probed
            self.probe_args.update(id(a) for a in node.args[:2])
        if isinstance(node.func, cst.Name) and node.func.value in ("isinstance", "issubclass") and len(node.args) == 2:
            self._type_positions(node.args[1].value, checked=True)
        return True

    def _feature_probe(self, node: cst.Call) -> tuple | None:
        """`hasattr(torch.compiler, "is_exporting")`, `getattr(torch, "compile", None)` (nested too:
        `getattr(getattr(torch, "compiler", None), "disable", None)`), `getattr(F, "gelu")` of a name the KB
        maps: (the torch name asked about, the call is a getattr). None for any other call."""
        if not (isinstance(node.func, cst.Name) and node.func.value in ("hasattr", "getattr")
                and len(node.args) in ((2,) if node.func.value == "hasattr" else (2, 3))
                and all(a.keyword is None and not a.star for a in node.args)
                and isinstance(node.args[1].value, cst.SimpleString)):
            return None
        owner, attr = node.args[0].value, node.args[1].value.evaluated_value
        inner = self._feature_probe(owner) if isinstance(owner, cst.Call) else None
        if inner is not None:
            name = inner[0] if inner[1] else None  # a getattr inside, not a hasattr
        else:
            name = self._torch_name(owner) if isinstance(owner, cst.Name) or dotted(owner) else None
        if not name or not isinstance(attr, str) or not attr.isidentifier():
            return None
        full = f"{name}.{attr}"
        if node.func.value == "getattr" and len(node.args) == 2:  # no default: only a name the KB answers for
            entry = self.kb.get(full)
            target = self._target(entry) if entry is not None else None
            if target is None or (entry.kind == "class" and (has_arg_rules(target) or target.template)):
                return None
        return full, node.func.value == "getattr"

    @rewrite("feature-probes-answer-for-the-translation")
    def _probe_answer(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        """`hasattr(torch, "compiler")`, `getattr(torch.compiler, "disable", None)`: a check for a torch
        feature answers for the translation. hasattr: True when the KB maps that name (or names under it)
        for the device, so the code takes the branch that uses it; False otherwise, so it takes its
        fallback. getattr with a default: the name's MindSpore counterpart when the KB maps it, else the
        default; without one (`getattr(F, "gelu")`), the counterpart of a name the KB maps."""
        full, with_default = self.probes[id(original)]
        entry = self.kb.get(full)
        target = self._target(entry) if entry is not None else None
        self.api_calls += 1
        self.api_converted += 1
        if with_default:
            if target is None or (entry.kind == "class" and has_arg_rules(target)):
                self.frames[-1].append(f"# by msagent: {code(original)} is its default here (the KB maps no "
                                       f"{full} on {self.device})")
                return updated.args[2].value
            return self._counterpart(target)
        has = target is not None if entry is not None else any(
            self._target(self.kb.get(n)) is not None for n in self.kb.names_under(full))
        what = f"names under {full}" if has and entry is None else full
        self.frames[-1].append(f"# by msagent: {code(original)} is {has} here (the KB {'maps' if has else 'has no'} "
                               f"{what} on {self.device})")
        return cst.Name("True" if has else "False")

    def visit_Comparison(self, node: cst.Comparison) -> bool:
        checked = self._module_check(node)
        if checked is not None:  # the module's name is not a torch reference to convert
            self.module_checks[id(node)] = checked
            return False
        self._type_positions(node.left)  # type(m) is nn.Linear
        for c in node.comparisons:
            self._type_positions(c.comparator)
        return True

    def _module_check(self, node: cst.Comparison) -> tuple[str, bool] | None:
        """`new_fft is None` where `new_fft` is a torch module imported under a guard (`try: import torch.fft
        as new_fft / except ImportError: new_fft = None`) and the KB maps names under it: (module, `is`)."""
        if len(node.comparisons) != 1 or not isinstance(node.left, cst.Name):
            return None
        op, other = node.comparisons[0].operator, node.comparisons[0].comparator
        if not (isinstance(op, (cst.Is, cst.IsNot)) and isinstance(other, cst.Name) and other.value == "None"):
            return None
        name = self._torch_name(node.left)
        if not name or self.kb.get(name) is not None:  # not torch's, or a name of its own (not a module)
            return None
        if not any(self._target(self.kb.get(n)) is not None for n in self.kb.names_under(name)):
            return None
        return name, isinstance(op, cst.Is)

    @rewrite("module-checks-answer-for-the-translation")
    def _module_check_answer(self, original: cst.Comparison, updated: cst.Comparison) -> cst.BaseExpression:
        """`new_fft is None` of a torch module the KB maps names under: the module is there for the
        translation (the calls through it were converted), so the check answers as torch with the module
        would, and the code keeps the branch that uses it rather than a fallback to an older API."""
        name, is_none = self.module_checks[id(original)]
        self.api_calls += 1
        self.api_converted += 1
        self.frames[-1].append(f"# by msagent: {code(original)} is {not is_none} here (the KB maps names under "
                               f"{name} on {self.device})")
        return cst.Name("False" if is_none else "True")

    def leave_Comparison(self, original: cst.Comparison, updated: cst.Comparison) -> cst.BaseExpression:
        if id(original) in self.module_checks:
            return self._module_check_answer(original, updated)
        return updated

    def visit_Annotation(self, node: cst.Annotation) -> bool:
        """`x: torch.Tensor`, `-> Optional[torch.Tensor]`: every name in an annotation stands for a type."""
        for sub in matchers.findall(node.annotation, matchers.Attribute() | matchers.Name()):
            self.type_context.add(id(sub))
        self.annotations.append(False)
        return True

    def leave_Annotation(self, original: cst.Annotation, updated: cst.Annotation) -> cst.Annotation:
        if self.annotations.pop():
            return self._quoted_annotation(updated)
        return updated

    @rewrite("unmapped-annotations-are-strings")
    def _quoted_annotation(self, updated: cst.Annotation) -> cst.Annotation:
        """An annotation naming a torch type with no MindSpore counterpart (`Optional[torch.optim.Optimizer]`)
        becomes a string: a signature's annotations run when the function is defined, and torch is not
        imported in the translation, so the file would stop at the `def`; a string is never evaluated."""
        text = code(updated.annotation)
        quote = "'" if '"' in text else '"'
        if "'" in text and '"' in text or "\\" in text or "\n" in text:
            return updated
        return updated.with_changes(annotation=cst.SimpleString(quote + text + quote))

    def _type_positions(self, node: cst.BaseExpression, checked: bool = False) -> None:
        """Where a torch class stands for its type, it is renamed, never wrapped (CHECKED: isinstance's)."""
        if isinstance(node, (cst.Tuple, cst.List)):
            for e in node.elements:
                self._type_positions(e.value, checked)
        else:
            self.type_context.add(id(node))
            if checked:
                self.instance_checks.add(id(node))

    def leave_Attribute(self, original, updated):
        for rule in (self._pair_part, self._narrowed_attribute, self._tensor_attribute, self._module_registry,
                     self._layer_attribute, self._complex_part):
            out = rule(original, updated)
            if out is not None:
                return out
        return self._reference(original, updated)

    @rewrite("pair-results-are-tuples")
    def _pair_part(self, original, updated):
        """`.values` / `.indices` of max/min/sort/topk results: torch's named tuple is a plain tuple in MindSpore."""
        named = isinstance(original.value, cst.Name) and original.value.value in self.scope.pairs
        if original.attr.value in ("values", "indices") and (named or self._returns_pair(original.value)):
            index = "0" if original.attr.value == "values" else "1"
            return cst.Subscript(value=updated.value, slice=[cst.SubscriptElement(cst.Index(cst.Integer(index)))])
        return None

    def _narrowed_attribute(self, original, updated):
        """An attribute of a name an enclosing isinstance narrowed to a layer (see `_narrowing`)."""
        if id(original) not in self.roots and self.narrowed and isinstance(original.value, cst.Name):
            renamed = self.narrowed[-1].get(original.value.value, {}).get(original.attr.value)
            if renamed:
                return updated.with_changes(attr=cst.Name(renamed))
        return None

    @rewrite("tensor-attributes")
    def _tensor_attribute(self, original, updated):
        """A Tensor attribute MindSpore lacks (`is_cuda`, `t.device.type`: its Tensor.device is a string;
        `requires_grad` read), as the expression that answers it there."""
        attr, value = original.attr.value, original.value
        if attr in structural.TENSOR_ATTRIBUTES and self.inf.is_tensor(value, self.scope):
            answer = structural.TENSOR_ATTRIBUTES[attr]
        elif (attr == "type" and isinstance(value, cst.Attribute) and value.attr.value == "device"
              and self.inf.is_tensor(value.value, self.scope)):
            answer = structural.DEVICE_TYPE
        elif attr == "requires_grad" and id(original) not in self.assigned \
                and not self.inf.is_module(value, self.scope):
            answer = structural.REQUIRES_GRAD.format(value=code(updated.value))
        else:
            return None
        self.api_calls += 1
        self.api_converted += 1
        return cst.parse_expression(MS_NAME.sub(lambda m: self.plan.render(m.group(0)), answer))

    @rewrite("module-registries")
    def _module_registry(self, original, updated):
        """A module's own registries (`self._modules`, `self.blocks._parameters`) are a Cell's `_cells`/`_params`."""
        attr = original.attr.value
        if attr in structural.MODULE_ATTRIBUTES and (
                (self.scope.cls is not None and self.scope.cls.is_module) or self.inf.is_module(original.value, self.scope)):
            return updated.with_changes(attr=cst.Name(structural.MODULE_ATTRIBUTES[attr]))
        return None

    def _layer_attribute(self, original, updated):
        """`self.groups` in a layer subclass (see `_base_attribute`)."""
        if (self.layer_bases and self.layer_bases[-1] is not None and self.scope.cls is not None
                and isinstance(original.value, cst.Name) and original.value.value == "self"):
            renamed = self._base_attribute(original.attr.value)
            if renamed:
                return updated.with_changes(attr=cst.Name(renamed))
        return None

    def _returns_pair(self, node: cst.BaseExpression) -> bool:
        """A torch call that returns (values, indices): max/min/sort/topk/... over a dimension."""
        if not isinstance(node, cst.Call):
            return False
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in PAIR_RESULTS:
            if self.inf.is_tensor(func.value, self.scope) or self._torch_name(func) is not None:
                return bool(node.args) or func.attr.value in ("sort", "topk")
            return self._seen_on_tensor(node, func.attr.value)
        return False

    def leave_Name(self, original, updated):
        return self._reference(original, updated)

    def _reference(self, original, updated):
        if id(original) not in self.roots or id(original) in self.call_funcs:
            return updated
        name = self._torch_name(original)
        self.api_calls += 1
        entry = self.kb.get(name)
        target = self._target(entry) if entry else None
        if target is None:
            if id(original) in self.class_bases:
                return self._stand_in_base(original, name)
            if id(original) in self.typing_args:
                return self._quoted_type(original, name)
            self._unconverted(original, f"no MindSpore mapping for {name} on {self.device}", name)
            return updated
        if entry.kind == "class" and (has_arg_rules(target) or target.template) and id(original) not in self.type_context:
            try:  # called later with torch's arguments: a function with torch's signature builds the layer
                value = self.adapter_value(entry, target)
            except Unconvertible as exc:
                if _type_like(entry, target):  # `cast(List[torch.Tensor], x)`, a TypeAlias: the type
                    self.api_converted += 1
                    return self._counterpart(target)
                self._unconverted(original, f"{name} used as a value: {exc}", name)
                return updated
            self.api_converted += 1
            return value
        if entry.kind == "function" and target.template:
            return self._function_value(original, updated, entry, target)
        self.api_converted += 1
        base = helper_base(target) if id(original) in self.instance_checks else None
        if base is not None:  # isinstance against the MindSpore layer the helper extends: layers built
            return expression(self.plan.render(base))  # elsewhere (inside a MindSpore layer) match too
        if target.base_helper and id(original) in self.class_bases:  # `class SamePool(nn.MaxPool2d)`
            self.add_helper(target.base_helper)
            return cst.Name(re.search(r"^class\s+(\w+)", target.base_helper, re.M).group(1))
        derived = helper_class(target) if target.helper and id(original) in self.class_bases else None
        if derived is not None:
            self.add_helper(target.helper)
            return cst.Name(derived)
        return self._counterpart(target)

    def adapter_value(self, entry, target) -> cst.Name:
        """The adapter with torch's signature that builds TARGET, written into the file (raises Unconvertible)."""
        sources = adapter_sources(entry, target, self.plan.render)
        if target.helper:  # the adapter builds the target, which may be a helper of the KB
            self.add_helper(target.helper)
        for helper, source in sources:
            self.adapters.setdefault(helper, source)
        return cst.Name(adapter_name(entry))

    def visit_Subscript(self, node: cst.Subscript) -> bool:
        """`Type[torch.optim.Optimizer]`, `Optional[torch.device]`: names in a typing generic's brackets."""
        value = node.value
        simple = value.value if isinstance(value, cst.Name) else value.attr.value if isinstance(value, cst.Attribute) else None
        if simple in TYPING_GENERICS:
            for element in node.slice:
                for sub in matchers.findall(element, matchers.Attribute() | matchers.Name()):
                    self.typing_args.add(id(sub))
        return True

    @rewrite("unmapped-types-in-typing-generics-are-strings")
    def _quoted_type(self, original, name: str) -> cst.SimpleString:
        """`OptimType = Type[torch.optim.Optimizer]`, a type alias at module level, with no MindSpore counterpart
        for the type: a forward reference (`Type["torch.optim.Optimizer"]`) typing accepts and never resolves,
        where the name would stop the file at import."""
        self.mark(original, f"no MindSpore mapping for {name} on {self.device}: left as a string", name)
        return cst.SimpleString(f'"{code(original)}"')

    @rewrite("unmapped-torch-bases-stand-in")
    def _stand_in_base(self, original, name: str) -> cst.BaseExpression:
        """`class MultiEpochsLoader(torch.utils.data.DataLoader)` with no MindSpore counterpart for the base:
        the class statement would stop the whole file at import (torch is not imported), and with it every
        unit of the file and of the files importing it. A stand-in base defines the class; building it
        raises, saying what it stood for."""
        self.mark(original, f"no MindSpore mapping for {name} on {self.device}: the class is defined on a "
                            "stand-in base that raises when the class is built", name)
        self.add_helper(TORCH_ONLY_STAND_IN)
        return cst.parse_expression(f"_MsTorchOnly({name!r})")

    @rewrite("function-with-a-template-as-value")
    def _function_value(self, original, updated, entry, target):
        """A torch function whose call the KB rewrites through a template (`nn.init.kaiming_normal_(w)` is
        `w.set_data(initializer(HeNormal(...), ...))`), used as a value (`inits = dict(kaiming=...)`): an
        adapter with torch's signature applies the template when it is called; MindSpore's name alone
        would be called with torch's arguments."""
        try:
            sources = adapter_sources(entry, target, self.plan.render)
        except Unconvertible as exc:
            self._unconverted(original, f"{entry.api} used as a value: {exc}", entry.api)
            return updated
        if target.helper:
            self.add_helper(target.helper)
        if not (target.helper and helper_name(target.helper) == adapter_name(entry)):  # else the helper is it
            for helper, source in sources:
                self.adapters.setdefault(helper, source)
        self.api_converted += 1
        return cst.Name(adapter_name(entry))

    def _counterpart(self, target) -> cst.BaseExpression:
        """A KB target as a value: its MindSpore name, the helper that defines it written into the file (a
        helper only calls use, `torch.Tensor(3)`'s, is not needed where the name stands for a type)."""
        if target.helper and helper_name(target.helper) in target.api.split("."):
            self.add_helper(target.helper)
        return expression(self.plan.render(target.api))

    def _unconverted(self, node: cst.CSTNode, reason: str, api: str | None = None) -> None:
        root = self._root_name(node.func if isinstance(node, cst.Call) else node)
        if root:
            self.unconverted_roots.add(root)
        if self.annotations:
            self.annotations[-1] = True
        self.mark(node, reason, api)

    # -- isinstance narrowing: `if isinstance(m, nn.BatchNorm2d): m.weight` is m.gamma in MindSpore --
    def visit_If(self, node: cst.If) -> bool:
        self.frames.append([])
        names = self._narrowing(node.test)
        if names:
            self.pending_narrow[id(node.body)] = names
        return True

    @rewrite("isinstance-narrows-layer-attributes")
    def _narrowing(self, test: cst.BaseExpression) -> dict[str, dict[str, str]]:
        """Under `if isinstance(m, nn.BatchNorm2d):`, `m.weight` is the MindSpore layer's `m.gamma`; under
        `isinstance(m, nn.Conv2d)`, `m.groups` is `m.group`."""
        if not (isinstance(test, cst.Call) and isinstance(test.func, cst.Name) and test.func.value == "isinstance"
                and len(test.args) == 2 and isinstance(test.args[0].value, cst.Name)):
            return {}
        types = test.args[1].value
        nodes = [e.value for e in types.elements] if isinstance(types, (cst.Tuple, cst.List)) else [types]
        maps = []
        for n in nodes:
            name = self._torch_name(n)
            entry = self.kb.get(name) if name else None
            target = self._target(entry) if entry else None
            maps.append(_attribute_renames(target) if target else {})
        # only renames every narrowed class agrees on
        common = {k: v for k, v in maps[0].items() if all(m.get(k) == v for m in maps[1:])} if maps else {}
        return {test.args[0].value.value: common} if common else {}

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> bool:
        names = self.pending_narrow.pop(id(node), None)
        base = self.narrowed[-1] if self.narrowed else {}
        self.narrowed.append({**base, **names} if names else base)
        return True

    def leave_IndentedBlock(self, original, updated):
        self.narrowed.pop()
        return updated


def _attribute_renames(target) -> dict[str, str]:
    """A torch layer's attributes as the MindSpore layer names them: its parameters and buffers
    (param_map: BatchNorm's weight is gamma) and the constructor arguments it keeps under its own argument
    name (Conv2d's groups is group); weight and bias are parameters wherever an argument says otherwise."""
    out = {k: v for k, v in target.param_map.items() if v and v != k}
    out.update({k: v for k, v in target.args.items()
                if v and v != k and k not in ("weight", "bias") and k not in target.param_map})
    return out


def dotted(node: cst.BaseExpression) -> bool:
    """A plain dotted name (torch.nn.Conv2d), not an attribute of a call result."""
    while isinstance(node, cst.Attribute):
        node = node.value
    return isinstance(node, cst.Name)


@rewrite("isinstance-tests-the-mindspore-layer")
@rewrite("subclass-of-a-helper-layer")
def helper_class(target) -> str | None:
    """A class deriving from a torch layer whose target is a helper class built by template
    (`class TransformerModel(nn.Transformer)` -> `(_MsTransformer)`) derives from the helper: it takes
    torch's arguments and keeps what the helper adds. None when the template builds no helper class."""
    if not target.template:
        return None
    name = target.template.split("(", 1)[0].strip()
    return name if re.search(rf"^class\s+{re.escape(name)}\(", target.helper, re.M) else None


def helper_base(target) -> str | None:
    """isinstance/issubclass against a layer whose target is a helper subclass test the MindSpore class it extends:
    `mindspore.nn.LayerNorm` when the target is a helper class extending that one MindSpore class."""
    if not target.helper:
        return None
    name = re.escape(target.api.rsplit(".", 1)[-1])
    found = re.search(rf"^class\s+{name}\(\s*(mindspore\.[\w.]+)\s*\)\s*:", target.helper, re.M)
    return found.group(1) if found else None


def _type_like(entry, target) -> bool:
    """A class whose calls take only *args (`torch.Tensor(2, 3)`) and whose target is a MindSpore class: used
    as a value, it is almost always a type (`cast(List[torch.Tensor], x)`, a TypeAlias), renamed."""
    return (entry.signature or "").strip("() ").startswith("*") and not target.api.startswith("builtins.")
