"""Settings for one migration, in rising priority: `[tool.msagent]` in the repo's pyproject,
the repo's `msagent.toml`, the user's config file (~/.config/msagent/config.toml, or under
$XDG_CONFIG_HOME), the environment (MSAGENT_*), then command-line flags.

The repository is the input being migrated, not the person running msagent, so its settings
may say what to check (device, level, rounds, seeds, time per unit, the model name) and how
many units to verify at once (at most the cores available: more would only load the machine), but not
where data goes or what is read: the LLM endpoint, the variable holding its key, the reply
cache and the KB come only from the user's file, the environment or flags. What a repository
tried to set anyway is ignored and listed in `ignored_repo_settings`."""
from __future__ import annotations

import os
import tomllib
from pathlib import Path

from pydantic import BaseModel, Field, field_validator

from agent.llm.settings import LLMSettings

REPO_KEYS = ("device", "level", "rounds", "fresh", "unit_timeout_s", "seeds", "jobs")  # besides llm
REPO_LLM_KEYS = ("model", "temperature", "max_tokens")
# why a repository may not set the others; keys not listed get the general reason
_WHY = {"kb_root": "a repository may not choose which KB msagent loads",
        "llm.base_url": "a repository may not choose the LLM endpoint",
        "llm.api_key_env": "a repository may not choose which environment variable is sent as the API key",
        "llm.cache_path": "a repository may not choose files msagent writes"}
ENV = {"device": "MSAGENT_DEVICE", "level": "MSAGENT_LEVEL", "rounds": "MSAGENT_ROUNDS", "kb_root": "MSAGENT_KB_ROOT",
       "jobs": "MSAGENT_JOBS",
       "llm.base_url": "MSAGENT_LLM_BASE_URL", "llm.model": "MSAGENT_LLM_MODEL",
       "llm.api_key_env": "MSAGENT_LLM_API_KEY_ENV", "llm.cache_path": "MSAGENT_LLM_CACHE_PATH"}


def available_cores() -> int:
    """The CPUs this process may run on (its affinity mask, which a container or taskset narrows)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


class MigrateSettings(BaseModel):
    device: str = Field("cpu", description="target device: cpu, gpu or ascend; decides which KB targets are used")
    level: str = Field("grad", description="verification level: forward, train, grad (default: eval and train-mode "
                       "forward, loss, parameter and input gradients), step or graph")
    rounds: int = Field(3, description="repair rounds per unit before giving up")
    fresh: bool = Field(False, description="ignore the run journal in OUT and start over")
    unit_timeout_s: float = Field(300.0, description="wall-clock limit for verifying one unit")
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], description="seeds of the verification trials")
    verify: bool = Field(True, description="run verification (off: rules only)")
    llm: LLMSettings | None = Field(None, description="the LLM endpoint; None runs the offline path only")
    kb_root: str | None = Field(None, description="a KB directory other than the packaged one")
    jobs: int = Field(default_factory=available_cores, description="units verified at once, each file's "
                      "units on one of JOBS verifiers (a torch and a MindSpore side each); default: the cores this "
                      "process may use. The report is the same for any value")

    @field_validator("jobs")
    @classmethod
    def _positive_jobs(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"jobs must be at least 1, not {v}")
        return v

    @field_validator("device")
    @classmethod
    def _known_device(cls, v: str) -> str:
        from agent.verify.devices import DEVICES

        if v not in DEVICES:
            raise ValueError(f"unknown device {v!r}; choose one of {', '.join(DEVICES)}")
        return v

    @field_validator("level")
    @classmethod
    def _known_level(cls, v: str) -> str:
        from agent.verify.levels import LEVELS

        if v not in LEVELS:
            raise ValueError(f"unknown verification level {v!r}; choose one of {', '.join(LEVELS)}")
        return v

    ignored_repo_settings: list[str] = Field(
        default_factory=list, exclude=True,  # a note for the report, not a setting: kept out of dumps and fingerprints
        description="settings the repository tried to choose and may not, one sentence each")


def user_config_path() -> Path:
    """The user's own settings file: $XDG_CONFIG_HOME/msagent/config.toml, else ~/.config/..."""
    base = os.environ.get("XDG_CONFIG_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".config") / "msagent" / "config.toml"


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


def _from_repo(table: dict, where: str, notes: list[str]) -> tuple[dict, dict]:
    """(settings, llm settings) a repository may choose; the rest noted in `notes`."""
    kept, llm = {}, {}
    for key, value in table.items():
        if key == "jobs" and isinstance(value, int) and not isinstance(value, bool) and value > available_cores():
            kept[key] = available_cores()
            notes.append(f"{where}: jobs = {value} lowered to {available_cores()}, the cores available: a repository "
                         f"may not ask for more; set it in {user_config_path()}, {ENV['jobs']} or --jobs")
        elif key in REPO_KEYS:
            kept[key] = value
        elif key == "llm" and isinstance(value, dict):
            for sub, v in value.items():
                if sub in REPO_LLM_KEYS:
                    llm[sub] = v
                else:
                    notes.append(_note(where, f"llm.{sub}"))
        elif key in MigrateSettings.model_fields and key != "verify":  # [verify] is the spec table
            notes.append(_note(where, key))
    return kept, llm


def _note(where: str, key: str) -> str:
    why = _WHY.get(key, f"a repository may set only {', '.join(REPO_KEYS)} and llm.{', llm.'.join(REPO_LLM_KEYS)}")
    return (f"{where}: {key} ignored: {why}; set it in {user_config_path()}, "
            f"{ENV.get(key, 'the environment')} or a flag")


def load_settings(src: Path, overrides: dict) -> MigrateSettings:
    """Merge the repo's settings (what it may choose), the user's config file, the environment
    and explicit overrides (None values ignored; `llm_*` keys go into the LLM settings)."""
    merged: dict = {}
    llm: dict = {}
    notes: list[str] = []
    for where, table in (("pyproject.toml [tool.msagent]", _table(src / "pyproject.toml", "tool", "msagent")),
                         ("msagent.toml", _table(src / "msagent.toml"))):
        kept, kept_llm = _from_repo(table, where, notes)
        merged.update(kept)
        llm.update(kept_llm)
    user = _table(user_config_path())
    user_llm = user.pop("llm", {})
    merged.update({k: v for k, v in user.items() if k != "verify" or isinstance(v, bool)})
    llm.update(user_llm if isinstance(user_llm, dict) else {})
    for key, name in ENV.items():
        value = os.environ.get(name)
        if value:
            (llm if key.startswith("llm.") else merged)[key.removeprefix("llm.")] = value
    llm.update({k[4:]: v for k, v in overrides.items() if k.startswith("llm_") and v is not None})
    merged.update({k: v for k, v in overrides.items() if not k.startswith("llm_") and v is not None})
    if llm.get("base_url") and llm.get("model"):
        merged["llm"] = LLMSettings(**llm)
    merged["ignored_repo_settings"] = notes
    return MigrateSettings(**merged)
