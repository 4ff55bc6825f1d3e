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



@pytest.fixture(scope="session")
def shared_verifier():
    """Started sides, reused across test files: ~3 s saved per file."""
    return shared()


@pytest.fixture(scope="session")
def worker(shared_verifier):
    """The shared verifier, under the name the repair tests use (a module may define its own)."""
    return shared_verifier
