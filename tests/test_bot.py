"""The PR bot end to end: signed webhooks into `bot serve`, GitHub played by a local REST
server, real migrations verified by one shared torch+MindSpore worker."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest

pytest.importorskip("githubkit")
pytest.importorskip("jwt")

from agent.bot.github import MARKER  # noqa: E402
from agent.bot.server import AppConfig, BotServer  # noqa: E402
from agent.bot.webhook import sign  # noqa: E402
from agent.bot.review import bot_worker  # noqa: E402
from tests.support.github_server import GitHubServer  # noqa: E402

REPO, PR, INSTALLATION, APP_ID = "octo/tiny", 7, 42, 1234
SECRET = b"webhook-secret-for-tests"
SHA_A, SHA_B = "a" * 40, "b" * 40

TINY = """import torch
from torch import nn


class TinyNet(nn.Module):
    def __init__(self, d_in=8, d_out=4):
        super().__init__()
        self.fc = nn.Linear(d_in, d_out)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.fc(x))
"""

# Random numbers differ between the frameworks, so this unit can never verify.
NOISY = """import random

import torch
from torch import nn


class Noisy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        y = self.fc(x)
        return y + random.random()
"""

BASE_FILES = {"tiny/__init__.py": "", "tiny/model.py": TINY, "README.md": "# tiny\n", "weights.bin": b"\0" * 64}


@pytest.fixture(scope="module")
def app_key():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


ACTIONS_TOKEN = "ghs_actions_" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def worker():
    """One warm worker for the module, the bot's own kind, started while credentials are in this
    process's environment (as in an Actions step), so the tests show what its allow-list keeps out."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GITHUB_TOKEN", ACTIONS_TOKEN)
        mp.setenv("GITHUB_EXTRA_SECRET", "x")
        mp.setenv("MSAGENT_LLM_API_KEY", "sk-operator-key")
        with bot_worker() as w:
            mp.undo()
            yield w


@pytest.fixture
def github(app_key):
    with GitHubServer(app_id=APP_ID, app_public_key=app_key[1]) as gh:
        gh.add_commit(REPO, SHA_A, BASE_FILES)
        gh.set_pull(REPO, PR, SHA_A, changed=["tiny/model.py"])
        yield gh


@pytest.fixture
def bot(github, app_key, worker, tmp_path):
    config = AppConfig(app_id=str(APP_ID), private_key=app_key[0], webhook_secret=SECRET, api_url=github.url,
                       state_dir=tmp_path / "state")
    server = BotServer(config, port=0, worker=worker).start()
    yield server
    server.stop()


def payload(action: str, head_sha: str) -> bytes:
    return json.dumps({"action": action, "number": PR, "pull_request": {"number": PR, "head": {"sha": head_sha}},
                       "repository": {"full_name": REPO}, "installation": {"id": INSTALLATION}}).encode()


