"""Settings for one migration: one pydantic-settings model, `MigrateSettings`, filled by
`load_settings` from these sources, highest priority first:

1. flags (the CLI's options; `load_settings`'s overrides, passed as init kwargs),
2. the environment: `MSAGENT_<NAME>` for each setting, `MSAGENT_LLM_<NAME>` for the LLM's
   (`MSAGENT_LLM_BASE_URL`, `MSAGENT_LLM_MODEL`, ...); seeds as `0,1,2` or `[0, 1, 2]`,
3. the user's config file (~/.config/msagent/config.toml, or under $XDG_CONFIG_HOME), LLM settings
   in its `[llm]` table,
4. the repository: its `msagent.toml`, then `[tool.msagent]` in its pyproject.

Every setting can come from each source. A value is checked where it is read, so an error names
its source and key (`msagent.toml: level: unknown verification level 'fast'; choose one of ...`,
`MSAGENT_ROUNDS: Input should be a valid integer, ...`). The LLM is used once some sources together
give both `llm.base_url` and `llm.model`.

The repository is the input being migrated, not the person running msagent, so its settings
may say what to check (device, level, rounds, seeds, time per unit, the model name) and how
many units to verify at once (at most the cores available: more would only load the machine), but not
where data goes or what is read: the LLM endpoint, the variable holding its key, the reply
cache and the KB come only from the user's file, the environment or flags. What a repository
tried to set anyway is ignored and listed in `ignored_repo_settings`.

Constructed directly (`MigrateSettings(verify=False)`, as tests and the bot do) the model takes
the values given and the defaults, and reads nothing."""
from __future__ import annotations

import json
import os
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from agent.llm.settings import LLMSettings

ENV_PREFIX = "MSAGENT_"
REPO_KEYS = ("device", "level", "rounds", "fresh", "unit_timeout_s", "seeds", "jobs")  # besides llm
REPO_LLM_KEYS = ("model", "temperature", "max_tokens")
# why a repository may not set the others; keys not listed get the general reason
_WHY = {"kb_root": "a repository may not choose which KB msagent loads",
        "llm.base_url": "a repository may not choose the LLM endpoint",
        "llm.api_key_env": "a repository may not choose which environment variable is sent as the API key",
        "llm.cache_path": "a repository may not choose files msagent writes"}


class UsageError(Exception):
    """Bad paths or settings: exit code 2."""


