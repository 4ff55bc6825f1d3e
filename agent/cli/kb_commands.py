"""`msagent kb stats|show|verify`."""
from __future__ import annotations

import json

import typer

app = typer.Typer(no_args_is_help=True, help="The API-mapping knowledge base.")


@app.command()
def stats(as_json: bool = typer.Option(False, "--json")) -> None:
    """Entries, rules, probes and verdicts per device."""
    from agent.kb.stats import stats as kb_stats
    from agent.kb.store import load_kb

    data = kb_stats(load_kb())
    if as_json:
        typer.echo(json.dumps(data))
    else:
        for k, v in data.items():
            typer.echo(f"{k}: {v}")


@app.command()
def show(api: str) -> None:
    """One entry: its torch signature, MindSpore targets and verdicts."""
    from agent.kb import retrieve
    from agent.kb.stats import show as kb_show
    from agent.kb.store import load_kb

    kb = load_kb()
    entry = retrieve.exact(kb, api)
    if entry is None:
        hits = retrieve.search(kb, api, k=5)
        typer.echo(f"msagent: no KB entry for {api}" + (f"; nearest: {', '.join(e.api for e in hits)}" if hits else ""),
                   err=True)
        raise typer.Exit(2)
    typer.echo(kb_show(kb, entry.api))


@app.command("verify")
def verify_cmd(
    apis: list[str] = typer.Argument(None, help="torch APIs to probe (default: every entry with a probe)"),
    device: str = typer.Option("cpu", help="the device the verdicts are for"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Run the probes against torch in one warm worker and record a verdict per target."""
    from agent.kb.store import load_kb
    from agent.kb.verify_runner import verify

    kb = load_kb()
    try:
        summary = verify(kb, apis or None, device,
                         on_batch=None if as_json else lambda d, n: typer.echo(f"probed {d}/{n}", err=True))
    except KeyError as exc:
        typer.echo(f"msagent: {exc.args[0]}", err=True)
        raise typer.Exit(2)
    load_kb.cache_clear()
    typer.echo(json.dumps(summary) if as_json else "\n".join(f"{k}: {v}" for k, v in summary.items()))


@app.command("accept")
def accept_cmd(candidates: str = typer.Argument(..., help="OUT/.msagent/kb-candidates.yaml from a migration")) -> None:
    """Add the proven candidate entries a repair found to mapping_kb/learned.yaml."""
    from agent.kb.store import kb_root
    from agent.repair.learn import accept

    result = accept(candidates, kb_root())
    typer.echo(f"accepted: {len(result.accepted)}")
    for item in result.skipped:
        typer.echo(f"skipped: {item[0]}: {item[1]}")
