"""Take code out of a model's reply, and check it does not lean on torch.

Replies are asked for ONE fenced Python block holding the whole module. When a reply has
several, the blocks labelled python (```python, ```py, ```python3) win over unlabelled ones,
and among them the largest is taken: models often add a short usage snippet after the module,
and the module is the long block. A block whose closing fence never comes (a reply cut off by
max_tokens) is not code anyone should run, so it does not count.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from agent.scan.names import parse_python

_PYTHON_LABELS = {"python", "py", "python3", "py3"}
_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\s]*)[^`]*$")

# Top-level modules that are torch or pull it in on import.
TORCH_MODULES = {"torch", "torchvision", "torchaudio", "torchtext", "functorch", "torch_npu"}


class NoCodeBlock(ValueError):
    """The reply holds no complete fenced Python block."""


class CodeSyntaxError(ValueError):
    """Code that does not parse; `line` and `offset` point at the problem."""

    def __init__(self, message: str, line: int | None, offset: int | None):
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line
        self.offset = offset


@dataclass(frozen=True)
class Block:
    lang: str  # the fence's info word, lower-cased; "" when unlabelled
    code: str
    closed: bool


def fenced_blocks(text: str) -> list[Block]:
    """Every fenced block in reading order, with its label. Nested fences are not recognised."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        fence, indent = m["fence"], len(m["indent"])
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            body.append(_dedent_line(lines[j], indent))
            j += 1
        code = "\n".join(body)
        blocks.append(Block(m["info"].lower(), code + "\n" if code else "", closed=j < len(lines)))
        i = j + 1
    return blocks


def _dedent_line(line: str, indent: int) -> str:
    # A fence indented inside a list item indents its body too; strip up to that much.
    k = 0
    while k < indent and k < len(line) and line[k] in " \t":
        k += 1
    return line[k:]


def extract_block(text: str, labels: set[str]) -> str:
    """The largest closed block labelled with one of `labels`, else the largest unlabelled one."""
    closed = [b for b in fenced_blocks(text) if b.closed and b.code.strip()]
    for pool in ([b for b in closed if b.lang in labels], [b for b in closed if b.lang == ""]):
        if pool:
            return max(pool, key=lambda b: len(b.code)).code
    if any(not b.closed for b in fenced_blocks(text)):
        raise NoCodeBlock("the reply's code block is not closed (reply cut off?)")
    raise NoCodeBlock(f"the reply holds no fenced block labelled {'/'.join(sorted(labels))} or unlabelled")


def extract_python_block(text: str) -> str:
    """The module source from a reply; raises NoCodeBlock. See the module docstring for the choice."""
    return extract_block(text, _PYTHON_LABELS)


def parse_module(code: str) -> ast.Module:
    try:
        return parse_python(code)
    except SyntaxError as exc:
        raise CodeSyntaxError(exc.msg, exc.lineno, exc.offset) from exc
    except (ValueError, RecursionError) as exc:
        raise CodeSyntaxError(f"cannot parse: {type(exc).__name__}", None, None) from exc


def _is_torch(module_name: str | None) -> bool:
    return bool(module_name) and module_name.split(".")[0] in TORCH_MODULES


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


class _TorchFinder(ast.NodeVisitor):
    def __init__(self) -> None:
        self.found: list[tuple[int, str]] = []

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if _is_torch(alias.name):
                self.found.append((node.lineno, f"import {alias.name}"))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and _is_torch(node.module):
            self.found.append((node.lineno, f"from {node.module} import ..."))

    def visit_Call(self, node: ast.Call) -> None:
        # __import__("torch") and importlib.import_module("torch.nn") dodge the import statement.
        name = _dotted(node.func)
        if name in ("__import__", "importlib.import_module", "import_module") and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and _is_torch(arg.value):
                self.found.append((node.lineno, f"{name}({arg.value!r})"))
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        name = _dotted(node)
        if name is not None and _is_torch(name):
            self.found.append((node.lineno, f"uses {name}"))
            return  # the outermost chain says it all
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in TORCH_MODULES:
            self.found.append((node.lineno, f"uses {node.id}"))


def check_no_torch(code: str) -> list[str]:
    """Every torch import and reference in `code` as 'line N: ...', in line order; [] when clean.

    Raises CodeSyntaxError when the code does not parse.
    """
    finder = _TorchFinder()
    finder.visit(parse_module(code))
    seen: set[tuple[int, str]] = set()
    out = []
    for line, what in sorted(finder.found):
        if (line, what) not in seen:
            seen.add((line, what))
            out.append(f"line {line}: {what}")
    return out
