"""`msagent eval --ray ADDRESS`: spread the cases over a Ray cluster.

Each Ray actor keeps its own warm verification worker for all the cases it is handed, as
the local run does. Cases travel to the actor as their files (nodes share no disk), and
with --out the migrated trees travel back. Ray is an optional extra (`msagent[ray]`) and is
imported only here. Every node needs msagent and the frameworks installed.
ADDRESS is a cluster address (`ray://host:10001`, `auto`) or `local` for a fresh local instance.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from agent.evals.run import EvalSetupError, case_line, eval_verifier, progress_note, run_case
from agent.evals.score import Case, failed_case, load_case
from agent.write.trees import pack_tree, unpack_tree


def _import_ray():
    try:
        import ray
    except ImportError as exc:
        raise EvalSetupError("--ray needs Ray, an optional extra: install it with "
                             "`pip install -c constraints.txt ray` (or `pip install msagent[ray]`)") from exc
    return ray


class CaseRunner:
    """The body of a Ray actor: one warm worker, many cases, each in a fresh folder."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="msagent-ray-"))
        self.pool = None

    def run(self, name: str, files: dict[str, bytes], keep_out: bool) -> tuple[dict, dict[str, bytes] | None]:
        from agent.sandbox.pool import WorkerPool, WorkerStartError

        case_dir, out = self.root / "cases" / name, self.root / "out" / name
        shutil.rmtree(case_dir, ignore_errors=True)
        unpack_tree(files, case_dir)
        case = load_case(case_dir)
        if self.pool is None:  # started on the first case, kept warm for the rest
            pool = WorkerPool(1, factory=lambda: eval_verifier(case_dir.parent, out.parent))
            try:
                pool.start()
            except WorkerStartError as exc:
                pool.close()
                return failed_case(case, f"the verification worker did not start: {exc}", 0.0), None
            self.pool = pool
        with self.pool.worker() as w:
            result = run_case(case, w, out)
        tree = pack_tree(out) if keep_out and out.is_dir() else None
        shutil.rmtree(case_dir, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
        return result, tree

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        shutil.rmtree(self.root, ignore_errors=True)


def run_ray(cases: list[Case], address: str, jobs: int = 1, out_root: Path | None = None,
            quiet: bool = False) -> list[dict]:
    """Run CASES on Ray actors (JOBS of them, or one per cluster CPU when JOBS is 1); results in case order."""
    ray = _import_ray()
    from ray.util import ActorPool

    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=None if address == "local" else address, log_to_driver=False,
                     include_dashboard=False)
        except Exception as exc:
            raise EvalSetupError(f"cannot connect to the Ray cluster at {address}: {exc}") from exc
    actors = []
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        n = max(1, min(jobs if jobs > 1 else cpus, len(cases)))
        actor_class = ray.remote(num_cpus=1)(CaseRunner)
        actors = [actor_class.remote() for _ in range(n)]
        pool = ActorPool(actors)
        keep = out_root is not None
        jobs_in = [(c, pack_tree(c.path)) for c in cases]
        results = []
        for case, (result, tree) in zip(cases, pool.map(lambda a, job: a.run.remote(job[0].name, job[1], keep),
                                                        jobs_in)):
            if tree is not None:
                target = out_root / case.name
                shutil.rmtree(target, ignore_errors=True)
                unpack_tree(tree, target)
            if not quiet:
                progress_note(case_line(result))
            results.append(result)
        return results
    finally:
        for a in actors:
            try:
                ray.get(a.close.remote(), timeout=30)
            except Exception as exc:  # an actor that died has nothing left to close
                print(f"msagent: a Ray actor did not close cleanly: {exc}", file=sys.stderr)
            ray.kill(a)
        if started_here:
            ray.shutdown()
