"""Read the verification spec an LLM proposes (prompts/propose_spec.j2) into the pipeline's spec dict.

The reply carries one fenced ```json block:
    {"init": "ResBlock(16, 32, stride=2)" | null,
     "inputs": [[{"shape": [2, 16, 8, 8], "dtype": "float32"}, ...],   # one list per input size
                [{"shape": [1, 16, 12, 12], "dtype": "float32"}, ...]]}
An integer input may add "low"/"high" (high exclusive), e.g. token ids below the vocabulary size.
The result is the spec of docs/architecture.md with "source": "llm". Whether it is *valid* is
decided later by running the torch side with it, never here.
"""
from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agent.llm.extract import NoCodeBlock, extract_block

DType = Literal[
    "float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"
]


class BadSpecReply(ValueError):
    """The reply holds no spec block, or the block is not a well-formed spec."""


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shape: list[int] = Field(min_length=0, max_length=8)
    dtype: DType = "float32"
    low: int | None = None
    high: int | None = None

    @model_validator(mode="after")
    def _check(self) -> _Input:
        if any(d < 1 for d in self.shape):
            raise ValueError(f"shape {self.shape} has a dimension below 1")
        if self.low is not None and self.high is not None and self.low >= self.high:
            raise ValueError(f"low {self.low} must be below high {self.high}")
        return self


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    init: str | None = None
    inputs: list[list[_Input]] = Field(min_length=1)


def parse_spec_reply(text: str) -> dict:
    """The spec dict from a reply to propose_spec.j2; raises BadSpecReply with the reason."""
    try:
        block = extract_block(text, {"json"})
    except NoCodeBlock as exc:
        raise BadSpecReply(str(exc)) from exc
    try:
        raw = json.loads(block)
    except json.JSONDecodeError as exc:
        raise BadSpecReply(f"the spec block is not JSON: {exc}") from exc
    try:
        spec = _Spec.model_validate(raw)
    except ValidationError as exc:
        raise BadSpecReply(f"the spec block is not a spec: {exc}") from exc
    return {
        "source": "llm",
        "init": spec.init,
        "inputs": [[i.model_dump(exclude_none=True) for i in size] for size in spec.inputs],
    }