def available_cores() -> int:
    """The CPUs this process may run on (its affinity mask, which a container or taskset narrows)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


# The sources of the `load_settings` call in progress (below the flags); None: construction in code.
_LOADING: ContextVar[tuple[PydanticBaseSettingsSource, ...] | None] = ContextVar("msagent_settings", default=None)


class MigrateSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    device: str = Field("cpu", description="target device: cpu, gpu or ascend; decides which KB targets are used")
    level: str = Field("grad", description="verification level: forward, train, grad (default: eval and train-mode "
                       "forward, loss, parameter and input gradients), step or graph")
    rounds: int = Field(3, description="repair rounds per unit before giving up")
    fresh: bool = Field(False, description="ignore the run journal in OUT and start over")
    unit_timeout_s: float = Field(300.0, description="wall-clock limit for verifying one unit")
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], description="seeds of the verification trials")
    verify: bool = Field(True, description="run verification (off: rules only)")
    llm: LLMSettings | None = Field(None, description="the LLM endpoint; None runs the offline path only (also "
                                    "when the settings give no base_url or no model)")
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
        from agent.verify.devices import device

        return device(v).name  # an unknown name raises the table's own error

    @field_validator("level")
    @classmethod
    def _known_level(cls, v: str) -> str:
        from agent.verify.levels import LEVELS

        if v not in LEVELS:
            raise ValueError(f"unknown verification level {v!r}; choose one of {', '.join(LEVELS)}")
        return v

    @field_validator("llm", mode="before")
    @classmethod
    def _endpoint_and_model(cls, v: Any) -> Any:
        """LLM settings merged from several sources are an endpoint only with both base_url and model."""
        if isinstance(v, dict) and not (v.get("base_url") and v.get("model")):
            return None
        return v

    ignored_repo_settings: list[str] = Field(
        default_factory=list, exclude=True,  # a note for the report, not a setting: kept out of dumps and fingerprints
        description="settings the repository tried to choose and may not, one sentence each")

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        """Flags (init kwargs) first, then what `load_settings` set up: environment, user file, repo."""
        return (init_settings, *(_LOADING.get() or ()))


SETTINGS = tuple(k for k in MigrateSettings.model_fields if k != "ignored_repo_settings")
LLM_SETTINGS = tuple(LLMSettings.model_fields)
# the environment variable of each setting (llm.* under their documented flat names)
ENV = {**{k: f"{ENV_PREFIX}{k.upper()}" for k in SETTINGS if k != "llm"},
       **{f"llm.{k}": f"{ENV_PREFIX}LLM_{k.upper()}" for k in LLM_SETTINGS}}


def user_config_path() -> Path:
    """The user's own settings file: $XDG_CONFIG_HOME/msagent/config.toml, else ~/.config/..."""
    base = os.environ.get("XDG_CONFIG_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".config") / "msagent" / "config.toml"


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        msg = err["msg"].removeprefix("Value error, ")
        item = [str(p) for p in err["loc"][1:]]
        if err["type"] != "value_error":
            msg = f"{msg} (got {err['input']!r})"
        parts.append(f"item {'.'.join(item)}: {msg}" if item else msg)
    return "; ".join(parts)


def check(where: str, key: str, value: Any) -> Any:
    """VALUE validated as setting KEY (`llm.x` for the LLM's), or a ValueError that starts with WHERE."""
    model, name = (LLMSettings, key[4:]) if key.startswith("llm.") else (MigrateSettings, key)
    if name not in model.model_fields or key in ("llm", "ignored_repo_settings"):
        known = ", ".join([*(k for k in SETTINGS if k != "llm"), *(f"llm.{k}" for k in LLM_SETTINGS)])
        raise ValueError(f"{where}: unknown setting; the settings are {known}")
    instance = model.model_construct()
    try:
        model.__pydantic_validator__.validate_assignment(instance, name, value)
    except ValidationError as exc:
        raise ValueError(f"{where}: {_reason(exc)}") from None
    return instance.__dict__[name]


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


def _put(out: dict, key: str, value: Any) -> dict:
    """OUT with setting KEY (`llm.x` in OUT["llm"]) set to VALUE: the nested dict the model takes."""
    if key.startswith("llm."):
        out.setdefault("llm", {})[key[4:]] = value
    else:
        out[key] = value
    return out


def _checked(label: str, flat: dict[str, Any]) -> dict:
    """{"rounds": 2, "llm.model": "m"} from the source LABEL, each value checked, nested for the model."""
    out: dict = {}
    for key, value in flat.items():
        _put(out, key, check(f"{label}: {key}", key, value))
    return out


class _Source(PydanticBaseSettingsSource):
    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ reads the whole source at once


class EnvSource(_Source):
    """MSAGENT_<NAME> and MSAGENT_LLM_<NAME>; empty values count as unset."""

    def __call__(self) -> dict[str, Any]:
        out: dict = {}
        for key, name in ENV.items():
            value = os.environ.get(name)
            if not value:
                continue
            if key == "seeds":
                value = _list_from_env(name, value)
            _put(out, key, check(name, key, value))
        return out


def _list_from_env(name: str, value: str) -> list:
    if value.lstrip().startswith("["):
        try:
            items = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{name}: not a JSON list ({exc}); write 0,1,2 or [0, 1, 2]") from None
        return items if isinstance(items, list) else [items]
    return [v for v in value.replace(",", " ").split()]


class UserFileSource(_Source):
    """The user's config.toml: any setting, LLM settings in [llm]; an unknown key is an error.
    A `[verify]` table there is the spec table, not the setting, and is left alone."""

    def __call__(self) -> dict[str, Any]:
        path = user_config_path()
        table = _table(path)
        flat: dict = {}
        for key, value in table.items():
            if key == "verify" and not isinstance(value, bool):
                continue
            if key == "llm":
                if not isinstance(value, dict):
                    raise ValueError(f"{path}: llm: a table of LLM settings ([llm]), not {value!r}")
                flat.update({f"llm.{k}": v for k, v in value.items()})
            else:
                flat[key] = value
        return _checked(str(path), flat)


class RepoSource(_Source):
    """One of the repository's settings tables: what it may choose, the rest noted in `notes`."""

    def __init__(self, settings_cls, path: Path, keys: tuple[str, ...], where: str):
        super().__init__(settings_cls)
        self.path, self.keys, self.where = path, keys, where
        self.notes: list[str] = []

    def __call__(self) -> dict[str, Any]:
        self.notes.clear()
        kept = _from_repo(_table(self.path, *self.keys), self.where, self.notes)
        return _checked(self.where, kept)


def _from_repo(table: dict, where: str, notes: list[str]) -> dict:
    """{"rounds": 2, "llm.model": "m"}: the settings a repository may choose; the rest noted in `notes`."""
    kept = {}
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
                    kept[f"llm.{sub}"] = v
                else:
                    notes.append(_note(where, f"llm.{sub}"))
        elif key in MigrateSettings.model_fields and key != "verify":  # [verify] is the spec table
            notes.append(_note(where, key))
    return kept


def _note(where: str, key: str) -> str:
    why = _WHY.get(key, f"a repository may set only {', '.join(REPO_KEYS)} and llm.{', llm.'.join(REPO_LLM_KEYS)}")
    return (f"{where}: {key} ignored: {why}; set it in {user_config_path()}, "
            f"{ENV.get(key, 'the environment')} or a flag")


def _flag(key: str) -> str:
    return "--" + key.replace(".", "-").replace("_", "-")


def load_settings(src: Path, overrides: dict) -> MigrateSettings:
    """The settings for migrating SRC: OVERRIDES (the flags; None values ignored, `llm_*` keys are
    the LLM's), the environment, the user's config file, then what the repository may choose.
    A bad value anywhere is a ValueError naming its source and key."""
    flat = {(f"llm.{k[4:]}" if k.startswith("llm_") else k): v for k, v in overrides.items() if v is not None}
    flags: dict = {}
    for key, value in flat.items():
        _put(flags, key, check(_flag(key), key, value))
    pyproject = RepoSource(MigrateSettings, src / "pyproject.toml", ("tool", "msagent"),
                           "pyproject.toml [tool.msagent]")
    own = RepoSource(MigrateSettings, src / "msagent.toml", (), "msagent.toml")
    token = _LOADING.set((EnvSource(MigrateSettings), UserFileSource(MigrateSettings), own, pyproject))
    try:
        settings = MigrateSettings(**flags)
    except ValidationError as exc:  # values checked one by one passed; what remains concerns them together
        raise ValueError(f"settings: {_reason(exc)}") from None
    finally:
        _LOADING.reset(token)
    settings.ignored_repo_settings = pyproject.notes + own.notes
    return settings
