"""Render the Jinja prompt templates in prompts/; a variable the caller forgot is an error, never ''."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2

from agent.kb.schema import Entry


def prompts_root() -> Path:
    """prompts/ inside an installed wheel (agent/_data/prompts), else the checkout's."""
    packaged = Path(__file__).resolve().parents[1] / "_data" / "prompts"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "prompts"


@lru_cache(maxsize=4)
def _environment(root: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(root),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # prompts are plain text; escaping would mangle source code
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template_name: str, **variables) -> str:
    """Render prompts/<template_name> ('.j2' may be omitted); raises jinja2.UndefinedError on a missing variable."""
    name = template_name if template_name.endswith(".j2") else f"{template_name}.j2"
    env = _environment(str(prompts_root()))
    return env.get_template(name).render(**variables)


def chat(template_name: str, **variables) -> list[dict]:
    """The messages for one request: the shared system prompt, then the task template as the user turn."""
    return [
        {"role": "system", "content": render("system.j2")},
        {"role": "user", "content": render(template_name, **variables)},
    ]


def describe_kb_entry(entry: Entry, device: str) -> str:
    """One KB entry as the few lines a model needs: targets, renames, unsupported arguments, verdicts."""
    lines = [f"{entry.api}{entry.signature or ''}"]
    for t in entry.targets:
        verdict = t.verdicts.get(device)
        seen = f"{verdict.status} on {device}" if verdict else f"untested on {device}"
        lines.append(f"  -> {t.api} [{t.namespace}; {seen}]")
        if verdict and verdict.detail and verdict.status != "matched":
            lines.append(f"     observed: {verdict.detail}")
        if t.args:
            renames = ", ".join(f"{k}->{v if v is not None else '(dropped)'}" for k, v in t.args.items())
            lines.append(f"     arguments: {renames}")
        if t.values:
            lines.append("     values: " + ", ".join(f"{k}: {v}" for k, v in t.values.items()))
        if t.defaults:
            lines.append("     add: " + ", ".join(f"{k}={v}" for k, v in t.defaults.items()))
        for arg, reason in t.unsupported.items():
            lines.append(f"     unsupported {arg}: {reason}")
        if t.notes:
            lines.append(f"     note: {t.notes}")
    if not entry.targets:
        lines.append("  (no MindSpore equivalent recorded)")
    if entry.notes:
        lines.append(f"  note: {entry.notes}")
    return "\n".join(lines)
