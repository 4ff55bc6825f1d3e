"""A real OpenAI-compatible HTTP server for tests: scripted replies, injected failures, every request kept.

    with ScriptedOpenAI([Reply("```python\\nx = 1\\n```"), Status(429, retry_after=1), Reply("ok")]) as srv:
        settings = LLMSettings(base_url=srv.base_url, model="test", ...)
        ...
        assert len(srv.requests) == 3

Each POST /v1/chat/completions takes the next item of the script:
  Reply(text, prompt_tokens, completion_tokens)  a normal chat completion
  Status(code, retry_after=None, message)        an error response in OpenAI's error format
  Delay(seconds, then=Reply(...))                sleep first (past the client's timeout), then answer
  a callable(body: dict) -> one of the above     choose from the request (e.g. read the prompt)
When the script runs out, `default` answers if given; else the server replies 400 "script
exhausted", which the client does not retry, so a test that under-scripts fails loudly.
"""
from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Union

import pytest


@dataclass(frozen=True)
class Reply:
    text: str
    prompt_tokens: int = 10
    completion_tokens: int = 20


@dataclass(frozen=True)
class Status:
    code: int
    retry_after: float | None = None
    message: str = "scripted failure"


@dataclass(frozen=True)
class Delay:
    seconds: float
    then: Reply | Status = field(default_factory=lambda: Reply("late reply"))


Step = Union[Reply, Status, Delay, Callable[[dict], Union[Reply, Status, Delay]]]


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # names lower-cased
    body: dict
    at: float  # time.monotonic() when the request arrived


class ScriptedOpenAI:
    def __init__(self, script: list[Step] | None = None, default: Step | None = None):
        self.script: deque[Step] = deque(script or [])
        self.default = default
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- the test's view -------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def bodies(self) -> list[dict]:
        return [r.body for r in self.requests]

    def push(self, *steps: Step) -> None:
        with self._lock:
            self.script.extend(steps)

    def last_prompt(self) -> str:
        """The content of the last message of the last request."""
        return self.requests[-1].body["messages"][-1]["content"]

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> ScriptedOpenAI:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                server._serve(self)

            def do_GET(self) -> None:  # noqa: N802
                _send_json(self, 404, {"error": {"message": "not found", "type": "invalid_request_error"}})

            def log_message(self, *args) -> None:  # keep test output clean
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True  # a Delay still sleeping must not hold up shutdown
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="scripted-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> ScriptedOpenAI:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- serving ---------------------------------------------------------------------------
    def _next_step(self, body: dict) -> Reply | Status | Delay:
        with self._lock:
            step = self.script.popleft() if self.script else self.default
        if step is None:
            return Status(400, message="script exhausted: the test sent more requests than it scripted")
        return step(body) if callable(step) else step

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        if handler.path.rstrip("/") != "/v1/chat/completions":
            error = {"message": f"no route {handler.path}", "type": "invalid_request_error"}
            _send_json(handler, 404, {"error": error})
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            _send_json(handler, 400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
            return
        with self._lock:
            headers = {k.lower(): v for k, v in handler.headers.items()}
            self.requests.append(Received(handler.path, headers, body, time.monotonic()))
        step = self._next_step(body)
        if isinstance(step, Delay):
            time.sleep(step.seconds)
            step = step.then
        try:
            if isinstance(step, Reply):
                _send_json(handler, 200, _completion(body, step, len(self.requests)))
            else:
                headers = {} if step.retry_after is None else {"Retry-After": _fmt_seconds(step.retry_after)}
                error = {"error": {"message": step.message, "type": "scripted", "code": str(step.code)}}
                _send_json(handler, step.code, error, headers)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout) before the answer came; that is the point of Delay


def _fmt_seconds(s: float) -> str:
    return str(int(s)) if float(s).is_integer() else str(s)


def _completion(body: dict, reply: Reply, n: int) -> dict:
    return {
        "id": f"chatcmpl-scripted-{n}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "scripted"),
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": reply.text}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        },
    }


def _send_json(handler: BaseHTTPRequestHandler, code: int, payload: dict, headers: dict | None = None) -> None:
    data = json.dumps(payload).encode("utf-8")
    handler.send_response(code)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    for k, v in (headers or {}).items():
        handler.send_header(k, v)
    handler.end_headers()
    handler.wfile.write(data)
    handler.wfile.flush()


@pytest.fixture
def openai_server():
    """A started ScriptedOpenAI with an empty script; push() steps in the test."""
    with ScriptedOpenAI() as server:
        yield server
