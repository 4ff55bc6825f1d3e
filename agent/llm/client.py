"""The one way msagent talks to a model: `LLM.complete(messages) -> Completion`.

The real `openai` client does the HTTP with its own retries switched off; retrying is ours
(tenacity) so that Retry-After is honoured with a cap, every attempt is counted, and giving
up surfaces as one typed error the repair loop can record.
"""
from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass

import openai
from tenacity import RetryCallState, RetryError, Retrying, retry_if_exception, stop_after_attempt

from agent.llm.cache import CachedReply, ResponseCache, request_key
from agent.llm.settings import NO_KEY, LLMSettings

# Statuses worth another try: request timeout, conflict, rate limit, and any server-side failure.
_TRANSIENT_STATUS = {408, 409, 429}


class LLMError(Exception):
    """Base of the errors `LLM.complete` raises."""


class LLMUnavailable(LLMError):
    """The endpoint gave no usable reply: retries exhausted on transient failures, or a refusal."""

    def __init__(self, message: str, attempts: int, last_error: str):
        super().__init__(message)
        self.attempts = attempts
        self.last_error = last_error


class LLMRejected(LLMUnavailable):
    """The endpoint refused the request outright (bad key, unknown model, bad request): no retry helps."""


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    cached: bool

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in _TRANSIENT_STATUS or exc.status_code >= 500
    return False


def retry_after_seconds(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (Retry-After as seconds or an HTTP date, or retry-after-ms)."""
    response = getattr(exc, "response", None)
    if response is None:
        return None
    headers = response.headers
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _describe(exc: BaseException) -> str:
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


class LLM:
    """A counted, retried, cached chat-completion client for one endpoint and model.

    Counters (not thread-safe; one repair loop per instance):
    `requests` HTTP requests sent, failed attempts included; `tokens` prompt + completion tokens
    of replies fetched over HTTP (cached replies cost nothing and add nothing); `cache_hits`.
    """

    def __init__(self, settings: LLMSettings, cache: ResponseCache | None = None):
        self.settings = settings
        self._owns_cache = cache is None and settings.cache_path is not None
        self.cache = cache if cache is not None else (
            ResponseCache(settings.cache_path) if settings.cache_path else None
        )
        self._client = openai.OpenAI(
            base_url=settings.base_url,
            api_key=settings.api_key() or NO_KEY,
            timeout=settings.timeout_s,
            max_retries=0,
        )
        self.requests = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cache_hits = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def complete(self, messages: list[dict]) -> Completion:
        """The model's reply to `messages` ([{"role", "content"}, ...]); raises LLMUnavailable."""
        s = self.settings
        key = request_key(s.base_url, s.model, messages, s.temperature, s.max_tokens)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                self.cache_hits += 1
                return Completion(hit.text, hit.prompt_tokens, hit.completion_tokens, cached=True)

        reply = self._fetch(messages)
        self.prompt_tokens += reply.prompt_tokens
        self.completion_tokens += reply.completion_tokens
        if self.cache is not None:
            self.cache.put(key, reply)
        return Completion(reply.text, reply.prompt_tokens, reply.completion_tokens, cached=False)

    def _fetch(self, messages: list[dict]) -> CachedReply:
        retrying = Retrying(
            stop=stop_after_attempt(self.settings.max_retries + 1),
            retry=retry_if_exception(_is_transient),
            wait=self._wait,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._send(messages)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            n = exc.last_attempt.attempt_number
            detail = _describe(last) if last else "no reply"
            raise LLMUnavailable(
                f"{self.settings.base_url} gave no reply after {n} attempts; last: {detail}", n, detail
            ) from last
        except openai.OpenAIError as exc:  # not transient: retrying would only repeat the refusal
            detail = _describe(exc)
            raise LLMRejected(f"{self.settings.base_url} refused the request: {detail}", 1, detail) from exc
        raise AssertionError("tenacity ended without a result")  # pragma: no cover

    def _send(self, messages: list[dict]) -> CachedReply:
        s = self.settings
        self.requests += 1
        response = self._client.chat.completions.create(
            model=s.model, messages=messages, temperature=s.temperature, max_tokens=s.max_tokens
        )
        text = (response.choices[0].message.content or "") if response.choices else ""
        usage = response.usage
        return CachedReply(
            text=text,
            prompt_tokens=(usage.prompt_tokens or 0) if usage else 0,
            completion_tokens=(usage.completion_tokens or 0) if usage else 0,
        )

    def _wait(self, state: RetryCallState) -> float:
        cap = self.settings.retry_after_cap_s
        exc = state.outcome.exception() if state.outcome else None
        asked = retry_after_seconds(exc) if exc is not None else None
        if asked is not None:
            return min(asked, cap)
        return min(self.settings.backoff_s * 2 ** (state.attempt_number - 1), cap)

    def close(self) -> None:
        self._client.close()
        if self._owns_cache and self.cache is not None:
            self.cache.close()

    def __enter__(self) -> LLM:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
