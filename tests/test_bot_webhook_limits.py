"""The webhook endpoint against hostile senders, over real loopback sockets: bodies are read
under a size limit, a stall timeout and a connection deadline before any signature is checked,
and a signed body seen before is a duplicate whatever delivery id it comes with.

No test here reaches a verification worker: the bot gets one that fails loudly if used."""
from __future__ import annotations

import http.client
import json
import select
import socket
import sqlite3
import time
import uuid

import pytest

pytest.importorskip("githubkit")
pytest.importorskip("jwt")

from agent.bot.server import AppConfig, BotServer  # noqa: E402
from agent.bot.webhook import DeliveryLog, sign  # noqa: E402
from tests.support.github_server import GitHubServer  # noqa: E402

SECRET = b"webhook-secret-for-limit-tests"
APP_ID, INSTALLATION, PR, SHA = 99, 7, 3, "c" * 40


class LoudWorker:
    """Stands where the verification worker goes; these tests must never get that far."""

    def __getattr__(self, name):
        raise AssertionError(f"the verification worker was used ({name})")


@pytest.fixture(scope="module")
def app_key():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


@pytest.fixture
def github(app_key):
    with GitHubServer(app_id=APP_ID, app_public_key=app_key[1]) as gh:
        gh.add_commit("octo/docs", SHA, {"README.md": "# docs\n"})
        gh.set_pull("octo/docs", PR, SHA, changed=["README.md"])  # no Python: a neutral check, no worker
        yield gh


def make_bot(app_key, github_url: str, state_dir, **limits) -> BotServer:
    config = AppConfig(app_id=str(APP_ID), private_key=app_key[0], webhook_secret=SECRET, api_url=github_url,
                       state_dir=state_dir)
    bot = BotServer(config, port=0, worker=LoudWorker())
    for name, value in limits.items():
        setattr(bot, name, value)
    return bot.start()


@pytest.fixture
def bot(app_key, github, tmp_path):
    server = make_bot(app_key, github.url, tmp_path / "state", read_timeout_s=0.5, connection_deadline_s=5.0,
                      max_body=1000)
    yield server
    server.stop()


def pr_event(repo: str = "octo/docs", pad: int = 0) -> bytes:
    return json.dumps({"action": "opened", "number": PR, "pull_request": {"number": PR, "head": {"sha": SHA}},
                       "repository": {"full_name": repo}, "installation": {"id": INSTALLATION},
                       "padding": " " * pad}).encode()


def post(bot: BotServer, body: bytes, delivery: str | None = None, event: str = "pull_request",
         signature: str | None = None, chunked: bool = False) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json", "X-GitHub-Event": event,
               "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
               "X-Hub-Signature-256": signature or sign(SECRET, body)}
    conn = http.client.HTTPConnection(*bot.address, timeout=10)
    try:
        if chunked:
            conn.request("POST", "/webhook", body=iter([body[:10], body[10:]]), headers=headers,
                         encode_chunked=True)
        else:
            conn.request("POST", "/webhook", body=body, headers=headers)
        resp = conn.getresponse()
        status, data = resp.status, resp.read()
    finally:
        conn.close()
    bot.wait_idle()
    return status, json.loads(data)


def healthy(bot: BotServer) -> bool:
    conn = http.client.HTTPConnection(*bot.address, timeout=5)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    finally:
        conn.close()


def raw(bot: BotServer, head: str, body: bytes = b"") -> socket.socket:
    sock = socket.create_connection(bot.address, timeout=10)
    sock.sendall(head.replace("\n", "\r\n").encode() + body)
    return sock


def head(length: int | None = None, extra: str = "", signature: str = "sha256=" + "0" * 64) -> str:
    framing = "" if length is None else f"Content-Length: {length}\n"
    return (f"POST /webhook HTTP/1.1\nHost: x\nX-GitHub-Event: pull_request\nX-GitHub-Delivery: {uuid.uuid4()}\n"
            f"X-Hub-Signature-256: {signature}\n{framing}{extra}\n")


def answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


# -- stalls and trickles ---------------------------------------------------------------------

def test_a_stalled_upload_is_dropped_within_the_timeout_and_others_are_still_served(bot):
    stalled = [raw(bot, head(length=600), b"{" * 300) for _ in range(3)]  # half a body each, then nothing
    assert healthy(bot)  # answered while they stall
    start = time.monotonic()
    replies = [answer(s) for s in stalled]
    elapsed = time.monotonic() - start
    assert elapsed < 3.0, f"stalled uploads held for {elapsed:.1f} s"
    assert all(r.startswith(b"HTTP/1.1 408 ") for r in replies), replies
    for s in stalled:
        s.close()
    assert healthy(bot)
    assert bot.reviews == []


@pytest.mark.parametrize("part", ["body", "headers"])
def test_a_sender_that_trickles_is_cut_off_at_the_connection_deadline(bot, part):
    # each byte comes well within the stall timeout, so only the deadline can stop this sender
    bot.read_timeout_s, bot.connection_deadline_s = 1.0, 1.5
    if part == "body":
        sock = raw(bot, head(length=900))
    else:
        sock = raw(bot, "POST /webhook HTTP/1.1\nHost: x\n")
    start, closed = time.monotonic(), False
    while time.monotonic() - start < 8 and not closed:
        try:
            sock.sendall(b"x" if part == "body" else b"X-Pad: y\r\n")
        except OSError:  # reset by a server that has closed
            closed = True
            break
        closed = bool(select.select([sock], [], [], 0.2)[0])
    elapsed = time.monotonic() - start
    assert closed and 1.2 < elapsed < 4.0, f"closed={closed} after {elapsed:.1f} s"
    try:
        data = answer(sock)
    except ConnectionResetError:
        data = b""
    if part == "body":
        assert data.startswith(b"HTTP/1.1 408 ") or data == b""
    sock.close()
    assert healthy(bot)


