"""What the rules made of a repository: the input of the per-unit loop (`repair.loop.UnitRunner`),
built by `pipeline.translate_repo` or, on a Ray actor, from what the main process sent."""
from __future__ import annotations

from dataclasses import dataclass, field

from agent.report.schema import FileRecord
from agent.scan.units import Unit


@dataclass
class Translated:
    files: list[FileRecord] = field(default_factory=list)
    units: list[Unit] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # rel -> torch source
    outputs: dict[str, str] = field(default_factory=dict)  # rel -> MindSpore source
    module_classes: set[str] = field(default_factory=set)  # repo classes deriving from nn.Module
    inherited: dict[str, dict[str, str]] = field(default_factory=dict)  # rel -> torch names from star imports
    nearest: object = None  # the marker hint function the rules used
