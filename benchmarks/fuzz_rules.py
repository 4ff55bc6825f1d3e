"""Fuzz the rules stage: `translate_source` with the real KB on generated and mutated Python.

Inputs come from three sources, mixed: snippets of the eval corpus (evals/cases/*/repo/**.py:
its imports plus one top-level statement), the same snippets mutated (token swaps, deletions,
duplications and replacements, line edits, torch calls inserted as statements and inside
expressions), and programs generated from a small grammar over KB names (odd import styles,
look-alikes, in-place methods in expression positions, async, match, lambdas, walrus ...).

The property: on input libcst cannot parse, the only exception allowed is libcst's
ParserSyntaxError; on input it parses, no exception at all, and the output must parse (with
`ast` when the input did, else with libcst). Failures are shrunk line by line and token by token
and written to stderr (and to --save DIR).

Prints `fuzz_inputs: N`, `fuzz_failures: F`, `fuzz_unparsable: U`, the distinct failures and the
rate; exit code 1 when F > 0. `--jobs 2` spreads the checks over processes.
"""
from __future__ import annotations

import argparse
import ast
import io
import random
import re
import signal
import sys
import time
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import libcst as cst  # noqa: E402

from agent.kb.store import load_kb  # noqa: E402
from agent.rules.engine import translate_source  # noqa: E402

VALUES = ["x", "y", "1", "2", "-1", "0.5", "None", "True", "False", "(2, 3)", "[1, 2]", "'mean'", "dim", "x.shape",
          "*shape", "**kw", "lambda t: t", "f'{x}'", "x[0]", "x[:, 1]", "self.w", "torch.float32", "[*a]"]
TOKENS = ["(", ")", "[", "]", ":", ",", ".", "=", "==", "*", "**", "lambda", "await", "yield", "return", "not",
          "in", "if", "else", "async", "with", "as", "torch", "nn", "F", "self", "x", "0", "'s'", "\\", "@", ":=",
          "def", "class", "pass", "global", "del", "->", "..."]
IMPORTS = ["import torch", "import torch as t", "import torch.nn as nn", "from torch import nn",
           "import torch.nn.functional as F", "from torch.nn import functional as F", "from torch import *",
           "from torch.nn import Conv2d, Linear as Dense", "from torch import nn as N, Tensor", "import torch.nn",
           "import numpy as np", "from . import torch", "from torch.nn.modules import conv"]
INPLACE = ["x.add_(1)", "x.mul_(2)", "x.zero_()", "x.clamp_(min=0)", "self.w.data.fill_(0.5)", "x.relu_()"]
EXPR_CONTEXTS = ["y = {c}", "return {c}", "lambda: {c}", "[{c} for x in xs]", "print({c})", "assert {c}",
                 "if {c}: pass", "z = ({c}, {c})", "w = {{'k': {c}}}", "yield {c}", "(v := {c})", "await {c}",
                 "q = {c} if x else None", "x += {c}", "del {c}", "with {c} as h: pass", "f'{{{c}}}'",
                 "def g(a={c}): return a", "@{c}\ndef d(): pass", "a: torch.Tensor = {c}", "{c}.T.sum()"]


# -- material ------------------------------------------------------------------------------------------

def corpus_texts() -> list[str]:
    return [p.read_text() for p in sorted(ROOT.glob("evals/cases/*/repo/**/*.py"))]


def snippets(texts: list[str], max_lines: int = 30) -> list[str]:
    """Each corpus file's top-level imports plus one other top-level statement (small, valid);
    a long class comes as its header plus one method at a time, so the rules still see the base."""
    out = []
    for text in texts:
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        lines = text.splitlines(keepends=True)

        def span(node) -> str:
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            return "".join(lines[first - 1:node.end_lineno])

        imports = "".join(span(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)))
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno > max_lines:
                header = "".join(lines[min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1:node.lineno])
                out += [imports + "\n" + header + span(member) for member in node.body]
            else:
                out.append(imports + "\n" + span(node))
    return out


