"""The `msagent` command line. Exit codes: 0 all verified, 1 some units failed or unproven,
2 usage or input errors. `--json` prints one JSON document on stdout and nothing else."""
from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import typer

from agent.cli import bot_commands, kb_commands
from agent.cli.ckpt_command import convert_ckpt
from agent.cli.progress import Progress

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Migrate PyTorch code to MindSpore and prove it.")
app.add_typer(kb_commands.app, name="kb")
app.add_typer(bot_commands.app, name="bot")
app.command("convert-ckpt")(convert_ckpt)


def _version(value: bool) -> None:
    if value:
        from agent import __version__

        typer.echo(f"msagent {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print the version and exit")) -> None:
    """Migrate PyTorch code to MindSpore and prove it."""


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _fail(message: str) -> None:
    typer.echo(f"msagent: {message}", err=True)
    raise typer.Exit(2)


def _require_sandbox(allow_unsandboxed: bool, no_verify: bool = True) -> None:
    """Exit 2 where the verification sandbox cannot be built, unless the user agreed to go without it."""
    from agent.sandbox.isolation import ALLOW_UNSANDBOXED_ENV, sandbox_refusal

    if allow_unsandboxed:
        os.environ[ALLOW_UNSANDBOXED_ENV] = "1"  # the sides read the consent where they start
    why = sandbox_refusal(no_verify)
    if why:
        _fail(why)


@app.command()
def migrate(
    src: Path = typer.Argument(..., help="the PyTorch repository (never written to)"),
    out: Path = typer.Option(..., "-o", "--out", help="where the MindSpore repository goes"),
    device: str = typer.Option(None, help="cpu | gpu | ascend: decides which MindSpore APIs may be used"),
    level: str = typer.Option(None, help="forward | train | grad (default) | step | graph"),
    llm_base_url: str = typer.Option(None, "--llm-base-url", help="OpenAI-compatible endpoint for repairs"),
    llm_model: str = typer.Option(None, "--llm-model", help="model name at that endpoint"),
    rounds: int = typer.Option(None, help="repair rounds per unit"),
    fresh: bool = typer.Option(False, "--fresh", help="ignore the run journal in OUT and start over"),
    jobs: int = typer.Option(None, "--jobs", "-j", help="verify N units at once, each file's units on one of N "
                             "verifiers (default: the cores available); the report is the same for any N"),
    ray: str = typer.Option(None, "--ray", help="verify on a Ray cluster's workers (a cluster address such as "
                            "ray://host:10001 or auto, or `local`), one actor per CPU (GPU, NPU for --device gpu, "
                            "ascend) instead of local lanes; needs pip install 'msagent[ray]'"),
    diff: bool = typer.Option(False, "--diff", help="print a unified diff of the Python files"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON on stdout"),
    no_verify: bool = typer.Option(False, "--no-verify", help="rules only: do not execute anything"),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="no progress on stderr"),
    allow_unsandboxed: bool = typer.Option(
        False, "--allow-unsandboxed", envvar="MSAGENT_ALLOW_UNSANDBOXED",
        help="where the sandbox cannot be built (no user namespaces, not Linux), verify without isolation: "
        "the code under test can read your files and forge verdicts"),
    sarif: Path = typer.Option(None, "--sarif", help="also write a SARIF 2.1.0 log to this file for CI code "
                               "scanning: failed and unproven units and marked call sites at their lines in SRC. "
                               "A path that cannot be written is an error (exit 2), after the reports are written"),
) -> None:
    """Translate SRC into OUT, verify every unit by execution, write msagent-report.json/.md."""
    from agent.report.markdown import render

    settings = _migrate_settings(src, {"device": device, "level": level, "rounds": rounds, "fresh": fresh or None,
                                       "jobs": jobs,
                                       "verify": False if no_verify else None,
                                       "llm_base_url": llm_base_url, "llm_model": llm_model}, ray)
    if settings.verify:
        _require_sandbox(allow_unsandboxed)
    report = _run_migration(src, out, settings, not as_json and not quiet, ray)
    _append_step_summary(report)
    sarif_error = _write_sarif(report, sarif) if sarif is not None else None
    if as_json:
        sys.stdout.write(json.dumps(report.model_dump()) + "\n")
    else:
        if diff:
            from agent.cli.diff import print_diff

            print_diff(Path(report.source), Path(report.output))
        typer.echo(render(report))
    if sarif_error:
        _fail(sarif_error)
    raise typer.Exit(report.exit_code)


