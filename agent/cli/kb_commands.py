"""`msagent kb stats|show|verify`."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from agent.verify.devices import DEVICES, device as declared

app = typer.Typer(no_args_is_help=True, help="The API-mapping knowledge base.")


def _known_device(device: str) -> str:
    """--device checked against the one device table: an unknown name is a usage error (exit 2)."""
    if device not in DEVICES:
        typer.echo(f"msagent: --device must be {', '.join(DEVICES)}, not {device!r}", err=True)
        raise typer.Exit(2)
    return device


@app.command()
def stats(
    as_json: bool = typer.Option(False, "--json"),
    corpus: Path = typer.Option(None, "--corpus", help="a folder of torch code: how often it uses each API, "
                                "and whether the KB maps it (adds `coverage` to the JSON)"),
    device: str = typer.Option("cpu", callback=_known_device,
                               help="with --corpus: the device whose verdicts decide each API's status"),
    top: int = typer.Option(50, "--top", min=1, help="with --corpus: the most used APIs shown and tallied"),
) -> None:
    """Entries, rules, probes and verdicts per device; with --corpus, the KB's coverage of that code."""
    from agent.kb.stats import stats as kb_stats
    from agent.kb.store import load_kb

    kb = load_kb()
    data = kb_stats(kb)
    if corpus is not None:
        if not corpus.is_dir():
            typer.echo(f"msagent: --corpus {corpus}: not a folder", err=True)
            raise typer.Exit(2)
        from agent.kb.coverage import coverage

        data["coverage"] = coverage(kb, corpus, device=device, top=top)
    if as_json:
        typer.echo(json.dumps(data))
        return
    for k, v in data.items():
        if k != "coverage":
            typer.echo(f"{k}: {v}")
    if corpus is not None:
        _print_coverage(data["coverage"])


def _print_coverage(cov: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    top = cov["apis"][: cov["top"]]
    table = Table(title=f"the {len(top)} most used torch APIs in {cov['corpus']} ({cov['device']})")
    for col, justify in (("#", "right"), ("api", "left"), ("uses", "right"), ("files", "right"),
                         ("status", "left"), ("target", "left")):
        table.add_column(col, justify=justify, overflow="fold")
    for i, r in enumerate(top, 1):
        table.add_row(str(i), r["api"], str(r["uses"]), str(r["files"]), r["status"], r["target"] or "")
    console = Console()
    console.print(table)
    console.print(f"files: {cov['files']} ({cov['skipped']} skipped: unreadable or not parsed); "
                  f"APIs seen: {len(cov['apis'])}")
    for label, counts in ((f"top {len(top)}", cov["top_status"]), ("all", cov["status"])):
        console.print(f"{label}: " + ", ".join(f"{s} {n}" for s, n in counts.items()), highlight=False)


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
    device: str = typer.Option("cpu", callback=_known_device, help="the device the verdicts are for"),
    as_json: bool = typer.Option(False, "--json"),
    into_package: bool = typer.Option(
        False, "--into-package",
        help="record the verdicts in the checkout's mapping_kb/verdicts (`make kb-verify`), probing the packaged "
        "entries only; default: your data folder"),
) -> None:
    """Run the probes against torch in one warm worker and record a verdict per target.

    Verdicts go to verdicts/<device>.json of your KB layer in the user data folder
    (MSAGENT_DATA_DIR overrides it), layered over the packaged KB, which is never written unless
    --into-package is given in a source checkout."""
    from agent.kb.store import kb_root, load_kb, user_kb_root
    from agent.probes.runner import verify

    if into_package:
        root = kb_root()
        if root.parent.name == "_data":  # inside an installed wheel: site-packages is not ours to write
            typer.echo(f"msagent: --into-package writes the KB of a source checkout; {root} is an installed "
                       "package's. Without the flag the verdicts go to your data folder.", err=True)
            raise typer.Exit(2)
        kb = load_kb(str(root))
    else:
        root = user_kb_root()
        kb = load_kb()
    try:
        summary = verify(kb, apis or None, device, root=root,
                         on_batch=None if as_json else lambda d, n: typer.echo(f"probed {d}/{n}", err=True))
    except KeyError as exc:
        typer.echo(f"msagent: {exc.args[0]}", err=True)
        raise typer.Exit(2)
    load_kb.cache_clear()
    summary["written"] = str(root / declared(device).verdict_file)
    typer.echo(json.dumps(summary) if as_json else "\n".join(f"{k}: {v}" for k, v in summary.items()))


@app.command("accept")
def accept_cmd(candidates: str = typer.Argument(..., help="OUT/.msagent/kb-candidates.yaml from a migration")) -> None:
    """Add the proven candidate entries a repair found to learned.yaml of your KB layer (in the
    user data folder; MSAGENT_DATA_DIR overrides it). The packaged KB is never written."""
    from agent.kb.store import kb_root, user_kb_root
    from agent.repair.learn import LEARNED_FILE, accept

    target = user_kb_root()
    result = accept(candidates, target, base_dirs=[kb_root()])
    typer.echo(f"accepted: {len(result.accepted)}")
    if result.accepted:
        typer.echo(f"written: {target / LEARNED_FILE}")
    for item in result.skipped:
        typer.echo(f"skipped: {item[0]}: {item[1]}")
