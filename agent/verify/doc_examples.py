"""A file's docstring examples (`>>> m = Encoder(STFTFB(n_filters=256, kernel_size=256))`) as one module.

A library documents how its layers are built and called in doctest examples: the same evidence as a call
in its code, written by its authors for users. The examples of every docstring of a file, in file order,
become one module whose nodes carry the file's line numbers, so the spec search reads them as it reads
the repo's own calls (what is built with which arguments, and what it is then called on). Nothing here
runs them.
"""
from __future__ import annotations

import ast
import doctest

_PARSER = doctest.DocTestParser()


def _docstrings(tree: ast.Module):
    """(docstring, line of its first character) of the module, every class and every function."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                yield body[0].value.value, body[0].lineno


def doctest_module(tree: ast.Module) -> ast.Module | None:
    """Every parseable docstring example of TREE, in file order, as one module; None when there is none."""
    body: list[ast.stmt] = []
    for text, line in sorted(_docstrings(tree), key=lambda d: d[1]):
        if ">>>" not in text:
            continue
        try:
            examples = _PARSER.get_examples(text)
        except ValueError:  # inconsistent indentation in the docstring: no examples from it
            continue
        i = 0
        while i < len(examples):
            # a statement may run on past its `>>>` line (a closing bracket written as a new example): the
            # shortest run of examples from here that parses is one statement
            for j in range(i + 1, min(i + 6, len(examples)) + 1):
                try:
                    part = ast.parse("".join(ex.source for ex in examples[i:j]))
                    break
                except (SyntaxError, ValueError, RecursionError):
                    part = None
            if part is None:
                i += 1
                continue
            ast.increment_lineno(part, line + examples[i].lineno)
            body.extend(part.body)
            i = j
    return ast.Module(body=body, type_ignores=[]) if body else None
