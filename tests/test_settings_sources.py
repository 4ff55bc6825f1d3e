"""The settings sources of `load_settings`: flags > MSAGENT_* environment > the user's config file >
the repo's msagent.toml > its pyproject [tool.msagent]; every setting can come from each (the repo
only what it may choose, tests/test_repo_config_trust.py), and a bad value is an error that names
its source and key."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from agent.config import ENV, LLM_SETTINGS, REPO_KEYS, REPO_LLM_KEYS, SETTINGS, MigrateSettings, load_settings, \
    user_config_path

ROOT = Path(__file__).resolve().parents[1]

# a value other than the default for every setting
ALL = {"device": "gpu", "level": "train", "rounds": 7, "fresh": True, "unit_timeout_s": 12.5, "seeds": [4, 5],
       "verify": False, "kb_root": "/opt/kb", "jobs": 1,
       "llm.base_url": "http://127.0.0.1:9/v1", "llm.model": "m7", "llm.api_key_env": "MY_KEY", "llm.timeout_s": 9.5,
       "llm.max_retries": 1, "llm.retry_after_cap_s": 5.0, "llm.backoff_s": 0.5, "llm.temperature": 0.7,
       "llm.max_tokens": 99, "llm.cache_path": "/tmp/msagent-test-cache.sqlite"}
SOURCES = ("flags", "env", "user", "msagent.toml", "pyproject")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ENV.values():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


@pytest.fixture
def repo(tmp_path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    return path


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    return str(v)  # int, float, list of ints


def _toml(values: dict, header: str = "") -> str:
    top = [f"{k} = {_toml_value(v)}" for k, v in values.items() if not k.startswith("llm.")]
    llm = [f"{k[4:]} = {_toml_value(v)}" for k, v in values.items() if k.startswith("llm.")]
    text = (f"[{header}]\n" if header else "") + "\n".join(top) + "\n"
    if llm:
        text += f"[{header + '.' if header else ''}llm]\n" + "\n".join(llm) + "\n"
    return text


def _env_value(v) -> str:
    if isinstance(v, list):
        return ",".join(map(str, v))
    return str(v).lower() if isinstance(v, bool) else str(v)


def put(source: str, values: dict, repo: Path, monkeypatch) -> dict:
    """Write VALUES ({"rounds": 2, "llm.model": "m"}) into SOURCE; the flags to pass load_settings."""
    if source == "flags":
        return {k.replace("llm.", "llm_"): v for k, v in values.items()}
    if source == "env":
        for k, v in values.items():
            monkeypatch.setenv(ENV[k], _env_value(v))
    elif source == "user":
        user_config_path().parent.mkdir(parents=True, exist_ok=True)
        user_config_path().write_text(_toml(values))
    elif source == "msagent.toml":
        (repo / "msagent.toml").write_text(_toml(values))
    else:
        (repo / "pyproject.toml").write_text('[project]\nname = "x"\n\n' + _toml(values, "tool.msagent"))
    return {}


def flat(settings: MigrateSettings) -> dict:
    out = {k: getattr(settings, k) for k in SETTINGS if k != "llm"}
    if settings.llm is not None:
        out.update({f"llm.{k}": getattr(settings.llm, k) for k in LLM_SETTINGS})
    out["llm.cache_path"] = str(out["llm.cache_path"]) if out.get("llm.cache_path") else None
    return out


def test_the_table_names_every_setting():
    assert set(ALL) == {k for k in SETTINGS if k != "llm"} | {f"llm.{k}" for k in LLM_SETTINGS}
    assert all(ALL[k] != v for k, v in flat(MigrateSettings(llm={"base_url": "b", "model": "m"})).items()
               if k not in ("llm.base_url", "llm.model"))


# --- priority -------------------------------------------------------------------------------------

def test_each_source_outranks_the_ones_below_it(repo, monkeypatch):
    flags = {}
    for rounds, source in enumerate(reversed(SOURCES), start=1):  # pyproject 1, msagent.toml 2, ... flags 5
        flags.update(put(source, {"rounds": rounds}, repo, monkeypatch))
    assert load_settings(repo, flags).rounds == 5
    assert load_settings(repo, {}).rounds == 4
    monkeypatch.delenv("MSAGENT_ROUNDS")
    assert load_settings(repo, {}).rounds == 3
    user_config_path().unlink()
    assert load_settings(repo, {}).rounds == 2
    (repo / "msagent.toml").unlink()
    assert load_settings(repo, {}).rounds == 1
    (repo / "pyproject.toml").unlink()
    assert load_settings(repo, {}).rounds == 3 == MigrateSettings().rounds


def test_llm_settings_merge_key_by_key_across_sources(repo, monkeypatch):
    put("pyproject", {"llm.model": "repo-model", "llm.max_tokens": 11}, repo, monkeypatch)
    put("user", {"llm.base_url": "http://file/v1", "llm.max_tokens": 22, "llm.timeout_s": 3}, repo, monkeypatch)
    put("env", {"llm.timeout_s": 4}, repo, monkeypatch)
    llm = load_settings(repo, {"llm_model": None}).llm  # a None flag is no flag
    assert (llm.base_url, llm.model, llm.max_tokens, llm.timeout_s) == ("http://file/v1", "repo-model", 22, 4.0)
    assert load_settings(repo, {"llm_model": "flag-model"}).llm.model == "flag-model"


def test_without_both_endpoint_and_model_there_is_no_llm(repo, monkeypatch):
    put("user", {"llm.base_url": "http://file/v1", "llm.temperature": 0.5}, repo, monkeypatch)
    assert load_settings(repo, {}).llm is None
    assert load_settings(repo, {"llm_model": "m"}).llm.temperature == 0.5


# --- every setting from every source ----------------------------------------------------------------

@pytest.mark.parametrize("source", ["flags", "env", "user"])
def test_every_setting_can_come_from_the_users_sources(source, repo, monkeypatch):
    settings = load_settings(repo, put(source, ALL, repo, monkeypatch))
    assert flat(settings) == ALL
    assert settings.ignored_repo_settings == []


@pytest.mark.parametrize("source", ["msagent.toml", "pyproject"])
def test_a_repository_sets_what_it_may_choose(source, repo, monkeypatch):
    allowed = {k: v for k, v in ALL.items() if k in REPO_KEYS or k.removeprefix("llm.") in REPO_LLM_KEYS}
    assert {type(v) for v in allowed.values()} == {str, int, float, bool, list}
    put(source, ALL, repo, monkeypatch)
    settings = load_settings(repo, {"llm_base_url": "http://flag/v1"})  # the endpoint is never the repo's
    got = flat(settings)
    assert {k: got[k] for k in allowed} == allowed
    assert settings.kb_root is None and settings.verify is True and settings.llm.api_key_env == "MSAGENT_LLM_API_KEY"
    ignored = sorted(n.split(": ")[1].removesuffix(" ignored") for n in settings.ignored_repo_settings)
    assert ignored == sorted(k for k in ALL if k not in allowed and k != "verify")  # [verify] is the spec table


def test_environment_forms(repo, monkeypatch):
    monkeypatch.setenv("MSAGENT_SEEDS", "[7, 8]")
    monkeypatch.setenv("MSAGENT_FRESH", "1")
    monkeypatch.setenv("MSAGENT_VERIFY", "no")
    monkeypatch.setenv("MSAGENT_ROUNDS", "")  # empty: unset
    s = load_settings(repo, {})
    assert (s.seeds, s.fresh, s.verify, s.rounds) == ([7, 8], True, False, 3)
    monkeypatch.setenv("MSAGENT_SEEDS", "9 10")
    assert load_settings(repo, {}).seeds == [9, 10]


def test_direct_construction_reads_no_source(repo, monkeypatch):
    put("env", {"rounds": 9, "llm.base_url": "http://env/v1", "llm.model": "m"}, repo, monkeypatch)
    put("user", {"kb_root": "/from/file"}, repo, monkeypatch)
    s = MigrateSettings(verify=False)
    assert (s.rounds, s.llm, s.kb_root, s.verify) == (3, None, None, False)


def test_a_spec_table_in_the_user_file_is_not_the_verify_setting(repo):
    user_config_path().parent.mkdir(parents=True)
    user_config_path().write_text('rounds = 2\n[verify."a.B"]\ninit = "B()"\n')
    s = load_settings(repo, {})
    assert s.rounds == 2 and s.verify is True


# --- errors name the source and the key ----------------------------------------------------------------

@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("key,value,says", [
    ("level", "fast", "unknown verification level 'fast'; choose one of forward, "),
    ("rounds", "three", "valid integer"),
    ("unit_timeout_s", "slow", "valid number"),
    ("seeds", [1, "x"], "valid integer"),
    ("jobs", 0, "jobs must be at least 1, not 0"),
    ("llm.temperature", -1, "greater than or equal to 0"),
    ("llm.max_tokens", "many", "valid integer"),
])
def test_a_bad_value_names_its_source_and_key(source, key, value, says, repo, monkeypatch):
    if source == "env" and key == "seeds":
        value = "1,x"
    flags = put(source, {key: value}, repo, monkeypatch)
    with pytest.raises(ValueError) as exc:
        load_settings(repo, flags)
    where = {"flags": f"--{key.replace('.', '-').replace('_', '-')}: ", "env": f"{ENV[key]}: ",
             "user": f"{user_config_path()}: {key}: ", "msagent.toml": f"msagent.toml: {key}: ",
             "pyproject": f"pyproject.toml [tool.msagent]: {key}: "}[source]
    message = str(exc.value)
    assert message.startswith(where) and says in message, message


def test_unknown_keys_and_broken_files(repo, monkeypatch):
    user_config_path().parent.mkdir(parents=True)
    user_config_path().write_text("roundz = 3\n")
    with pytest.raises(ValueError, match=r"config\.toml: roundz: unknown setting; the settings are device, "):
        load_settings(repo, {})
    user_config_path().write_text("[llm]\nbase_urll = 'x'\n")
    with pytest.raises(ValueError, match=r"config\.toml: llm\.base_urll: unknown setting"):
        load_settings(repo, {})
    user_config_path().write_text("rounds = \n")
    with pytest.raises(ValueError, match=r"config\.toml: "):
        load_settings(repo, {})
    user_config_path().unlink()
    with pytest.raises(ValueError, match="^--colour: unknown setting"):
        load_settings(repo, {"colour": "red"})
    monkeypatch.setenv("MSAGENT_SEEDS", "[1, 2")
    with pytest.raises(ValueError, match="^MSAGENT_SEEDS: not a JSON list"):
        load_settings(repo, {})


def test_the_cli_prints_the_error_and_exits_2(repo, tmp_path):
    (repo / "m.py").write_text("import torch\n")
    (repo / "msagent.toml").write_text('level = "fast"\n')
    env = {k: v for k, v in os.environ.items() if k not in ENV.values()}
    env.update(NO_COLOR="1", XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    cmd = [str(ROOT / ".venv" / "bin" / "msagent"), "migrate", str(repo), "-o", str(tmp_path / "out"), "--no-verify"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.startswith("msagent: msagent.toml: level: unknown verification level 'fast'; choose one of")
    (repo / "msagent.toml").unlink()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**env, "MSAGENT_ROUNDS": "x"})
    assert proc.returncode == 2 and proc.stderr.startswith("msagent: MSAGENT_ROUNDS: Input should be a valid integer")