# -- size limits, before any signature ---------------------------------------------------------

def test_an_oversized_body_is_refused_before_a_byte_of_it_is_read(bot):
    body = pr_event(pad=2000)
    assert len(body) > bot.max_body
    bot.read_timeout_s = 5.0  # a server that waited for the body would answer after 5 s, not at once
    start = time.monotonic()
    sock = raw(bot, head(length=len(body), signature=sign(SECRET, body)))  # headers only: no body sent
    reply = answer(sock)
    sock.close()
    assert reply.startswith(b"HTTP/1.1 413 ") and time.monotonic() - start < 2.0
    assert b"Connection: close" in reply
    # a chunked body is refused at the first chunk that passes the limit, before its data arrives
    start = time.monotonic()
    sock = raw(bot, head(extra="Transfer-Encoding: chunked\n", signature=sign(SECRET, body)),
               b"%x\r\n" % 600 + b"{" * 600 + b"\r\n" + b"%x\r\n" % 600)
    reply = answer(sock)
    sock.close()
    assert reply.startswith(b"HTTP/1.1 413 ") and time.monotonic() - start < 2.0
    assert bot.reviews == [] and healthy(bot)


def test_a_body_at_the_limit_is_read_chunked_or_not(bot):
    empty = len(json.dumps({"zen": "x", "pad": ""}))
    ping = json.dumps({"zen": "x", "pad": " " * (bot.max_body - empty)}).encode()
    assert len(ping) == bot.max_body
    assert post(bot, ping, event="ping") == (200, {"ok": "pong"})
    assert post(bot, ping, event="ping", chunked=True) == (200, {"ok": "pong"})
    assert post(bot, ping, event="ping", signature=sign(b"wrong", ping), chunked=True)[0] == 401


@pytest.mark.parametrize("framing,status", [
    ("", 411),  # no length at all
    ("Content-Length: +5\n", 400),
    ("Content-Length: 5\nContent-Length: 6\n", 400),
    ("Content-Length: 5\nTransfer-Encoding: chunked\n", 400),  # two framings: the smuggling shape
    ("Transfer-Encoding: gzip, chunked\n", 501),
])
def test_bodies_framed_ambiguously_are_refused(bot, framing, status):
    sock = raw(bot, head(extra=framing), b"hello")
    reply = answer(sock)
    sock.close()
    assert reply.startswith(f"HTTP/1.1 {status} ".encode()), reply[:80]


def test_a_malformed_chunked_body_is_refused(bot):
    sock = raw(bot, head(extra="Transfer-Encoding: chunked\n"), b"zz\r\nhello\r\n0\r\n\r\n")
    assert answer(sock).startswith(b"HTTP/1.1 400 ")
    sock.close()


# -- replays -------------------------------------------------------------------------------------

def test_the_same_signed_body_under_a_new_delivery_id_is_a_duplicate(bot, github, app_key, tmp_path):
    body = pr_event()
    assert post(bot, body, delivery="first")[0] == 202
    assert [r["conclusion"] for r in github.repos["octo/docs"].check_runs] == ["neutral"]
    assert post(bot, body, delivery="second") == (200, {"duplicate": "second"})
    assert post(bot, body, delivery="first") == (200, {"duplicate": "first"})
    assert post(bot, pr_event(pad=1), delivery="third")[0] == 202  # another body is new work
    bot.stop()
    again = make_bot(app_key, github.url, tmp_path / "state")  # the record outlives the process
    try:
        assert post(again, body, delivery="fourth") == (200, {"duplicate": "fourth"})
    finally:
        again.stop()
    assert len(github.repos["octo/docs"].check_runs) == 2


def test_a_failed_job_is_released_so_a_redelivery_can_retry_it(bot, github):
    body = pr_event(repo="octo/unknown")  # GitHub answers 404: the job fails
    assert post(bot, body, delivery="one")[0] == 202
    assert post(bot, body, delivery="two")[0] == 202  # same body, but the first attempt was released
    assert post(bot, body, delivery="two")[0] == 202
    assert [review for _, review in bot.reviews] == [None, None, None]
    assert not bot.deliveries.seen("two")


def test_a_delivery_log_from_before_body_hashes_is_upgraded(tmp_path):
    path = tmp_path / "deliveries.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE deliveries (id TEXT PRIMARY KEY, event TEXT, at REAL)")
    db.execute("INSERT INTO deliveries VALUES ('old', 'pull_request', 0)")
    db.commit()
    db.close()
    log = DeliveryLog(path)
    assert not log.claim("old", "pull_request", b"{}")
    assert log.claim("new", "pull_request", b"{}") and not log.claim("newer", "pull_request", b"{}")
    assert log.claim("unhashed", "pull_request") and log.claim("unhashed-2", "pull_request")
    log.release("new")
    assert log.claim("newer", "pull_request", b"{}")
    log.close()
