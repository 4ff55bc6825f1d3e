"""`msagent bot serve|action`: the PR bot as a GitHub App webhook server or an Actions step."""
from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True, help="Check pull requests: migrate and verify their PyTorch changes.")


def _fail(message: str) -> None:
    typer.echo(f"msagent bot: {message}", err=True)
    raise typer.Exit(2)


def _operator_llm():
    """The LLM endpoint from the operator's environment (never from the checked repository)."""
    from agent.llm.settings import LLMSettings

    base_url, model = os.environ.get("MSAGENT_LLM_BASE_URL"), os.environ.get("MSAGENT_LLM_MODEL")
    return LLMSettings(base_url=base_url, model=model) if base_url and model else None


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _require_sandbox(allow_unsandboxed: bool) -> None:
    """The bot runs pull requests' code: exit 2 where the sandbox cannot be built, unless allowed."""
    from agent.sandbox.isolation import ALLOW_UNSANDBOXED_ENV, sandbox_refusal

    if allow_unsandboxed:
        os.environ[ALLOW_UNSANDBOXED_ENV] = "1"
    why = sandbox_refusal(no_verify=False)
    if why:
        _fail(why)


_ALLOW_HELP = ("where the sandbox cannot be built (no user namespaces, not Linux), verify pull requests without "
               "isolation: their code can then read this machine's files and forge verdicts")


@app.command()
def serve(
    port: int = typer.Option(8080, help="port to listen on"),
    host: str = typer.Option("127.0.0.1", help="address to listen on (0.0.0.0 behind a proxy)"),
    app_id: str = typer.Option(..., envvar="GITHUB_APP_ID", help="the GitHub App's id"),
    private_key_file: Path = typer.Option(None, envvar="GITHUB_APP_PRIVATE_KEY_FILE",
                                          help="the App's private key (.pem); or set GITHUB_APP_PRIVATE_KEY"),
    api_url: str = typer.Option("https://api.github.com", envvar="GITHUB_API_URL",
                                help="REST API root (GitHub Enterprise: https://HOST/api/v3)"),
    state_dir: Path = typer.Option(Path.home() / ".local" / "state" / "msagent-bot", envvar="MSAGENT_BOT_STATE",
                                   help="where handled delivery ids are kept"),
    verbose: bool = typer.Option(False, "-v", "--verbose"),
    allow_unsandboxed: bool = typer.Option(False, "--allow-unsandboxed", envvar="MSAGENT_ALLOW_UNSANDBOXED",
                                           help=_ALLOW_HELP),
) -> None:
    """Serve the App's webhook: check PRs on opened/synchronize/reopened. The webhook secret is
    read from GITHUB_WEBHOOK_SECRET (an option would show it in the process list)."""
    from agent.bot.server import AppConfig, BotServer

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(message)s")
    _require_sandbox(allow_unsandboxed)
    secret = os.environ.get("GITHUB_WEBHOOK_SECRET", "")
    if not secret:
        _fail("GITHUB_WEBHOOK_SECRET is not set: the bot refuses unsigned deliveries")
    if private_key_file is not None:
        try:
            key = private_key_file.read_text()
        except OSError as exc:
            _fail(f"cannot read the private key {private_key_file}: {exc.strerror or exc}")
    else:
        key = os.environ.get("GITHUB_APP_PRIVATE_KEY", "")
    if "PRIVATE KEY" not in key:
        _fail("no App private key: pass --private-key-file or set GITHUB_APP_PRIVATE_KEY to the PEM text")
    config = AppConfig(app_id=app_id, private_key=key, webhook_secret=secret.encode(), api_url=api_url,
                       state_dir=state_dir, llm=_operator_llm())
    try:
        bot = BotServer(config, host=host, port=port)
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop: finish cleanly, close the worker
    typer.echo(f"msagent bot: listening on http://{bot.address[0]}:{bot.address[1]}/ (POST webhooks, GET /healthz)")
    try:
        bot.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        bot.stop()


@app.command()
def action(
    fail: bool = typer.Option(True, "--fail/--no-fail", help="exit 1 when a changed unit fails verification"),
    allow_unsandboxed: bool = typer.Option(False, "--allow-unsandboxed", envvar="MSAGENT_ALLOW_UNSANDBOXED",
                                           help=_ALLOW_HELP),
    scope: str = typer.Option("changed", "--scope", metavar="changed|all",
                              help="changed: migrate and verify the Python files the PR changed and the repo files "
                                   "they import; all: the whole checkout"),
) -> None:
    """Check the PR of the current GitHub Actions job, on the checked-out workspace. Writes the
    outputs verified, units, report and conclusion to GITHUB_OUTPUT and the report to
    GITHUB_STEP_SUMMARY when Actions provides them."""
    from agent.bot.action import ActionError, run_action
    from agent.bot.scope import SCOPES
    from agent.report.textsafe import register_secret

    if scope not in SCOPES:
        _fail(f"--scope must be {' or '.join(SCOPES)}, not {scope!r}")
    _require_sandbox(allow_unsandboxed)

    register_secret(os.environ.get("GITHUB_TOKEN"))  # its name already looks secret; this holds if it is renamed
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from githubkit.exception import GitHubException

    try:
        review = run_action(os.environ, llm=_operator_llm(), scope=scope)
    except ActionError as exc:
        _fail(str(exc))
    except GitHubException as exc:  # e.g. a read-only token on a fork's PR
        _fail(f"GitHub API call failed: {exc}")
    if review is None:
        typer.echo("msagent bot: this event is not a pull request opened, synchronized or reopened; nothing to do")
        return
    typer.echo(f"msagent bot: {review.conclusion}: {review.title}")
    if fail and review.conclusion == "failure":
        raise typer.Exit(1)
