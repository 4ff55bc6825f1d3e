"""Shared fixtures: one warm verifier (torch and MindSpore sides) for the tests that migrate small repos."""
import pytest

from tests.support.verify import shared


@pytest.fixture(scope="session")
def shared_verifier():
    """Started sides, reused across test files: ~3 s saved per file."""
    return shared()


@pytest.fixture(scope="session")
def worker(shared_verifier):
    """The shared verifier, under the name the repair tests use (a module may define its own)."""
    return shared_verifier
