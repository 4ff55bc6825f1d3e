"""Shared fixtures: one warm verifier (torch and MindSpore sides) for the tests that migrate small repos."""
import atexit
import os
import shutil
import tempfile

import pytest

from tests.support.verify import shared

# The suite never reads or writes the user's own KB layer (learned entries, recorded verdicts):
# a private data folder for this run, inherited by every CLI the tests start.
_DATA_DIR = tempfile.mkdtemp(prefix="msagent-test-data-")
os.environ["MSAGENT_DATA_DIR"] = _DATA_DIR
atexit.register(shutil.rmtree, _DATA_DIR, True)

# On a host where the verification sandbox cannot be built msagent refuses to verify unless told
# to go without it: the suite then runs unsandboxed, as it did before that refusal existed
# (tests/test_sandbox_refusal.py clears this to check the refusal itself).
if not os.environ.get("MSAGENT_SANDBOX_FORCE_UNAVAILABLE"):
    from agent.sandbox.isolation import sandbox_missing

    if sandbox_missing():
        os.environ["MSAGENT_ALLOW_UNSANDBOXED"] = "1"


@pytest.fixture(scope="session")
def shared_verifier():
    """Started sides, reused across test files: ~3 s saved per file."""
    return shared()


@pytest.fixture(scope="session")
def worker(shared_verifier):
    """The shared verifier, under the name the repair tests use (a module may define its own)."""
    return shared_verifier
