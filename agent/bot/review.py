"""One PR event, start to end: read the PR, get its code at the head commit, migrate and verify,
then post one check run and create or edit the bot's one comment. Shared by `bot serve` (App
mode: code fetched through the API) and `bot action` (a checkout in GITHUB_WORKSPACE)."""
from __future__ import annotations

import logging
import shutil
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

from agent.bot.comment import comment_markdown, judge, message_markdown, summary_markdown
from agent.bot.fetch import TreeTooLarge, fetch_python_tree
from agent.bot.github import RepoAPI
from agent.bot.scope import SCOPES, copy_scoped
from agent.config import MigrateSettings, load_settings
from agent.llm.settings import LLMSettings

log = logging.getLogger("msagent.bot")

MAX_ROUNDS = 5
PR_ACTIONS = ("opened", "synchronize", "reopened")


@dataclass(frozen=True)
class PullRequest:
    repo: str  # OWNER/NAME
    number: int
    head_sha: str
    installation_id: int | None = None


@dataclass
class Review:
    conclusion: str
    title: str
    check_run_id: int | None = None
    comment_id: int | None = None
    comment_created: bool = False
    report: object | None = None  # agent.report.schema.Report when a migration ran
    markdown: str = ""  # what the PR comment says (the Action's job summary reuses it)


def pull_request_from_event(event: str, payload: dict) -> PullRequest | None:
    """The PR a webhook/Actions event asks the bot to check, or None for events it ignores."""
    if event != "pull_request" or payload.get("action") not in PR_ACTIONS:
        return None
    pr = payload.get("pull_request") or {}
    repo = (payload.get("repository") or {}).get("full_name")
    head = (pr.get("head") or {}).get("sha")
    if not repo or not head or not isinstance(pr.get("number"), int):
        return None
    return PullRequest(repo, pr["number"], head, (payload.get("installation") or {}).get("id"))


def bot_settings(src: Path, llm: LLMSettings | None) -> MigrateSettings:
    """The repo may choose what to check (device, level, rounds), never where the bot sends data:
    the LLM endpoint, its key variable and the KB come from the bot's operator only, so a PR
    cannot point the bot's credentials at a server of its choosing."""
    try:
        repo = load_settings(src, {})
    except ValueError as exc:
        log.warning("ignoring the repository's msagent settings: %s", exc)
        repo = MigrateSettings()
    return MigrateSettings(device=repo.device, level=repo.level, rounds=min(repo.rounds, MAX_ROUNDS),
                           verify=True, fresh=True, llm=llm, ignored_repo_settings=repo.ignored_repo_settings)


BOT_WORK = Path(tempfile.gettempdir()) / "msagent-bot-work"


def bot_worker():
    """The bot's verifier (not started): both sides see only the bot's work folder, where each PR
    gets a fresh temporary tree, and their environment allow-list is narrowed to names that hold
    no secret (the default passes MSAGENT_*, where an operator may keep the LLM key)."""
    from agent.sandbox.config import DEFAULT_ENV_ALLOW
    from agent.verify.judge import Verifier

    BOT_WORK.mkdir(parents=True, exist_ok=True)
    allow = [p for p in DEFAULT_ENV_ALLOW if not p.startswith("MSAGENT")]
    return Verifier.for_paths([BOT_WORK], env_allow=allow)


def review_pull_request(api: RepoAPI, pr: PullRequest, workspace: Path | None = None,
                        llm: LLMSettings | None = None, worker=None, scope: str = "all") -> Review:
    """Check `pr` and report on GitHub. `workspace` is a checkout of the head commit (Action);
    None fetches the code through the API (App). `worker` is a verifier from bot_worker() to
    reuse (its sides see only BOT_WORK), or None to start one for this run. `scope` "changed"
    migrates only the changed Python files and the repo files they import (agent.bot.scope);
    "all" the whole repository. Either way only the changed files' units decide the check."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    # The PR's files as GitHub lists them: the same list decides the verdict, and it needs no git
    # history in the checkout (actions/checkout fetches one commit by default).
    changed = [f.path for f in api.changed_files(pr.number) if f.path.endswith(".py") and f.status != "removed"]
    if not changed:
        title = "no Python files changed"
        review = Review("neutral", title, markdown=message_markdown(pr.head_sha, title, "Nothing for msagent to check."))
        review.check_run_id = api.create_check_run(pr.head_sha, "neutral", title, "Nothing for msagent to check.")
        if api.find_report_comment(pr.number) is not None:  # refresh an earlier report; never add noise
            review.comment_id, _ = api.upsert_report_comment(
                pr.number, message_markdown(pr.head_sha, title, "The latest push changes no Python files."))
        return review
    if worker is not None:
        BOT_WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="msagent-bot-", dir=BOT_WORK if worker is not None else None) as tmp:
        try:
            report = _migrate(api, pr, workspace, Path(tmp), llm, worker, changed if scope == "changed" else None)
        except TreeTooLarge as exc:
            return _post_problem(api, pr, "neutral", "repository too large for the App", str(exc))
        except Exception as exc:  # a bot fault must still leave a visible result on the PR
            log.exception("migration of %s#%d failed", pr.repo, pr.number)
            detail = f"```\n{''.join(traceback.format_exception_only(exc)).strip()}\n```"
            return _post_problem(api, pr, "neutral", "msagent could not run", detail)
    verdict = judge(report, changed)
    summary = summary_markdown(report, changed, verdict, pr.head_sha, scope)
    review = Review(verdict.conclusion, verdict.title, report=report)
    review.check_run_id = api.create_check_run(pr.head_sha, verdict.conclusion, verdict.title, summary)
    review.markdown = comment_markdown(report, changed, verdict, pr.head_sha, f"{pr.repo}@{pr.head_sha[:7]}", scope)
    review.comment_id, review.comment_created = api.upsert_report_comment(pr.number, review.markdown)
    return review


def _migrate(api: RepoAPI, pr: PullRequest, workspace: Path | None, tmp: Path, llm, worker,
             only: list[str] | None = None):
    """Migrate the PR's head; `only` (the changed Python files) narrows SRC to their import closure."""
    from agent.pipeline import migrate

    if workspace is None:
        src = tmp / "src"
        src.mkdir()
        fetch_python_tree(api, pr.head_sha, src)
    elif only is None and worker is not None and not workspace.resolve().is_relative_to(BOT_WORK.resolve()):
        src = tmp / "src"  # a shared verifier's sides see only BOT_WORK: check a copy of the checkout
        shutil.copytree(workspace, src, ignore=shutil.ignore_patterns(".git"), symlinks=True)
    else:
        src = workspace
    scoped = None
    if only is not None:  # the pipeline has no file filter: give it a SRC holding only what the changes need
        scoped = copy_scoped(src, tmp / "scoped", only)
        src = tmp / "scoped"
    report = migrate(src, tmp / "out", bot_settings(src, llm), verifier=worker)
    if scoped is not None:
        report.notes.append(scoped.note())
    return report


def _post_problem(api: RepoAPI, pr: PullRequest, conclusion: str, title: str, detail: str) -> Review:
    review = Review(conclusion, title, markdown=message_markdown(pr.head_sha, title, detail))
    review.check_run_id = api.create_check_run(pr.head_sha, conclusion, title, detail)
    review.comment_id, review.comment_created = api.upsert_report_comment(pr.number, review.markdown)
    return review
