"""The PR bot's parts that need no worker: signatures, the delivery log, the verdict, what is
fetched, which settings a repository may set, the Action's environment, the CLI's refusals."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from agent.bot.action import ActionError, context_from_env, run_action
from agent.bot.comment import comment_markdown, judge
from agent.bot.fetch import wanted
from agent.bot.github import MARKER
from agent.bot.review import bot_settings, pull_request_from_event
from agent.bot.webhook import DeliveryLog, sign, signature_ok
from agent.cli.bot_commands import app
from agent.llm.settings import LLMSettings
from agent.report.schema import FileRecord, Report, UnitRecord

SECRET = b"s3cret"


def test_signature_accepts_only_the_exact_body_and_secret():
    body = b'{"action": "opened"}'
    good = sign(SECRET, body)
    assert good.startswith("sha256=") and signature_ok(SECRET, body, good)
    assert not signature_ok(SECRET, body + b" ", good)
    assert not signature_ok(b"other", body, good)
    assert not signature_ok(SECRET, body, None)
    assert not signature_ok(SECRET, body, "")
    assert not signature_ok(SECRET, body, good.replace("sha256=", "sha1="))
    assert not signature_ok(SECRET, body, good[:-1])
    assert not signature_ok(b"", body, sign(b"", body))  # no secret configured: nothing is trusted


def test_delivery_log_claims_once_survives_reopening_and_releases(tmp_path):
    path = tmp_path / "state" / "deliveries.sqlite"
    log = DeliveryLog(path)
    assert log.claim("d-1", "pull_request")
    assert not log.claim("d-1", "pull_request")
    log.close()
    log = DeliveryLog(path)
    assert log.seen("d-1") and not log.claim("d-1", "pull_request")
    log.release("d-1")
    assert log.claim("d-1", "pull_request")
    log.close()


def _report(*units: tuple[str, str, str], errors=()) -> Report:
    report = Report(units=[UnitRecord(file=f, name=n, kind="module", status=s) for f, n, s in units],
                    files=[FileRecord(path="a.py", status="translated", api_calls=4, api_converted=3),
                           FileRecord(path="b.py", status="translated", api_calls=2, api_converted=2)],
                    errors=list(errors))
    return report.finish(1.0)


@pytest.mark.parametrize("units,errors,changed,expected", [
    ([("a.py", "A", "verified-by-rules"), ("b.py", "B", "failed")], (), ["a.py"], "success"),
    ([("a.py", "A", "verified-by-rules"), ("b.py", "B", "failed")], (), ["a.py", "b.py"], "failure"),
    ([("a.py", "A", "verified-after-repair"), ("a.py", "C", "not-exercised")], (), ["a.py"], "neutral"),
    ([("b.py", "B", "verified-by-rules")], (), ["a.py"], "neutral"),
    ([("a.py", "A", "verified-by-rules")], ("worker crashed",), ["a.py"], "failure"),
])
def test_verdict_depends_on_the_changed_files_only(units, errors, changed, expected):
    assert judge(_report(*units, errors=errors), changed).conclusion == expected


def test_comment_carries_marker_statuses_rate_and_hides_temp_paths():
    report = _report(("a.py", "A", "verified-by-rules"), ("a.py", "C", "failed"))
    report.source, report.output = "/tmp/msagent-bot-x/src", "/tmp/msagent-bot-x/out"
    body = comment_markdown(report, ["a.py"], judge(report, ["a.py"]), "f" * 40, "octo/r@fffffff")
    assert body.startswith(MARKER)
    assert "| `a.py::A` | module | verified-by-rules |" in body and "| `a.py::C` | module | failed |" in body
    assert "converted there: 3/4 (75%)" in body
    assert "/tmp/msagent-bot-x" not in body and "octo/r@fffffff" in body


def test_only_python_and_settings_files_at_safe_paths_are_fetched():
    assert wanted("pkg/model.py", 100) is None
    assert wanted("msagent.toml", 10) is None and wanted("pyproject.toml", 10) is None
    assert wanted("sub/pyproject.toml", 10) == "not Python"
    assert wanted("weights.bin", 10) == "not Python"
    assert wanted("../evil.py", 10) == "unsafe path"
    assert wanted(".venv/lib/x.py", 10) == "in a skipped folder"
    assert wanted("big.py", 10**8).endswith("too large to translate")


def test_only_opened_synchronize_reopened_pull_requests_are_checked():
    body = {"action": "synchronize", "pull_request": {"number": 5, "head": {"sha": "c" * 40}},
            "repository": {"full_name": "o/r"}, "installation": {"id": 9}}
    pr = pull_request_from_event("pull_request", body)
    assert (pr.repo, pr.number, pr.head_sha, pr.installation_id) == ("o/r", 5, "c" * 40, 9)
    assert pull_request_from_event("pull_request", {**body, "action": "closed"}) is None
    assert pull_request_from_event("push", body) is None
    assert pull_request_from_event("pull_request", {**body, "pull_request": {}}) is None


def test_a_repository_cannot_choose_where_the_bot_sends_data(tmp_path):
    (tmp_path / "msagent.toml").write_text(
        'device = "gpu"\nrounds = 99\nkb_root = "/etc"\nunit_timeout_s = 99999\n'
        '[llm]\nbase_url = "http://attacker.example/v1"\nmodel = "m"\napi_key_env = "GITHUB_TOKEN"\n')
    settings = bot_settings(tmp_path, llm=None)
    assert settings.device == "gpu" and settings.rounds == 5
    assert settings.llm is None and settings.kb_root is None and settings.unit_timeout_s == 300.0
    operator = LLMSettings(base_url="http://127.0.0.1:9/v1", model="local")
    assert bot_settings(tmp_path, llm=operator).llm == operator


def test_action_reports_what_is_missing(tmp_path):
    with pytest.raises(ActionError, match="GITHUB_TOKEN"):
        context_from_env({"GITHUB_EVENT_PATH": "x", "GITHUB_REPOSITORY": "o/r", "GITHUB_WORKSPACE": str(tmp_path)})
    with pytest.raises(ActionError, match="cannot read the event payload"):
        context_from_env({"GITHUB_EVENT_PATH": str(tmp_path / "none.json"), "GITHUB_REPOSITORY": "o/r",
                          "GITHUB_TOKEN": "t", "GITHUB_WORKSPACE": str(tmp_path)})
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"ref": "refs/heads/main"}))
    env = {"GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": str(event), "GITHUB_REPOSITORY": "o/r",
           "GITHUB_TOKEN": "t", "GITHUB_WORKSPACE": str(tmp_path)}
    assert run_action(env) is None  # not a PR event: nothing to do, no GitHub call


def test_cli_refuses_to_serve_without_a_webhook_secret_or_key(tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("GITHUB_APP_PRIVATE_KEY", raising=False)
    result = CliRunner().invoke(app, ["serve", "--app-id", "1", "--port", "0"])
    assert result.exit_code == 2 and "GITHUB_WEBHOOK_SECRET" in result.output
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", "s")
    result = CliRunner().invoke(app, ["serve", "--app-id", "1", "--port", "0"])
    assert result.exit_code == 2 and "private key" in result.output
