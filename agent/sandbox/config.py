"""Settings for the verification worker and its sandbox."""
from __future__ import annotations

from pydantic import BaseModel, Field

DEFAULT_ENV_ALLOW = ["PATH", "LANG", "LC_ALL", "TZ", "PYTHONPATH", "OMP_NUM_THREADS", "GLOG_v"]


# The operations every worker offers (agent/sandbox/ops.py); a user of the pool registers its own beside them.
BUILTIN_OPERATIONS = {"noop": "agent.sandbox.ops:noop", "echo": "agent.sandbox.ops:echo",
                      "info": "agent.sandbox.ops:info"}


class WorkerConfig(BaseModel):
    """How one worker process is started and fenced in."""

    preload: list[str] = Field(
        default_factory=list,
        description="Modules imported once at worker start (e.g. ['torch', 'mindspore']) so calls do not pay for it.",
    )
    env_allow: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ENV_ALLOW),
        description="Names of parent environment variables passed through; a trailing '*' matches a prefix. "
        "Everything else (API keys, tokens, cloud credentials) is dropped.",
    )
    extra_env: dict[str, str] = Field(
        default_factory=dict,
        description="Variables set in the worker after the allow-list; PYTHONPATH here is prepended to the path.",
    )
    memory_limit_bytes: int | None = Field(
        default=8 * 2**30,
        description="Cap on the worker's private writable memory (RLIMIT_DATA); None for no cap.",
    )
    file_size_limit_bytes: int | None = Field(
        default=2 * 2**30, description="Largest file the worker may write (RLIMIT_FSIZE); None for no cap."
    )
    max_processes: int | None = Field(
        default=512,
        description="Most tasks (processes plus threads) in the worker's tree, enforced by a pids cgroup where "
        "one can be created, else by RLIMIT_NPROC (ignored for root).",
    )
    cpus: list[int] | None = Field(
        default=None, description="CPUs the worker and everything it forks may run on (sched_setaffinity); None: "
        "all of this process's. Lanes of `--jobs` get disjoint sets: a MindSpore runtime keeps a second thread "
        "busy, so unpinned lanes crowd each other's cores.",
    )
    timeout_s: float = Field(default=120.0, description="Wall-clock limit of one call when call() is given none.")
    start_timeout_s: float = Field(default=180.0, description="Wall-clock limit for the worker to start and preload.")
    network_isolation: bool = Field(
        default=True, description="Run the worker in its own network namespace (no network, not even loopback)."
    )
    fs_isolation: bool = Field(
        default=True, description="Run the worker in its own mount namespace with the paths below applied."
    )
    pid_isolation: bool = Field(
        default=True, description="Run the worker in its own pid namespace so it cannot see other processes."
    )
    read_only_paths: list[str] = Field(
        default_factory=lambda: ["/"],
        description="Paths (and the mounts below them) made read-only inside the worker; the worker's temp dir "
        "stays writable.",
    )
    hidden_paths: list[str] | None = Field(
        default=None,
        description="Paths covered by an empty tmpfs inside the worker; None means the caller's $HOME. A path "
        "holding the Python install, the agent package or the temp dir is never hidden.",
    )
    visible_paths: list[str] = Field(
        default_factory=list,
        description="Folders kept visible (read-only like the rest) even under a hidden path, e.g. the user's KB "
        "layer that `msagent kb verify` probes.",
    )
    temp_dir: str | None = Field(
        default=None, description="Parent folder for the worker's private temp dir; None uses the system default."
    )
    operations: dict[str, str] = Field(
        default_factory=lambda: dict(BUILTIN_OPERATIONS),
        description="The worker's registry: operation name -> 'module:function'. A request names an operation; "
        "a name not registered here is refused, in the caller and in the worker.",
    )


class SideConfig(WorkerConfig):
    """One side of a verification (the torch reference or the MindSpore candidate) in its own sandbox."""

    side: str = Field("echo", description="torch | mindspore | echo (a framework-free side for sandbox tests)")
    repo_paths: list[str] = Field(
        default_factory=list, description="Folders shown read-only in the side's view (the repository copy it runs).")
    hide_paths: list[str] = Field(
        default_factory=list, description="Paths inside the view covered by an empty folder (e.g. OUT/.msagent).")
    device: str = Field("cpu", description="The device a MindSpore side's sessions run on (set before any unit).")
    tmp_size: str = Field("2g", description="Size of the private /tmp and /dev/shm of the side.")
    max_reply_bytes: int = Field(4 * 2**30, description="Largest reply one call may send back.")