def deliver(bot: BotServer, body: bytes, event: str = "pull_request", delivery: str | None = None,
            signature: str | None = "sign") -> tuple[int, dict]:
    headers = {"Content-Type": "application/json", "X-GitHub-Event": event,
               "X-GitHub-Delivery": delivery or str(uuid.uuid4())}
    if signature == "sign":
        signature = sign(SECRET, body)
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    host, port = bot.address
    req = urllib.request.Request(f"http://{host}:{port}/webhook", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, data = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, data = err.code, err.read()
    bot.wait_idle()
    return status, json.loads(data)


def test_opened_pr_gets_a_check_run_and_a_report_comment(bot, github):
    status, reply = deliver(bot, payload("opened", SHA_A))
    assert status == 202, reply
    repo = github.repos[REPO]
    assert [r["conclusion"] for r in repo.check_runs] == ["success"]
    run = repo.check_runs[0]
    assert run["head_sha"] == SHA_A and run["status"] == "completed"
    assert "TinyNet" in run["output"]["summary"]
    [comment] = repo.comments
    assert comment["issue"] == PR and comment["body"].startswith(MARKER)
    assert "`tiny/model.py::TinyNet` | module | verified-by-rules" in comment["body"]
    assert "converted there: 3/3 (100%)" in comment["body"]
    # App auth: one installation token minted from a JWT, then used for every repository call.
    [mint] = github.calls("POST", r"^/app/installations/42/access_tokens$")
    assert mint.headers["authorization"].startswith("Bearer ")
    assert {r.headers["authorization"].split()[0] for r in github.api_calls()} == {"token"}
    # Only Python and settings files are fetched at the head commit.
    fetched = {r.path for r in github.calls("GET", "/git/blobs/")}
    assert len(fetched) == 2  # tiny/__init__.py and tiny/model.py, not README.md or weights.bin
    assert github.calls("GET", rf"/git/trees/{SHA_A}$")


def test_later_pushes_edit_the_same_comment(bot, github):
    assert deliver(bot, payload("opened", SHA_A))[0] == 202
    github.add_commit(REPO, SHA_B, {**BASE_FILES, "tiny/noisy.py": NOISY})
    github.set_pull(REPO, PR, SHA_B, changed=["tiny/model.py", "tiny/noisy.py"])
    assert deliver(bot, payload("synchronize", SHA_B))[0] == 202
    repo = github.repos[REPO]
    # Noisy's torch original is random (Python's generator, not a torch sampler whose draws the two sides
    # can share): it cannot be compared, so it is not exercised and
    # the check is neutral, never green
    assert [(r["head_sha"], r["conclusion"]) for r in repo.check_runs] == [(SHA_A, "success"), (SHA_B, "neutral")]
    [comment] = repo.comments  # one comment, edited in place
    assert comment["edits"] == 1
    assert len(github.calls("POST", r"/issues/\d+/comments$")) == 1
    assert len(github.calls("PATCH", r"/issues/comments/\d+$")) == 1
    body = comment["body"]
    assert f"head `{SHA_B[:7]}`" in body and f"head `{SHA_A[:7]}`" not in body
    assert "`tiny/noisy.py::Noisy` | module | not-exercised" in body and "random" in body
    assert "`tiny/model.py::TinyNet` | module | verified-by-rules" in body


def test_bad_or_missing_signature_is_refused_and_nothing_runs(bot, github):
    body = payload("opened", SHA_A)
    assert deliver(bot, body, signature=sign(b"not-the-secret", body))[0] == 401
    assert deliver(bot, body, signature=None)[0] == 401
    assert deliver(bot, body, signature="sha256=" + "0" * 64)[0] == 401
    tampered = body.replace(SHA_A.encode(), SHA_B.encode())
    assert deliver(bot, tampered, signature=sign(SECRET, body))[0] == 401
    assert github.requests == []
    assert bot.reviews == []


def test_redelivery_runs_once_even_after_a_restart(bot, github, app_key, worker, tmp_path):
    body, delivery = payload("opened", SHA_A), str(uuid.uuid4())
    assert deliver(bot, body, delivery=delivery)[0] == 202
    status, reply = deliver(bot, body, delivery=delivery)
    assert (status, reply) == (200, {"duplicate": delivery})
    bot.stop()
    config = AppConfig(app_id=str(APP_ID), private_key=app_key[0], webhook_secret=SECRET, api_url=github.url,
                       state_dir=tmp_path / "state")
    again = BotServer(config, port=0, worker=worker).start()
    try:
        assert deliver(again, body, delivery=delivery)[0] == 200
    finally:
        again.stop()
    assert len(github.repos[REPO].check_runs) == 1
    assert len(github.calls("POST", "/check-runs")) == 1


def test_other_events_are_acknowledged_without_work(bot, github):
    assert deliver(bot, payload("closed", SHA_A))[0] == 202
    assert deliver(bot, b"{}", event="ping")[0] == 200
    assert deliver(bot, json.dumps({"action": "created"}).encode(), event="issue_comment")[0] == 202
    assert github.requests == []


# A repo unit that cannot be built where a credential is visible: it verifies only if the
# worker's environment holds neither the GitHub token nor the LLM key, by name or by value.
PROBE_CHECK = """import os


def visible_credentials():
    return sorted(k for k, v in os.environ.items()
                  if k.startswith("GITHUB") or k.endswith("API_KEY") or "ghs_actions_" in v or "sk-" in v)
"""
ENV_PROBE = PROBE_CHECK + """import torch
from torch import nn


class EnvProbe(nn.Module):
    def __init__(self):
        super().__init__()
        leaked = visible_credentials()
        if leaked:
            raise RuntimeError(f"credentials visible during verification: {leaked}")
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x)
"""


def test_action_mode_checks_the_workspace_and_keeps_the_token_from_the_worker(tmp_path, monkeypatch, worker):
    from agent.bot.action import run_action

    token = ACTIONS_TOKEN
    ws = tmp_path / "workspace"
    (ws / "probe").mkdir(parents=True)
    (ws / "probe" / "__init__.py").write_text("")
    (ws / "probe" / "env_probe.py").write_text(ENV_PROBE)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "synchronize", "number": 3, "pull_request": {"number": 3,
                                 "head": {"sha": SHA_B}}, "repository": {"full_name": REPO}}))
    # The token is in this process's environment, as in an Actions step (the shared worker was
    # started under the same environment): a worker that inherited it would see it.
    monkeypatch.setenv("GITHUB_TOKEN", token)
    monkeypatch.setenv("GITHUB_EXTRA_SECRET", "x")
    monkeypatch.setenv("MSAGENT_LLM_API_KEY", "sk-operator-key")
    with GitHubServer(tokens=(token,)) as gh:
        gh.add_commit(REPO, SHA_B, {"probe/__init__.py": "", "probe/env_probe.py": ENV_PROBE})
        gh.set_pull(REPO, 3, SHA_B, changed=["probe/env_probe.py"])
        env = {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event), "GITHUB_REPOSITORY": REPO,
               "GITHUB_API_URL": gh.url, "GITHUB_TOKEN": token, "GITHUB_WORKSPACE": str(ws)}
        review = run_action(env, worker=worker)
        repo = gh.repos[REPO]
    assert review.conclusion == "success", repo.comments[0]["body"] if repo.comments else review.title
    assert [r["conclusion"] for r in repo.check_runs] == ["success"]
    assert "`probe/env_probe.py::EnvProbe` | module | verified-by-rules" in repo.comments[0]["body"]
    assert {r.headers["authorization"] for r in gh.requests} == {f"token {token}"}
    assert not gh.calls("GET", "/git/")  # the checkout is used, nothing is fetched
    assert sorted(ws.rglob("*")) == sorted([ws / "probe", ws / "probe" / "__init__.py",
                                             ws / "probe" / "env_probe.py"])  # the workspace is not written to
    # The probe does detect a visible credential: here, in the bot's own process, it would refuse.
    namespace: dict = {}
    exec(PROBE_CHECK, namespace)
    assert namespace["visible_credentials"]() == ["GITHUB_EXTRA_SECRET", "GITHUB_TOKEN", "MSAGENT_LLM_API_KEY"]
