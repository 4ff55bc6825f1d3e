"""The LLM client against a real local OpenAI-compatible server: retries, waits, cache, counting, extraction."""
from __future__ import annotations

import socket
import time

import pytest

from agent.llm.cache import ResponseCache
from agent.llm.client import LLM, LLMRejected, LLMUnavailable
from agent.llm.extract import CodeSyntaxError, NoCodeBlock, check_no_torch, extract_python_block
from agent.llm.settings import LLMSettings
from agent.llm.spec_reply import BadSpecReply, parse_spec_reply
from tests.support.openai_server import Delay, Reply, ScriptedOpenAI, Status, openai_server  # noqa: F401

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "translate ResBlock"}]
MODULE = "import mindspore.nn as nn\n\nclass ResBlock(nn.Cell):\n    def construct(self, x):\n        return x\n"


def settings_for(server: ScriptedOpenAI, **overrides) -> LLMSettings:
    values = dict(base_url=server.base_url, model="scripted-model", timeout_s=2.0, max_retries=2,
                  backoff_s=0.05, retry_after_cap_s=5.0)
    values.update(overrides)
    return LLMSettings(**values)


def test_plain_reply_is_returned_and_counted(openai_server):
    openai_server.push(Reply(f"Here:\n```python\n{MODULE}```\n", prompt_tokens=123, completion_tokens=45))
    llm = LLM(settings_for(openai_server, temperature=0.0, max_tokens=777))
    done = llm.complete(MESSAGES)
    assert extract_python_block(done.text) == MODULE
    assert (done.prompt_tokens, done.completion_tokens, done.cached) == (123, 45, False)
    assert (llm.requests, llm.tokens, llm.prompt_tokens, llm.completion_tokens) == (1, 168, 123, 45)
    body = openai_server.bodies[0]
    assert body["model"] == "scripted-model"
    assert body["messages"] == MESSAGES
    assert body["temperature"] == 0.0 and body["max_tokens"] == 777


def test_tokens_add_up_over_requests(openai_server):
    openai_server.push(Reply("a", 10, 1), Reply("b", 20, 2), Reply("c", 30, 3))
    llm = LLM(settings_for(openai_server))
    for i in range(3):
        llm.complete([{"role": "user", "content": f"q{i}"}])
    assert (llm.requests, llm.prompt_tokens, llm.completion_tokens, llm.tokens) == (3, 60, 6, 66)


def test_rate_limit_waits_for_retry_after_then_succeeds(openai_server):
    openai_server.push(Status(429, retry_after=1), Reply("after the wait"))
    llm = LLM(settings_for(openai_server))
    start = time.monotonic()
    done = llm.complete(MESSAGES)
    assert done.text == "after the wait"
    assert llm.requests == 2 and len(openai_server.requests) == 2
    gap = openai_server.requests[1].at - openai_server.requests[0].at
    assert 0.9 <= gap < 3.0, gap  # the server's 1 s was honoured, not the 0.05 s backoff
    assert time.monotonic() - start < 4.0


def test_retry_after_is_capped(openai_server):
    openai_server.push(Status(429, retry_after=30), Reply("ok"))
    llm = LLM(settings_for(openai_server, retry_after_cap_s=0.2))
    start = time.monotonic()
    assert llm.complete(MESSAGES).text == "ok"
    assert time.monotonic() - start < 2.0


def test_server_error_is_retried(openai_server):
    openai_server.push(Status(500), Status(503), Reply("third time"))
    llm = LLM(settings_for(openai_server))
    assert llm.complete(MESSAGES).text == "third time"
    assert llm.requests == 3 and len(openai_server.requests) == 3


def test_slow_reply_times_out_and_is_retried(openai_server):
    openai_server.push(Delay(1.5, then=Reply("too late")), Reply("in time"))
    llm = LLM(settings_for(openai_server, timeout_s=0.3))
    start = time.monotonic()
    done = llm.complete(MESSAGES)
    assert done.text == "in time"
    assert llm.requests == 2
    assert time.monotonic() - start < 1.4  # the client did not wait for the slow answer


def test_gives_up_after_max_retries_with_typed_error(openai_server):
    openai_server.push(*[Status(500, message="overloaded")] * 3)
    llm = LLM(settings_for(openai_server, max_retries=2))
    with pytest.raises(LLMUnavailable) as info:
        llm.complete(MESSAGES)
    assert info.value.attempts == 3 and "500" in info.value.last_error
    assert len(openai_server.requests) == 3 and llm.tokens == 0


def test_refusal_is_not_retried(openai_server):
    openai_server.push(Status(401, message="bad key"), Reply("never asked for"))
    llm = LLM(settings_for(openai_server))
    with pytest.raises(LLMRejected, match="401"):
        llm.complete(MESSAGES)
    assert len(openai_server.requests) == 1


def test_no_server_is_unavailable():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = LLMSettings(base_url=f"http://127.0.0.1:{port}/v1", model="m", timeout_s=0.5,
                           max_retries=1, backoff_s=0.01)
    with pytest.raises(LLMUnavailable) as info:
        LLM(settings).complete(MESSAGES)
    assert info.value.attempts == 2


