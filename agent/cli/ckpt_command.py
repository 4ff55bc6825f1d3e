"""`msagent convert-ckpt CKPT --report OUT/msagent-report.json -o FILE` (registered in main.py)."""
from __future__ import annotations

import json
from pathlib import Path

import typer


def convert_ckpt(
    ckpt: Path = typer.Argument(..., help="torch state dict: .pt/.pth (loaded with weights_only=True) or .safetensors"),
    report: Path = typer.Option(..., "--report", help="msagent-report.json of the migration"),
    output: Path = typer.Option(..., "-o", "--output", help="MindSpore checkpoint to write (.ckpt, or .safetensors)"),
    unit: str = typer.Option(None, "--unit", help="the unit whose weight map to use (default: the one covering the checkpoint)"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    """Convert a PyTorch checkpoint through the report's verified weight maps. Imports torch and
    MindSpore in this process (reading and writing checkpoints is a framework operation)."""
    from agent.ckpt.convert import ConvertError, convert_checkpoint

    for p, what in ((ckpt, "checkpoint"), (report, "report")):
        if not p.is_file():
            typer.echo(f"error: {what} {p} not found", err=True)
            raise typer.Exit(2)
    try:
        summary = convert_checkpoint(ckpt, report, output, unit)
    except (ConvertError, json.JSONDecodeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        typer.echo(f"{summary['tensors_out']} tensors from unit {summary['unit']} -> {summary['output']}"
                   f" ({summary['transformed']} re-laid out, {len(summary['dropped'])} torch-only dropped)")
