"""Text from the migrated code is data: a hostile file name or exception message cannot add
rows to the report's tables or close the PR comment's <details>, and credentials it quotes
(environment secrets, a PEM private key, whole or in pieces) do not reach the report."""
from __future__ import annotations

import re
import uuid

import pytest

from agent.bot.comment import comment_markdown, judge
from agent.report.markdown import render
from agent.report.schema import FileRecord, MarkerRecord, Report, UnitRecord
from agent.report.textsafe import REDACTED, md_cell, md_inline, redact, register_secret

markdown_it = pytest.importorskip("markdown_it")
from markdown_it.common.utils import escapeHtml  # noqa: E402

HOSTILE_FILE = "models/x|y`\n| injected | row |.py"


def pem_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def key_lines(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if line and "-----" not in line]


@pytest.fixture
def env_secret(monkeypatch) -> str:
    value = "sk-" + uuid.uuid4().hex
    monkeypatch.setenv("MSAGENT_TEST_API_TOKEN", value)
    return value


def hostile_report(key: str, secret: str) -> Report:
    reason = (f"RuntimeError: cannot load\n| fake | row | here |\n</details>\n{key}\ntoken={secret} "
              + "long " * 100)
    units = [UnitRecord(file=HOSTILE_FILE, name="Net", kind="module", status="failed", reason=reason),
             UnitRecord(file="ok.py", name="Fine", kind="module", status="verified-by-rules",
                        reason="6 trials matched")]
    files = [FileRecord(path=HOSTILE_FILE, status="translated", api_calls=2, api_converted=1,
                        markers=[MarkerRecord(line=3, reason="x\n## Errors\n- [click](http://evil) `code`")],
                        error=f"crashed with {secret}")]
    return Report(source="/src", output="/out", units=units, files=files,
                  errors=[f"worker said:\n{key}", "# not a heading"]).finish(1.0)


def tables(markdown: str) -> list[list[list[str]]]:
    """Each table's rows (header included) as cell texts, as a GFM renderer sees them."""
    tokens = markdown_it.MarkdownIt("commonmark").enable("table").parse(markdown)
    found, rows, row = [], [], []
    for i, tok in enumerate(tokens):
        if tok.type == "table_open":
            rows = []
        elif tok.type == "table_close":
            found.append(rows)
        elif tok.type == "tr_open":
            row = []
        elif tok.type == "tr_close":
            rows.append(row)
        elif tok.type == "inline" and tokens[i - 1].type in ("td_open", "th_open"):
            row.append(tok.content)
    return found


def html_blocks(markdown: str) -> list[str]:
    return [t.content for t in markdown_it.MarkdownIt("commonmark").parse(markdown) if t.type == "html_block"]


def test_the_markdown_report_keeps_hostile_text_in_its_cells(env_secret):
    key = pem_key()
    report = hostile_report(key, env_secret)
    text = render(report)
    [units] = tables(text)
    assert len(units) == 3, units  # header and two units: no injected row
    assert all(len(row) == 7 for row in units)  # unit, kind, status, level, max abs, rounds, reason
    hostile = units[1]
    assert hostile[0].replace("\\|", "|") == "``models/x|y` | injected | row |.py::Net``"  # one code span, one cell
    assert hostile[6].endswith("…") and len(hostile[6]) < 260
    assert "\\[redacted\\]" in hostile[6]  # escaped like any other bracket: renders as [redacted]
    assert env_secret not in text and "PRIVATE KEY" not in text
    assert not any(line in text for line in key_lines(key))
    assert not html_blocks(text)  # "</details>" stayed text
    assert "\n## Errors\n- [click]" not in text and text.count("\n## Errors\n") == 1
    assert "\n# not a heading" not in text


def test_the_json_report_is_redacted_when_finished(env_secret):
    key = pem_key()
    dumped = hostile_report(key, env_secret).model_dump_json()
    assert env_secret not in dumped and "PRIVATE KEY" not in dumped
    assert not any(line in dumped for line in key_lines(key))
    assert HOSTILE_FILE.replace("\n", "\\n") in dumped  # names are data in JSON: kept as they are


def test_the_pr_comment_keeps_hostile_text_inside_its_details(env_secret):
    key = pem_key()
    report = hostile_report(key, env_secret)
    body = comment_markdown(report, [HOSTILE_FILE, "ok.py"], judge(report, [HOSTILE_FILE, "ok.py"]), "f" * 40,
                            "octo/r@fffffff")
    assert body.count("</details>") == 1 and body.rstrip().endswith("</details>")
    summary, full = tables(body)
    assert len(summary) == 3 and len(full) == 3
    assert env_secret not in body and "PRIVATE KEY" not in body


