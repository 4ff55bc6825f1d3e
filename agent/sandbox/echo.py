"""A side with no framework, for testing the sandbox itself: run a snippet, return what it says.

`run` executes `code` (a test's own hostile snippet) and returns the value its `result` variable
holds plus the arrays in its `arrays` list, exactly as a verification operation would.
"""
from __future__ import annotations


def run(args: dict, arrays: list):
    scope = {"inputs": arrays, "result": None, "arrays": []}
    exec(args["code"], scope)  # noqa: S102 - the sandbox under test runs it
    return scope["result"], scope["arrays"]


OPS = {"run": run}