def test_api_key_comes_from_the_environment(openai_server, monkeypatch):
    openai_server.push(Reply("a"), Reply("b"))
    monkeypatch.delenv("MSAGENT_LLM_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "fallback-key")
    LLM(settings_for(openai_server)).complete(MESSAGES)
    monkeypatch.setenv("MSAGENT_LLM_API_KEY", "own-key")
    LLM(settings_for(openai_server)).complete(MESSAGES)
    auth = [r.headers.get("authorization") for r in openai_server.requests]
    assert auth == ["Bearer fallback-key", "Bearer own-key"]


def test_cache_makes_a_rerun_free(openai_server, tmp_path):
    openai_server.push(Reply("cached answer", 50, 7))
    path = tmp_path / "llm-cache.sqlite"
    first = LLM(settings_for(openai_server, cache_path=path))
    assert first.complete(MESSAGES).cached is False
    first.close()

    rerun = LLM(settings_for(openai_server, cache_path=path))  # a new process would look the same
    again = rerun.complete(MESSAGES)
    assert (again.text, again.prompt_tokens, again.completion_tokens, again.cached) == ("cached answer", 50, 7, True)
    assert len(openai_server.requests) == 1
    assert (rerun.requests, rerun.tokens, rerun.cache_hits) == (0, 0, 1)


def test_cache_key_covers_the_request(openai_server, tmp_path):
    openai_server.push(Reply("one"), Reply("two"), Reply("three"))
    cache = ResponseCache(tmp_path / "c.sqlite")
    LLM(settings_for(openai_server), cache=cache).complete(MESSAGES)
    LLM(settings_for(openai_server, temperature=0.5), cache=cache).complete(MESSAGES)
    LLM(settings_for(openai_server), cache=cache).complete(MESSAGES + [{"role": "user", "content": "more"}])
    assert len(openai_server.requests) == 3 and len(cache) == 3


def test_failures_are_not_cached(openai_server, tmp_path):
    openai_server.push(Status(500), Reply("good"))
    llm = LLM(settings_for(openai_server, cache_path=tmp_path / "c.sqlite", max_retries=0))
    with pytest.raises(LLMUnavailable):
        llm.complete(MESSAGES)
    assert llm.complete(MESSAGES).text == "good"


def test_reply_without_code_block_raises(openai_server):
    openai_server.push(Reply("I cannot translate this module, sorry."))
    text = LLM(settings_for(openai_server)).complete(MESSAGES).text
    with pytest.raises(NoCodeBlock):
        extract_python_block(text)


@pytest.mark.parametrize(
    "reply, expected",
    [
        ("```python\nx = 1\n```", "x = 1\n"),
        ("```\ny = 2\n```", "y = 2\n"),
        ("text\n```py\nz = 3\n```\nmore text", "z = 3\n"),
        # a labelled block wins over a longer unlabelled one; among labelled, the largest
        ("```\nlong_unlabelled = 1\nand_more = 2\n```\n```python\na = 1\n```", "a = 1\n"),
        ("```python\nsmall = 1\n```\n```python\nbig = 1\nbigger = 2\n```", "big = 1\nbigger = 2\n"),
        ("````python\ns = '```'\n````", "s = '```'\n"),
        ("1. step\n   ```python\n   w = 4\n   ```", "w = 4\n"),
    ],
)
def test_extract_python_block(reply, expected):
    assert extract_python_block(reply) == expected


@pytest.mark.parametrize("reply", ["no code", "```bash\nls\n```", "```python\ncut = 'off", "```python\n```"])
def test_extract_python_block_refuses(reply):
    with pytest.raises(NoCodeBlock):
        extract_python_block(reply)


def test_check_no_torch_lists_every_use():
    code = (
        "import mindspore\n"
        "import torch.nn as tnn\n"
        "from torchvision import models\n"
        "m = __import__('torch')\n"
        "y = torch.nn.functional.relu(x)\n"
        "from .torch_utils import helper\n"  # a local module whose name starts with torch: fine
        "torch_like = 1\n"
    )
    assert check_no_torch(code) == [
        "line 2: import torch.nn",
        "line 3: from torchvision import ...",
        "line 4: __import__('torch')",
        "line 5: uses torch.nn.functional.relu",
    ]
    assert check_no_torch(MODULE) == []


def test_check_no_torch_reports_syntax_errors_with_line():
    with pytest.raises(CodeSyntaxError) as info:
        check_no_torch("x = 1\ndef f(:\n    pass\n")
    assert info.value.line == 2


def test_spec_reply_is_parsed_and_checked():
    reply = (
        "Sure.\n```json\n"
        '{"init": "Embed(100, 8)", "inputs": [[{"shape": [2, 7], "dtype": "int64", "low": 0, "high": 100}],'
        ' [{"shape": [1, 5], "dtype": "int64", "low": 0, "high": 100}]]}\n```'
    )
    spec = parse_spec_reply(reply)
    assert spec == {
        "source": "llm",
        "init": "Embed(100, 8)",
        "inputs": [
            [{"shape": [2, 7], "dtype": "int64", "low": 0, "high": 100}],
            [{"shape": [1, 5], "dtype": "int64", "low": 0, "high": 100}],
        ],
    }
    for bad in ("no block", "```json\n{not json}\n```", '```json\n{"init": null, "inputs": []}\n```',
                '```json\n{"inputs": [[{"shape": [0, 3]}]]}\n```'):
        with pytest.raises(BadSpecReply):
            parse_spec_reply(bad)