def test_secret_looking_variables_are_redacted_and_others_kept():
    env = {"GITHUB_TOKEN": "ghs_abcdefgh1234", "DB_PASSWORD": "hunter22hunter", "AWS_SECRET_ACCESS_KEY": "wJalrXUt",
           "MY_CREDENTIALS": "c" * 12, "PRIVATE_THING": "p" * 9, "SHORT_KEY": "abc", "HOME": "/home/someone",
           "EDITOR_PATH": "/usr/bin/vim-editor"}
    text = " ".join(env.values())
    out = redact(text, env=env)
    for name in ("GITHUB_TOKEN", "DB_PASSWORD", "AWS_SECRET_ACCESS_KEY", "MY_CREDENTIALS", "PRIVATE_THING"):
        assert env[name] not in out
    assert out.count(REDACTED) == 5
    assert "abc" in out and "/home/someone" in out and "/usr/bin/vim-editor" in out
    assert redact("", env=env) == "" and redact("nothing here", env={}) == "nothing here"


def test_a_pem_key_is_caught_whole_in_pieces_and_as_a_repr():
    key = pem_key()
    assert redact(f"before {key} after", env={}) == f"before {REDACTED}\n after"
    head, tail = key[:120], key[-120:]  # printed in chunks: a BEGIN with its base64, a base64 run with END
    for piece in (head, tail, repr(head), repr(tail), repr(key)):
        out = redact(f"log: {piece} :end", env={})
        assert "PRIVATE KEY" not in out and out.endswith(" :end")
        assert not re.search(r"[A-Za-z0-9+/=]{40,}", out), out
    body = "x" * 30 + "-----BEGIN CERTIFICATE-----\n" + "A" * 64
    assert redact(body, env={}) == body  # certificates are public


def test_a_registered_key_is_caught_line_by_line():
    key = pem_key()
    lines = key_lines(key)
    assert redact(lines[1], env={}) == lines[1]  # a bare base64 line is nobody's business, until registered
    register_secret(key)
    out = redact(f"chunk 2: {lines[1]}\nchunk 3: {lines[2]}", env={})
    assert lines[1] not in out and lines[2] not in out and out.count(REDACTED) == 2
    webhook = "whsec-" + uuid.uuid4().hex
    register_secret(webhook.encode())
    assert redact(f"secret was {webhook}.", env={}) == f"secret was {REDACTED}."


@pytest.mark.parametrize("text,expected", [
    ("a|b", "a\\|b"),
    ("line\nbreak\r\tand tab", "line break  and tab"),
    ("`code` and \\", "\\`code\\` and \\\\"),
    ("<b>[x](y)</b>", "&lt;b&gt;\\[x\\](y)&lt;/b&gt;"),
    ("# title", "\\# title"),
    ("1. item", "1\\. item"),
    ("~~~", "\\~~~"),
    ("zero\u200bwidth\u202ebidi", "zerowidthbidi"),
])
def test_md_cell_escapes(text, expected):
    assert md_cell(text) == expected


def test_md_cell_truncates_after_redacting():
    secret = uuid.uuid4().hex + uuid.uuid4().hex
    register_secret(secret)
    out = md_cell(f"{'x' * 10} {secret} " + "y" * 300, limit=30)  # cut first, the secret's head would stay
    assert out == "xxxxxxxxxx \\[redacted\\] yyyyyyy…"
    assert md_cell("short", limit=30) == "short"


@pytest.mark.parametrize("name", ["plain/path.py", "a`b.py", "``x``", "a|b\n|c|.py", "`", "</details>", "a\\|b"])
def test_md_inline_is_one_code_span_in_a_list_and_in_a_table(name):
    shown = "<code>" + escapeHtml(name.replace("\n", " ")) + "</code>"
    table = markdown_it.MarkdownIt("commonmark").enable("table").render(
        f"| h |\n|---|\n| {md_inline(name, table=True)} |\n")
    assert table.count("<tr>") == 2 and table.count("<td>") == 1 and f"<td>{shown}</td>" in table, table
    listed = markdown_it.MarkdownIt("commonmark").render(f"- {md_inline(name)}: reason\n")
    assert listed.count("<li>") == 1 and f"<li>{shown}: reason</li>" in listed, listed
