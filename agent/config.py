"""Settings for one migration: `[tool.msagent]` in the repo's pyproject, `msagent.toml`, the
environment (MSAGENT_*), then command-line flags, in rising priority."""
from __future__ import annotations

import os
import tomllib
from pathlib import Path

from pydantic import BaseModel, Field

from agent.llm.settings import LLMSettings


class MigrateSettings(BaseModel):
    device: str = Field("cpu", description="target device: cpu, gpu or ascend; decides which KB targets are used")
    level: str = Field("forward", description="verification level: forward, train, grad, step or graph")
    rounds: int = Field(3, description="repair rounds per unit before giving up")
    fresh: bool = Field(False, description="ignore the run journal in OUT and start over")
    unit_timeout_s: float = Field(300.0, description="wall-clock limit for verifying one unit")
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], description="seeds of the verification trials")
    verify: bool = Field(True, description="run verification (off: rules only)")
    llm: LLMSettings | None = Field(None, description="the LLM endpoint; None runs the offline path only")
    kb_root: str | None = Field(None, description="a KB directory other than the packaged one")


def _table(path: Path, *keys: str) -> dict:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
    for k in keys:
        data = data.get(k, {})
    return data if isinstance(data, dict) else {}


def load_settings(src: Path, overrides: dict) -> MigrateSettings:
    """Merge the repo's settings, the environment and explicit overrides (None values ignored)."""
    merged: dict = {}
    merged.update({k: v for k, v in _table(src / "pyproject.toml", "tool", "msagent").items() if k != "verify"})
    merged.update({k: v for k, v in _table(src / "msagent.toml").items() if k not in ("verify",)})
    for key in ("device", "level", "rounds"):
        env = os.environ.get(f"MSAGENT_{key.upper()}")
        if env:
            merged[key] = env
    llm = dict(merged.pop("llm", {}) or {})
    for key, env in (("base_url", "MSAGENT_LLM_BASE_URL"), ("model", "MSAGENT_LLM_MODEL")):
        if os.environ.get(env):
            llm[key] = os.environ[env]
    llm_over = {k[4:]: v for k, v in overrides.items() if k.startswith("llm_") and v is not None}
    llm.update(llm_over)
    merged.update({k: v for k, v in overrides.items() if not k.startswith("llm_") and v is not None})
    if llm.get("base_url") and llm.get("model"):
        merged["llm"] = LLMSettings(**llm)
    return MigrateSettings(**merged)