def _migrate_settings(src: Path, flags: dict, ray: str | None):
    """The settings of `msagent migrate` from its flags and the other sources; exit 2 on a bad value."""
    from agent.config import load_settings
    from agent.verify.devices import DEVICES
    from agent.verify.levels import LEVELS

    device, level, jobs = flags["device"], flags["level"], flags["jobs"]
    if device is not None and device not in DEVICES:
        _fail(f"--device must be {', '.join(DEVICES)}, not {device!r}")
    if level is not None and level not in LEVELS:
        _fail(f"--level must be {', '.join(LEVELS)}, not {level!r}")
    if jobs is not None and jobs < 1:
        _fail(f"--jobs must be at least 1, not {jobs}")
    if ray is not None:
        from agent.repair.ray_lanes import RAY_HINT, ray_installed

        if not ray_installed():
            _fail(RAY_HINT)
    try:
        settings = load_settings(src, flags)
    except ValueError as exc:
        _fail(str(exc))
    for note in settings.ignored_repo_settings:  # the repository asked for something it may not choose
        typer.echo(f"msagent: {note}", err=True)
    return settings


def _run_migration(src: Path, out: Path, settings, show_progress: bool, ray: str | None):
    """The report of the migration; exit 2 on a usage error, 130 when interrupted (the partial report is
    written)."""
    from agent.pipeline import UsageError, was_interrupted
    from agent.pipeline import migrate as run_migration

    # SIGTERM (a CI runner cancelling, `kill`) stops like Ctrl-C: a partial report, the worker stopped
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with Progress(enabled=show_progress) as progress:
            return run_migration(src, out, settings, progress=progress, ray=ray)
    except UsageError as exc:
        _fail(str(exc))
    except BaseException as exc:
        if not was_interrupted(exc):
            raise
        typer.echo("msagent: interrupted; the partial report is in OUT/msagent-report.json", err=True)
        raise typer.Exit(130)


def _append_step_summary(report) -> None:
    """In GitHub Actions: the Markdown report on the job's summary page."""
    from agent.report.markdown import render

    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        try:
            with open(summary, "a", encoding="utf-8") as fh:
                fh.write(render(report) + "\n")
        except OSError as exc:
            typer.echo(f"msagent: cannot append to GITHUB_STEP_SUMMARY ({exc})", err=True)


def _write_sarif(report, sarif: Path) -> str | None:
    """Code scanning: results at their lines in SRC. The error to exit with once the output is printed,
    or None."""
    from agent.report.sarif import write_sarif

    try:
        write_sarif(report, sarif)
    except OSError as exc:
        return f"cannot write the SARIF log {sarif}: {exc.strerror or exc}"
    return None


@app.command("eval")
def eval_cmd(
    cases: Path = typer.Argument(..., help="a folder of eval cases (evals/cases)"),
    as_json: bool = typer.Option(False, "--json", help="print the results as JSON on stdout"),
    compare: Path = typer.Option(None, "--compare", help="an earlier --json result to compare with"),
    jobs: int = typer.Option(1, "--jobs", help="cases run on N local warm workers"),
    ray: str = typer.Option(None, "--ray", help="address of a Ray cluster to spread cases over"),
    only: list[str] = typer.Option(None, "--case", help="run only these cases (repeatable)"),
    out: Path = typer.Option(None, "--out", help="keep the migrated cases here"),
    allow_unsandboxed: bool = typer.Option(
        False, "--allow-unsandboxed", envvar="MSAGENT_ALLOW_UNSANDBOXED",
        help="where the sandbox cannot be built, verify the cases without isolation"),
) -> None:
    """Run the eval suite and score it."""
    from agent.evals.run import main as run_eval

    if not cases.is_dir():
        _fail(f"{cases}: not a directory of eval cases")
    _require_sandbox(allow_unsandboxed, no_verify=False)
    raise typer.Exit(run_eval(cases, as_json=as_json, compare=compare, jobs=jobs, ray=ray, only=only, out=out))


if __name__ == "__main__":
    app()
