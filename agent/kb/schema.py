"""The mapping knowledge base schema: one entry per torch API, validated by pydantic.

An entry is data. The rules engine applies a target's renames, value templates and default
insertions; the verifier copies weights through `param_map`/`weight_transforms`; probes turn
an entry into an executable check whose verdict is recorded per device.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Namespace = Literal["mint", "legacy", "tensor", "builtin"]
Status = Literal["matched", "differs", "raised", "untested"]


class Verdict(BaseModel):
    """What executing a target's probe on one device showed."""

    model_config = ConfigDict(extra="forbid")
    status: Status
    detail: str = Field("", description="error text or the largest difference seen")
    ms_version: str = ""
    torch_version: str = ""
    date: str = ""
    source: Literal["probe", "seed"] = Field(
        "probe", description="probe = run here by `msagent kb verify`; seed = copied from kb-seed, unconfirmed"
    )
    grad: Status | None = Field(None, description="the gradient probe (loss, input and parameter gradients); "
                                "None where nothing is differentiable or it was not run")
    grad_detail: str = ""


class Target(BaseModel):
    """One way to express the torch API in MindSpore, and how to rewrite a call into it."""

    model_config = ConfigDict(extra="forbid")
    namespace: Namespace
    api: str = Field(description="qualified MindSpore name, or the method name for namespace 'tensor'")
    args: dict[str, str | None] = Field(
        default_factory=dict, description="torch argument -> target argument; null drops the argument"
    )
    values: dict[str, str] = Field(
        default_factory=dict, description="torch argument -> expression template over {v}, e.g. '1 - {v}'"
    )
    defaults: dict[str, str] = Field(
        default_factory=dict, description="target keyword -> source expression added when the call lacks it"
    )
    defaults_from: dict[str, str] = Field(
        default_factory=dict,
        description="target keyword -> source template over {torch_param} placeholders, each filled with the "
        "call's bound value of that torch parameter (else its signature default); added when the call gives "
        "the target keyword no value (absent or None), e.g. MaxPool2d stride: '{kernel_size}'",
    )
    unsupported: dict[str, str] = Field(
        default_factory=dict,
        description="torch argument -> reason; a call passing it (other than its torch default) is marked",
    )
    pack_varargs: str | None = Field(
        None, description="pack torch's *size varargs into one tuple argument with this target name"
    )
    positional: list[str] | None = Field(
        None, description="target parameters that may be passed positionally, in order"
    )
    param_map: dict[str, str | None] = Field(
        default_factory=dict,
        description="torch parameter/buffer local name -> MindSpore parameter name; null = not carried",
    )
    weight_transforms: dict[str, str] = Field(
        default_factory=dict, description="torch parameter name -> layout transform id (see verify/weights.py)"
    )
    template: str | None = Field(
        None,
        description="the whole call as a source template over {torch_param} placeholders ({self} = a method's "
        "receiver), for mappings that are not a rename; MindSpore names in it are imported as needed",
    )
    helper: str | None = Field(
        None, description="source of a small function or class the target needs (its `api` or `template` names it); it is "
        "written once after the imports of every file that uses the target; MindSpore names in it are imported"
    )
    base_helper: str | None = Field(
        None, description="source of a class a user's subclass of this torch layer derives from instead of the "
        "target: it takes the target's arguments and also keeps the torch attributes such subclasses read "
        "(`self.dilation` in a same-padding pool); written like `helper`"
    )
    assign_result: bool = Field(
        False, description="in-place torch method: `x.op_(...)` becomes `x = x.op(...)` on a local name, "
        "`x.copy_(x.op(...))` on anything aliased (out-of-place on a temporary); MindSpore's in-place arithmetic "
        "does nothing on CPU, copy_ works (rules/in_place.py)"
    )
    verdicts: dict[str, Verdict] = Field(default_factory=dict, description="device -> verdict")
    notes: str = ""


class ProbeCase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    style: str = Field(description="positional, keyword, reordered, defaults, weights, ...")
    code: str = Field(description="torch expression; for class entries it builds the layer")


class Probe(BaseModel):
    """An executable check: torch code that the rules translate and the worker runs on both sides."""

    model_config = ConfigDict(extra="forbid")
    setup: str = Field("", description="torch statements defining the inputs, e.g. x = torch.randn(2, 3)")
    cases: list[ProbeCase]
    call: str | None = Field(None, description="for class entries, and function entries that build a module "
                             "(weight_norm(layer)): how the layer `m` is applied, e.g. m(x)")


class Example(BaseModel):
    """What the rules make of a use of the entry: whole files, torch before and MindSpore after, as
    written on CPU with the packaged KB (tests/test_kb_examples.py checks each byte for byte)."""

    model_config = ConfigDict(extra="forbid")
    before: str
    after: str


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    api: str = Field(description="qualified torch name, e.g. torch.nn.Conv2d or torch.Tensor.view")
    aliases: list[str] = Field(default_factory=list)
    kind: Literal["class", "function", "method", "attribute"]
    signature: str | None = Field(None, description="torch signature without the name, e.g. '(input, dim=None)'")
    targets: list[Target] = Field(default_factory=list)
    probe: Probe | None = None
    examples: list[Example] = Field(default_factory=list, description="before/after files showing the rewrite")
    notes: str = ""
    sources: list[str] = Field(default_factory=list, description="where the facts come from")
    reference: str | None = Field(None, description="for an API of a torch-built library (timm): the same API "
                                  "in torch, run on the torch side in the library's place only where the library "
                                  "cannot be imported there (the unit's notes say so); Python source defining the "
                                  "name's last component, with torch imported")
    resets_parameters: bool = Field(False, description="a torch layer whose constructor calls "
                                    "self.reset_parameters() (MindSpore's never do); read from torch at KB build")

    @property
    def has_rule(self) -> bool:
        return bool(self.targets)

    @property
    def names(self) -> list[str]:
        return [self.api, *self.aliases]
