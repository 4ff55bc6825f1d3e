"""`msagent bot serve`: the GitHub App's webhook endpoint.

A request is answered at once (GitHub waits 10 s at most); the work goes to one background
thread that checks PRs one at a time with one warm verification worker. Nothing is queued
before the signature is checked, and a delivery whose id or signed body was seen before is
answered without work. The body is read under limits (size, stall, deadline; see body.py)
before anything else looks at it.
"""
from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from agent.bot.body import BodyError, DeadlineReader, read_body
from agent.bot.github import RepoAPI, app_client
from agent.bot.review import PullRequest, Review, bot_worker, pull_request_from_event, review_pull_request
from agent.bot.webhook import DeliveryLog, signature_ok
from agent.llm.settings import LLMSettings
from agent.report.textsafe import register_secret

log = logging.getLogger("msagent.bot")

MAX_BODY = 25 * 2**20  # GitHub caps webhook payloads at 25 MB
READ_TIMEOUT_S = 10.0  # longest wait for the next byte of a request
CONNECTION_DEADLINE_S = 30.0  # GitHub gives up on a delivery after 10 s; nothing useful takes longer


@dataclass
class AppConfig:
    app_id: str
    private_key: str
    webhook_secret: bytes
    api_url: str = "https://api.github.com"
    state_dir: Path = Path.home() / ".local" / "state" / "msagent-bot"
    llm: LLMSettings | None = None


class BotServer:
    def __init__(self, config: AppConfig, host: str = "127.0.0.1", port: int = 8080, worker=None) -> None:
        if not config.webhook_secret:
            raise ValueError("a webhook secret is required: unsigned deliveries are refused")
        self.config = config
        register_secret(config.private_key)  # kept out of every report and comment the bot writes
        register_secret(config.webhook_secret.decode(errors="replace"))
        # request limits, read by each new connection (tests shorten them)
        self.max_body, self.read_timeout_s, self.connection_deadline_s = MAX_BODY, READ_TIMEOUT_S, CONNECTION_DEADLINE_S
        self.deliveries = DeliveryLog(config.state_dir / "deliveries.sqlite")
        self.reviews: list[tuple[PullRequest, Review | None]] = []  # what each job ended with, for logs and tests
        self._worker, self._own_worker = worker, worker is None
        self._jobs: queue.Queue = queue.Queue()
        self._latest: dict[tuple[str, int], str] = {}  # newest head sha per PR: older queued pushes are skipped
        self._lock = threading.Lock()
        self._stopped = self._serving = False
        self.httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._threads = [threading.Thread(target=self.httpd.serve_forever, name="bot-http", daemon=True),
                         threading.Thread(target=self._work, name="bot-jobs", daemon=True)]

    @property
    def address(self) -> tuple[str, int]:
        return self.httpd.server_address[:2]

    def start(self) -> "BotServer":
        """Serve on background threads (tests, embedding)."""
        self._serving = True
        for t in self._threads:
            t.start()
        return self

    def serve_forever(self) -> None:
        """Serve on this thread until stop() or an interrupt."""
        self._threads[1].start()
        self._serving = True
        self.httpd.serve_forever()

    def wait_idle(self) -> None:
        """Block until every accepted delivery has been worked off."""
        self._jobs.join()

    def stop(self) -> None:
        """Stop serving, finish the job in hand, close the worker if the server started it. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self._serving:  # shutdown() waits for a serve loop and would hang without one
            self.httpd.shutdown()
        self.httpd.server_close()
        self._jobs.put(None)
        if self._threads[1].is_alive():
            self._threads[1].join(timeout=30)
        if self._own_worker and self._worker is not None:
            self._worker.close()
        self.deliveries.close()

    # -- one delivery ------------------------------------------------------------------------
    def accept(self, headers: dict, body: bytes) -> tuple[int, dict]:
        """Answer one webhook request: (HTTP status, JSON reply). Work is only queued here."""
        if not signature_ok(self.config.webhook_secret, body, headers.get("x-hub-signature-256")):
            return 401, {"error": "missing or invalid X-Hub-Signature-256"}
        event, delivery = headers.get("x-github-event", ""), headers.get("x-github-delivery", "")
        if not delivery:
            return 400, {"error": "missing X-GitHub-Delivery"}
        if event == "ping":
            return 200, {"ok": "pong"}
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, {"error": "body is not JSON"}
        pr = pull_request_from_event(event, payload) if isinstance(payload, dict) else None
        if pr is None:
            return 202, {"ignored": f"{event} {payload.get('action', '') if isinstance(payload, dict) else ''}".strip()}
        if pr.installation_id is None:
            return 400, {"error": "pull_request event without an installation id"}
        if not self.deliveries.claim(delivery, event, body):
            return 200, {"duplicate": delivery}
        with self._lock:
            self._latest[(pr.repo, pr.number)] = pr.head_sha
        self._jobs.put((delivery, pr))
        return 202, {"queued": f"{pr.repo}#{pr.number}@{pr.head_sha[:7]}"}

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                self._run(*job)
            finally:
                self._jobs.task_done()

    def _run(self, delivery: str, pr: PullRequest) -> None:
        with self._lock:
            newest = self._latest.get((pr.repo, pr.number))
        if newest != pr.head_sha:
            log.info("%s#%d: %s superseded by %s, skipped", pr.repo, pr.number, pr.head_sha[:7], (newest or "")[:7])
            self.reviews.append((pr, None))
            return
        try:
            api = RepoAPI(app_client(self.config.api_url, self.config.app_id, self.config.private_key,
                                     pr.installation_id), pr.repo)
            review = review_pull_request(api, pr, llm=self.config.llm, worker=self._shared_worker())
        except Exception:  # GitHub unreachable, auth refused...: let a redelivery try again
            log.exception("delivery %s (%s#%d) failed", delivery, pr.repo, pr.number)
            self.deliveries.release(delivery)
            self.reviews.append((pr, None))
            return
        log.info("%s#%d@%s: %s (%s)", pr.repo, pr.number, pr.head_sha[:7], review.conclusion, review.title)
        self.reviews.append((pr, review))

    def _shared_worker(self):
        if self._worker is None:
            self._worker = bot_worker()
        return self._worker


def _handler_for(bot: BotServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            self.timeout = bot.read_timeout_s
            super().setup()
            self.rfile = DeadlineReader(self.rfile, self.connection, bot.read_timeout_s, bot.connection_deadline_s)

        def handle(self) -> None:
            with contextlib.suppress(ConnectionError):  # a sender that hangs up is not a server error
                super().handle()

        def _reply(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.connection.settimeout(bot.read_timeout_s)  # the reader may have left less
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._reply(200 if self.path == "/healthz" else 404, {"ok": self.path == "/healthz"})

        def do_POST(self) -> None:
            try:
                body = read_body(self.rfile, self.headers, bot.max_body)
            except BodyError as exc:  # the rest of the body is unread: this connection cannot go on
                self.close_connection = True
                return self._reply(exc.status, {"error": str(exc)})
            except TimeoutError:
                self.close_connection = True
                log.info("%s: request body stalled or too slow; connection dropped", self.address_string())
                with contextlib.suppress(OSError):  # a sender that stalls may not be listening either
                    self._reply(408, {"error": "the request body was not sent in time"})
                return
            status, payload = bot.accept({k.lower(): v for k, v in self.headers.items()}, body)
            self._reply(status, payload)

        def log_message(self, fmt: str, *args) -> None:
            log.debug("%s " + fmt, self.address_string(), *args)

    return Handler