def calls(kb, rng: random.Random, count: int = 400) -> list[str]:
    """Torch calls: the KB probes' own code, plus calls built from entry names and signatures
    with arguments that may or may not bind."""
    out = [c.code for e in kb.entries if e.probe for c in e.probe.cases]
    entries = [e for e in kb.entries if e.kind != "attribute"]
    for _ in range(count):
        e = rng.choice(entries)
        name = rng.choice(e.names)
        if e.kind == "method":
            head = rng.choice(["x", "self.w", "x.float()", "t"]) + "." + name.rsplit(".", 1)[-1]
        else:
            head = name.replace("torch.nn.functional.", rng.choice(["F.", "torch.nn.functional."])) \
                if rng.random() < 0.5 else name
        params = _params(e.signature)
        args = [rng.choice(VALUES) for _ in range(rng.randint(0, min(3, len(params) + 1)))]
        kwargs = [f"{rng.choice(params + ['bogus', 'inplace', 'dim'])}={rng.choice(VALUES[:12])}"
                  for _ in range(rng.randint(0, 2))] if params else []
        out.append(f"{head}({', '.join(args + kwargs)})")
    return out


def _params(signature: str | None) -> list[str]:
    try:
        fn = ast.parse(f"def f{signature or '()'}: pass").body[0]
    except SyntaxError:
        return []
    a = fn.args
    return [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]


# -- mutations -----------------------------------------------------------------------------------------

