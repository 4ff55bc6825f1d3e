"""msagent-report.json: the versioned record of one migration (see design.md, Contracts)."""
from __future__ import annotations

from pydantic import BaseModel, Field

from agent.report.textsafe import redact, redact_data

SCHEMA_VERSION = "1.1"  # 1.1: notes
STATUSES = ("verified-by-rules", "verified-after-repair", "failed", "not-exercised")


class MarkerRecord(BaseModel):
    line: int
    reason: str


class FileRecord(BaseModel):
    path: str
    status: str = Field(description="translated | unchanged | copied | skipped | error")
    api_calls: int = 0
    api_converted: int = 0
    markers: list[MarkerRecord] = Field(default_factory=list)
    error: str = ""


class UnitRecord(BaseModel):
    file: str
    name: str
    kind: str
    status: str
    reason: str = ""
    failure: str | None = None
    level: str = "forward"
    levels: dict = Field(default_factory=dict, description="per verification level: status, reason, max_abs")
    level_reached: str | None = Field(None, description="the deepest level that verified (forward, train, grad, ...)")
    level_failed: str | None = Field(None, description="the first level that failed, its reason in `levels`")
    trials: int = 0
    max_abs: float | None = None
    max_rel: float | None = None
    cosine: float | None = None
    rounds: int = 0
    llm_tokens: int = 0
    seconds: float = 0.0
    weight_map: dict = Field(default_factory=dict)
    spec: dict | None = None
    divergence: dict | None = None
    repairs: list[dict] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list, description="what the check chose or could not do (a factory's "
                             "model checked, statistics calibrated, a module installed on neither side, ...)")


LEVEL_ORDER = ("forward", "train", "grad", "step", "graph")


def verified_by_level(units) -> dict[str, int]:
    """How many units verified at least to each level (a unit that reached grad counts for forward too)."""
    out = {}
    for level in LEVEL_ORDER:
        n = sum(1 for u in units if u.level_reached in LEVEL_ORDER
                and LEVEL_ORDER.index(u.level_reached) >= LEVEL_ORDER.index(level))
        if n or level == "forward":
            out[level] = n
    return out


class Summary(BaseModel):
    files: int = 0
    api_calls: int = 0
    api_converted: int = 0
    api_marked: int = 0
    units: int = 0
    units_verified: int = 0
    conversion_rate: float = 0.0
    verified_rate: float = 0.0
    verified_by_level: dict[str, int] = Field(
        default_factory=dict, description="units verified at least to each level (forward, train, grad, ...)")
    seconds: float = 0.0


class Report(BaseModel):
    schema_version: str = SCHEMA_VERSION
    tool_version: str = ""
    source: str = ""
    output: str = ""
    device: str = "cpu"
    level: str = "forward"
    sandbox: dict = Field(default_factory=dict)
    summary: Summary = Field(default_factory=Summary)
    units: list[UnitRecord] = Field(default_factory=list)
    files: list[FileRecord] = Field(default_factory=list)
    deferred: list[UnitRecord] = Field(
        default_factory=list, description="torch-using code that is not a unit at this level (training loops, "
        "data code), with the level that exercises it; not counted in the summary")
    errors: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list, description="what the run ignored or changed on its own, "
                             "e.g. settings the repository may not choose")

    def finish(self, seconds: float) -> "Report":
        """Fill in the summary and redact secrets from the text that came from the migrated code."""
        self._redact()
        s = self.summary
        s.files = len(self.files)
        s.api_calls = sum(f.api_calls for f in self.files)
        s.api_converted = sum(f.api_converted for f in self.files)
        s.api_marked = s.api_calls - s.api_converted
        s.units = len(self.units)
        s.units_verified = sum(u.status.startswith("verified") for u in self.units)
        s.conversion_rate = round(s.api_converted / s.api_calls, 4) if s.api_calls else 1.0
        s.verified_rate = round(s.units_verified / s.units, 4) if s.units else 0.0
        s.verified_by_level = verified_by_level(self.units)
        s.seconds = round(seconds, 3)
        return self

    def _redact(self) -> None:
        # messages and reasons quote what user code printed or raised, which may be a credential
        # it found in the environment; the report is published (files, PR comments, CI logs)
        for u in [*self.units, *self.deferred]:
            u.reason = redact(u.reason)
            u.notes = [redact(n) for n in u.notes]
            u.levels, u.repairs = redact_data(u.levels), redact_data(u.repairs)
            u.divergence, u.spec = redact_data(u.divergence), redact_data(u.spec)
        for f in self.files:
            f.error = redact(f.error)
            for m in f.markers:
                m.reason = redact(m.reason)
        self.errors = [redact(e) for e in self.errors]
        self.notes = [redact(n) for n in self.notes]

    @property
    def exit_code(self) -> int:
        return 0 if all(u.status.startswith("verified") for u in self.units) and not self.errors else 1
