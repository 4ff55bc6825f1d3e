"""How msagent reaches an OpenAI-compatible endpoint: one pydantic model, one docstring per field."""
from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

# Local servers (vLLM, Ollama, llama.cpp) accept any key, but the openai client refuses to start
# without one; this placeholder is sent when the environment holds none.
NO_KEY = "msagent-no-key"


class LLMSettings(BaseModel):
    """Endpoint, model and request limits. The key itself never lives here, only where to find it."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    base_url: str
    """Root of the OpenAI-compatible API, e.g. http://127.0.0.1:8000/v1 or https://api.openai.com/v1."""

    model: str
    """Model name as the endpoint knows it, sent verbatim in every request."""

    api_key_env: str = "MSAGENT_LLM_API_KEY"
    """Environment variable holding the API key; OPENAI_API_KEY is the fallback when it is unset or empty."""

    timeout_s: float = Field(120.0, gt=0)
    """Seconds one HTTP request may take (connect, read, write) before it counts as a timeout."""

    max_retries: int = Field(4, ge=0)
    """Retries after the first attempt for rate limits, 5xx, timeouts and connection errors."""

    retry_after_cap_s: float = Field(60.0, ge=0)
    """Longest wait honoured from a Retry-After header; a server asking for more gets this much."""

    backoff_s: float = Field(1.0, ge=0)
    """First wait before retrying a 5xx, timeout or connection error; doubles each retry up to the cap."""

    temperature: float = Field(0.0, ge=0)
    """Sampling temperature; 0 keeps replies as repeatable as the endpoint allows."""

    max_tokens: int = Field(4096, gt=0)
    """Upper bound on completion tokens per request; a whole module must fit."""

    cache_path: Path | None = None
    """SQLite file caching replies by request; None disables the cache."""

    def api_key(self) -> str | None:
        """The key from `api_key_env`, else OPENAI_API_KEY, else None."""
        for name in (self.api_key_env, "OPENAI_API_KEY"):
            value = os.environ.get(name, "").strip()
            if value:
                return value
        return None
