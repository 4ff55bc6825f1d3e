"""`msagent bot action`: one PR check inside a GitHub Actions job, on the checked-out workspace.

Reads what Actions provides: GITHUB_EVENT_NAME, GITHUB_EVENT_PATH (the event payload),
GITHUB_REPOSITORY, GITHUB_API_URL, GITHUB_WORKSPACE and GITHUB_TOKEN. The token stays in this
process (githubkit's client); the verification worker gets an allow-listed environment without it.
Writes back through GITHUB_OUTPUT (the step's outputs), GITHUB_STEP_SUMMARY and RUNNER_TEMP.
"""
from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agent.bot.comment import published
from agent.bot.github import RepoAPI, token_client
from agent.bot.review import Review, bot_worker, pull_request_from_event, review_pull_request
from agent.bot.scope import SCOPES
from agent.llm.settings import LLMSettings
from agent.report.markdown import render

log = logging.getLogger("msagent.bot")


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


def run_action(env: Mapping[str, str], llm: LLMSettings | None = None, worker=None,
               scope: str = "changed") -> Review | None:
    """Check the PR of this job's event; None when the event is not one the bot acts on.
    `scope`: "changed" migrates the changed Python files and what they import, "all" the whole
    checkout (agent.bot.scope). Writes the step's outputs and job summary where Actions asks."""
    if scope not in SCOPES:
        raise ActionError(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    ctx = context_from_env(env)
    # pull_request_target carries the same payload; the bot treats it alike.
    event = "pull_request" if ctx.event in ("pull_request", "pull_request_target") else ctx.event
    pr = pull_request_from_event(event, ctx.payload)
    if pr is None:
        write_outputs(env, None)
        return None
    if pr.repo != ctx.repository:
        raise ActionError(f"the event names {pr.repo} but GITHUB_REPOSITORY is {ctx.repository}")
    api = RepoAPI(token_client(ctx.api_url, ctx.token), ctx.repository)
    own = worker is None
    worker = worker or bot_worker()
    try:
        review = review_pull_request(api, pr, workspace=ctx.workspace, llm=llm, worker=worker, scope=scope)
    finally:
        if own:
            worker.close()
    write_outputs(env, review, f"{pr.repo}@{pr.head_sha[:7]}")
    return review


def write_outputs(env: Mapping[str, str], review: Review | None, where: str = "") -> dict[str, str]:
    """The step's results for the rest of the job, where Actions provides the files:
    - the JSON and Markdown reports in a new folder under RUNNER_TEMP (the workspace is never written);
    - `verified`, `units`, `report` (the JSON's path, "" without a migration) and `conclusion`
      appended to GITHUB_OUTPUT as `key=value` lines;
    - the PR comment's Markdown appended to GITHUB_STEP_SUMMARY.
    Returns the outputs. A file that cannot be written is logged, never fatal: the check run and
    the comment are already posted."""
    report = review.report if review is not None else None
    outputs = {"verified": "0", "units": "0", "report": "", "conclusion": review.conclusion if review else "skipped"}
    if report is not None:
        outputs["verified"] = str(report.summary.units_verified)
        outputs["units"] = str(report.summary.units)
        if env.get("RUNNER_TEMP") or env.get("GITHUB_OUTPUT"):
            try:
                folder = Path(tempfile.mkdtemp(prefix="msagent-", dir=env.get("RUNNER_TEMP") or None))
                shown = published(report, where)
                (folder / "msagent-report.json").write_text(json.dumps(shown.model_dump(), indent=2) + "\n",
                                                            encoding="utf-8")
                (folder / "msagent-report.md").write_text(render(shown), encoding="utf-8")
                outputs["report"] = str(folder / "msagent-report.json")
            except OSError as exc:
                log.warning("msagent bot: cannot write the report under RUNNER_TEMP: %s", exc)
    if env.get("GITHUB_OUTPUT"):
        # one line each: no value holds a newline (a path with one is not written)
        lines = "".join(f"{k}={v}\n" for k, v in outputs.items() if "\n" not in v and "\r" not in v)
        _append(env["GITHUB_OUTPUT"], lines, "GITHUB_OUTPUT")
    if env.get("GITHUB_STEP_SUMMARY") and review is not None and review.markdown:
        _append(env["GITHUB_STEP_SUMMARY"], "\n" + review.markdown.strip("\n") + "\n", "GITHUB_STEP_SUMMARY")
    return outputs


def _append(path: str, text: str, name: str) -> None:
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        log.warning("msagent bot: cannot append to %s (%s)", name, exc)
