"""Shared fixtures: one warm verification worker for the tests that migrate small repos."""
import pytest

from agent.config import MigrateSettings
from agent.repair.loop import worker_config
from agent.sandbox.pool import Worker


@pytest.fixture(scope="session")
def shared_worker(tmp_path_factory):
    """A started worker (torch and MindSpore preloaded) reused across test files: ~4 s saved per file."""
    base = tmp_path_factory.mktemp("shared-worker")
    with Worker(worker_config(base, base, MigrateSettings())) as worker:
        yield worker


@pytest.fixture(scope="session")
def worker(shared_worker):
    """The shared warm worker, under the name the repair tests use (a module may define its own)."""
    return shared_worker
