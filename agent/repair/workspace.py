"""What a repair strategy is given: a narrow workspace, not the runner.

A strategy reads the unit's SRC text and its current draft, asks the rules for a retranslation with
other KB targets, asks for a unit's verification with some OUT files replaced for the time of that
check, and records what it learned. It cannot write OUT for good (the loop keeps or reverts an
attempt), touch the run's state or the verifier, or reach another strategy.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agent.kb.store import KB
from agent.scan.units import Unit


@dataclass(frozen=True)
class Workspace:
    kb: KB
    device: str
    rounds: int  # LLM rounds per unit
    out: Path  # where learned candidates are recorded (OUT/.msagent/)
    sources: Mapping[str, str]  # SRC texts by relative path (read-only)
    drafts: Mapping[str, str]  # current OUT texts by relative path (read-only, kept current by the loop)
    markers: Callable[[str], list]  # the rules' markers of one file
    translate: Callable[[str, dict], str]  # (rel, {torch api: Target}) -> the rules' text with those targets
    verify_with: Callable[[Unit, dict], dict]  # (unit, {rel: text}) -> the judge's result, files put back after
    llm: Callable[[], object]  # the run's LLM client, made on first use; None when none is configured


class Repairer(Protocol):
    """A repair strategy: proposes attempts for a failed unit, best first, and hears which one stayed."""

    name: str

    def propose(self, unit: Unit, result: dict):  # -> Iterator[Attempt]
        ...

    def accepted(self, unit: Unit, attempt) -> None:
        ...