def _tokens(text: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of the significant tokens, as far as tokenize gets."""
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type in (tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER,
                            tokenize.COMMENT):
                continue
            (r0, c0), (r1, c1) = tok.start, tok.end
            out.append((starts[r0 - 1] + c0, starts[r1 - 1] + c1))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return out


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def mutate(text: str, op: str, k: int, material: list[str]) -> str:
    """Apply one mutation; `k` picks the position and the material, deterministically."""
    lines = text.splitlines(keepends=True) or ["\n"]
    i = k % len(lines)
    call = material[k % len(material)]
    if op == "delete_line":
        return "".join(lines[:i] + lines[i + 1:])
    if op == "duplicate_line":
        return "".join(lines[:i + 1] + lines[i:])
    if op == "indent_line":
        return "".join(lines[:i] + ["    " + lines[i]] + lines[i + 1:])
    if op == "insert_call":  # a torch call as a statement, at the indentation of the line it precedes
        return "".join(lines[:i] + [f"{_indent(lines[i])}v{k % 7} = {call}\n"] + lines[i:])
    if op == "insert_context":  # a torch or in-place call inside an expression position
        c = INPLACE[k % len(INPLACE)] if k % 3 == 0 else call
        stmt = EXPR_CONTEXTS[k % len(EXPR_CONTEXTS)].format(c=c)
        ind = _indent(lines[i])
        return "".join(lines[:i] + [ind + s + "\n" for s in stmt.split("\n")] + lines[i:])
    toks = _tokens(text)
    if not toks:
        return text + call + "\n"
    j = k % len(toks)
    s, e = toks[j]
    if op == "swap" and j + 1 < len(toks):
        s2, e2 = toks[j + 1]
        return text[:s] + text[s2:e2] + text[e:s2] + text[s:e] + text[e2:]
    if op == "delete":
        return text[:s] + text[e:]
    if op == "duplicate":
        return text[:e] + " " + text[s:e] + text[e:]
    if op == "replace":
        return text[:s] + TOKENS[k % len(TOKENS)] + text[e:]
    if op == "call_for_name":  # a name replaced by a whole call: calls nested in calls, attributes of calls
        return text[:s] + call + text[e:]
    return text


OPS = ["swap", "delete", "duplicate", "replace", "call_for_name", "delete_line", "duplicate_line", "indent_line",
       "insert_call", "insert_context"]


# -- generated programs ----------------------------------------------------------------------------------

def program(rng: random.Random, material: list[str], layers: list[str]) -> str:
    """A small module from the grammar: imports in odd styles, module classes, look-alikes."""
    out = [rng.choice(IMPORTS) for _ in range(rng.randint(1, 3))]
    for n in range(rng.randint(1, 3)):
        kind = rng.random()
        if kind < 0.5:
            base = rng.choice(["nn.Module", "torch.nn.Module", "N.Module", "Base", "nn.Sequential", "object"])
            out += [f"class M{n}({base}):", "    def __init__(self, c=4):", "        super().__init__()"]
            out += [f"        self.l{m} = {rng.choice(layers)}" for m in range(rng.randint(0, 3))]
            out += [f"    {rng.choice(['', 'async '])}def forward(self, x, *a, **kw):"]
            out += ["        " + _statement(rng, material) for _ in range(rng.randint(1, 4))]
            out += ["        return x"]
        elif kind < 0.75:
            params = rng.choice(["x", "x, torch=None", "x, nn=0", "self, x", "x, /, dim=1, *, out=None"])
            out += [f"def f{n}({params}):"] + ["    " + _statement(rng, material) for _ in range(rng.randint(1, 4))]
            out += ["    return x"]
        else:
            out += [_statement(rng, material).replace("\n", "\n")]
    return "\n".join(out) + "\n"


def _statement(rng: random.Random, material: list[str]) -> str:
    c = rng.choice(INPLACE) if rng.random() < 0.25 else rng.choice(material)
    templates = ["x = {c}", "{c}", "y = {c}.view(-1)", "x = [{c} for _ in range(2)][0]", "x = (lambda t: {c})(x)",
                 "if (z := {c}) is not None: x = z", "x, y = {c}, {c}", "x = {c} if x is not None else x",
                 "torch = None", "nn = F = None", "x = x.size(); x = x", "del y", "x @= {c}",
                 "match x:\n    case torch.Tensor(): x = {c}\n    case _: pass"]
    stmt = rng.choice(templates).format(c=c)
    # statements spanning lines keep the indentation of the first one
    return stmt.replace("\n", "\n" + " " * 8)


MAX_SHRUNK = 8  # distinct failures shrunk and shown; shrinking costs up to 300 rules passes each


# -- the property --------------------------------------------------------------------------------------

class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def check(text: str, kb, device: str = "cpu", limit_s: int = 30) -> str | None:
    """None when the rules behave on this input, else a one-line description of the failure."""
    return run_one(text, kb, device, limit_s)[0]


def run_one(text: str, kb, device: str = "cpu", limit_s: int = 30) -> tuple[str | None, bool]:
    """(failure or None, whether libcst parses the input)."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(limit_s)
    try:
        result = translate_source(text, kb, device)
    except cst.ParserSyntaxError:
        parsable = _cst_parses(text)
        return (None if not parsable else "ParserSyntaxError on input libcst parses"), parsable
    except _Timeout:
        return f"no result after {limit_s}s", _cst_parses(text)
    except Exception as exc:  # noqa: BLE001 - every other exception is the failure we hunt
        parsable = _cst_parses(text)
        kind = "on parsable input" if parsable else "on unparsable input"
        return f"{type(exc).__name__} {kind}: {_first_line(exc)}", parsable
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    try:
        ast.parse(text)
        ast_ok = True
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        ast_ok = False
    try:
        ast.parse(result.code) if ast_ok else cst.parse_module(result.code)
    except Exception as exc:  # noqa: BLE001
        return f"output does not parse: {type(exc).__name__}: {_first_line(exc)}", True
    return None, True


def _cst_parses(text: str) -> bool:
    try:
        cst.parse_module(text)
    except Exception:  # noqa: BLE001 - libcst refusing input in any way makes it unparsable input
        return False
    return True


def _first_line(exc: BaseException) -> str:
    """The message's first line without positions, so one bug is one failure however it moves."""
    text = str(exc).splitlines()[0][:160] if str(exc).strip() else ""
    return re.sub(r"line \d+|@ \d+:\d+|\(<unknown>, line N\)", "", re.sub(r"line \d+", "line N", text)).strip()


def shrink(text: str, failure: str, kb, device: str = "cpu", budget: int = 300) -> str:
    """Smaller input with the same failure: drop lines, then tokens, while it still fails alike."""
    def same(candidate: str) -> bool:
        nonlocal budget
        budget -= 1
        return budget > 0 and check(candidate, kb, device) == failure

    for unit in ("lines", "tokens"):
        changed = True
        while changed and budget > 0:
            changed = False
            spans = _line_spans(text) if unit == "lines" else _tokens(text)
            for s, e in reversed(spans):
                candidate = text[:s] + text[e:]
                if same(candidate):
                    text, changed = candidate, True
                    break
    return text


def _line_spans(text: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for line in text.splitlines(keepends=True):
        spans.append((pos, pos + len(line)))
        pos += len(line)
    return spans


def inputs(count: int, seed: int, kb):
    """`count` inputs: 1 in 10 a corpus snippet as it is, 7 in 10 a mutated snippet, 2 in 10 a
    generated program. Mutations are cheap (most do not parse), the other two cost a full rules pass."""
    rng = random.Random(seed)
    snips = snippets(corpus_texts())
    material = calls(kb, rng)
    layers = [c for c in material if c.split("(")[0].rsplit(".", 1)[-1][:1].isupper()] or material
    for n in range(count):
        r = n % 10
        if r == 0:
            yield rng.choice(snips)
        elif r < 8:
            text = rng.choice(snips)
            for _ in range(rng.randint(1, 4)):
                text = mutate(text, rng.choice(OPS), rng.randrange(1 << 30), material)
            yield text
        else:
            yield program(rng, material, layers)


_KB = None


def _work(job: tuple[int, str, str]) -> tuple[int, str, str, str | None, bool]:
    global _KB
    if _KB is None:
        _KB = load_kb()
    n, device, text = job
    failure, parsable = run_one(text, _KB, device)
    return n, device, text, failure, parsable


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--inputs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="processes checking inputs in parallel")
    parser.add_argument("--save", type=Path, help="write each shrunk failing input here")
    args = parser.parse_args()
    kb = load_kb()
    devices = ["cpu", "cpu", "gpu", "ascend"]
    jobs = ((n, devices[n % len(devices)], text) for n, text in enumerate(inputs(args.inputs, args.seed, kb)))
    start = time.perf_counter()
    failures: dict[str, str] = {}  # failure -> shrunk input (one per distinct failure)
    failed = unparsable = total = 0
    if args.jobs > 1:
        import multiprocessing

        pool = multiprocessing.get_context("fork").Pool(args.jobs)
        results = pool.imap_unordered(_work, jobs, chunksize=16)
    else:
        pool, results = None, map(_work, jobs)
    for _n, device, text, failure, parsable in results:
        total += 1
        unparsable += not parsable
        if failure is None:
            continue
        failed += 1
        if failure not in failures and len(failures) < MAX_SHRUNK:
            failures[failure] = shrink(text, failure, kb, device)
            print(f"FAILURE ({device}): {failure}\n--- minimal input ---\n{failures[failure]}\n---", file=sys.stderr,
                  flush=True)
    if pool is not None:
        pool.close()
    seconds = time.perf_counter() - start
    if args.save and failures:
        args.save.mkdir(parents=True, exist_ok=True)
        for i, (failure, text) in enumerate(failures.items()):
            (args.save / f"failure_{i}.py").write_text(f"# {failure}\n{text}")
    print(f"fuzz_inputs: {total}")
    print(f"fuzz_failures: {failed}")
    print(f"fuzz_unparsable: {unparsable}")
    print(f"fuzz_distinct_failures: {len(failures)}")
    print(f"fuzz_inputs_per_s: {total / seconds:.1f} inputs/s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
