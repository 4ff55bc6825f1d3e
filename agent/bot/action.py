"""`msagent bot action`: one PR check inside a GitHub Actions job, on the checked-out workspace.

Reads what Actions provides: GITHUB_EVENT_NAME, GITHUB_EVENT_PATH (the event payload),
GITHUB_REPOSITORY, GITHUB_API_URL, GITHUB_WORKSPACE and GITHUB_TOKEN. The token stays in this
process (githubkit's client); the verification worker gets an allow-listed environment without it.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agent.bot.github import RepoAPI, token_client
from agent.bot.review import Review, bot_worker, pull_request_from_event, review_pull_request
from agent.llm.settings import LLMSettings


class ActionError(Exception):
    """The job's environment does not describe a pull request the bot can check."""


@dataclass
class ActionContext:
    event: str
    payload: dict
    repository: str
    api_url: str
    token: str
    workspace: Path


def context_from_env(env: Mapping[str, str]) -> ActionContext:
    missing = [k for k in ("GITHUB_EVENT_PATH", "GITHUB_REPOSITORY", "GITHUB_TOKEN", "GITHUB_WORKSPACE")
               if not env.get(k)]
    if missing:
        raise ActionError(f"not set: {', '.join(missing)} (pass the token with `env: GITHUB_TOKEN: "
                          "${{ secrets.GITHUB_TOKEN }}`)")
    try:
        payload = json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text())
    except (OSError, ValueError) as exc:
        raise ActionError(f"cannot read the event payload {env['GITHUB_EVENT_PATH']}: {exc}") from exc
    workspace = Path(env["GITHUB_WORKSPACE"])
    if not workspace.is_dir():
        raise ActionError(f"GITHUB_WORKSPACE {workspace} is not a folder: run actions/checkout first")
    return ActionContext(event=env.get("GITHUB_EVENT_NAME", "pull_request"), payload=payload,
                         repository=env["GITHUB_REPOSITORY"], api_url=env.get("GITHUB_API_URL") or
                         "https://api.github.com", token=env["GITHUB_TOKEN"], workspace=workspace)


def run_action(env: Mapping[str, str], llm: LLMSettings | None = None, worker=None) -> Review | None:
    """Check the PR of this job's event; None when the event is not one the bot acts on."""
    ctx = context_from_env(env)
    # pull_request_target carries the same payload; the bot treats it alike.
    event = "pull_request" if ctx.event in ("pull_request", "pull_request_target") else ctx.event
    pr = pull_request_from_event(event, ctx.payload)
    if pr is None:
        return None
    if pr.repo != ctx.repository:
        raise ActionError(f"the event names {pr.repo} but GITHUB_REPOSITORY is {ctx.repository}")
    api = RepoAPI(token_client(ctx.api_url, ctx.token), ctx.repository)
    own = worker is None
    worker = worker or bot_worker()
    try:
        return review_pull_request(api, pr, workspace=ctx.workspace, llm=llm, worker=worker)
    finally:
        if own:
            worker.close()
