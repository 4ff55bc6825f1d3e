"""`msagent migrate --ray ADDRESS`: the lanes of `--jobs`, as Ray actors on a cluster's workers.

The main process keeps what it keeps with local lanes: the rules translation, the journal, the
report (units in the order found) and progress. Each actor (`FileLane`) holds one verifier,
created inside the actor, and a UnitRunner over its own copies of SRC and OUT: the trees travel
to it once (nodes share no disk), together with the KB, the settings and what the translation
found (sources, outputs, units). The actor is then handed a file at a time, with the OUT files
rewritten since it was packed, and runs the file's units in order; each unit's record and the OUT
files it rewrote (repairs, retranslations) come back, and the main process journals them and
writes them into OUT atomically. Other actors see such a rewrite from their next file on (local
lanes see it at once): one file's repairs are visible to the units of the files handed out after.

Each actor asks for one CPU, and one GPU (`--device gpu`) or one unit of the custom resource
`NPU` (`--device ascend`: start Ascend nodes with `ray start --resources '{"NPU": 8}'`).
`runtime_env_for` says how the actors get msagent and the frameworks. Ray is an optional extra
(`pip install 'msagent[ray]'`), imported only here.
"""
from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import sys
import tempfile
from collections import deque
from pathlib import Path

from agent.verify.devices import device as declared

RAY_HINT = "--ray needs Ray, an optional extra: pip install 'msagent[ray]' -c constraints.txt"
# OUT files that are msagent's own, not the migrated repository's: they stay in the main process
_OWN = re.compile(r"^(\.msagent/|msagent-report\.(json|md)$)")


def ray_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def device_resources(device: str) -> dict:
    """The Ray resources of one actor: a CPU, and the accelerator `--device` verifies on."""
    need = declared(device).accelerator
    if need == "GPU":
        return {"num_cpus": 1, "num_gpus": 1}
    return {"num_cpus": 1, "resources": {need: 1}} if need else {"num_cpus": 1}


def pinned_requirements(constraints: Path | None = None) -> list[str]:
    """msagent's dependencies and its `frameworks` extra, each pinned by constraints.txt where it names them."""
    if constraints is None:
        constraints = Path(__file__).resolve().parents[2] / "constraints.txt"  # a source checkout has it
    pins = {}
    if constraints.is_file():
        for line in constraints.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                pins[re.split(r"[<>=!~\[; ]", line, 1)[0].lower()] = line
    try:
        declared = importlib.metadata.requires("msagent") or []
    except importlib.metadata.PackageNotFoundError:  # a checkout on sys.path, not installed: the pins alone
        declared = list(pins.values())
    reqs = []
    for req in declared:
        spec, _, marker = req.partition(";")
        if marker and "frameworks" not in marker:
            continue
        name = re.split(r"[<>=!~\[ ]", spec.strip(), 1)[0].lower()
        reqs.append(pins.get(name, spec.strip()))
    return reqs


def runtime_env_for(same_machine: bool, env_vars: dict[str, str] | None = None,
                    python: str = sys.executable) -> dict:
    """How the actors get msagent and the pinned frameworks.

    Every node on this machine (a local test cluster): this very interpreter (`py_executable`), whose
    environment already has them; nothing is installed. A cluster with other machines: Ray uploads
    this `agent` package (`py_modules`) and installs its dependencies and the frameworks with pip,
    pinned as constraints.txt pins them, into a cached virtual environment on each node.
    """
    env: dict = {"env_vars": dict(env_vars or {})}
    if same_machine:
        env["py_executable"] = python
    else:
        env["py_modules"] = [str(Path(__file__).resolve().parents[1])]
        env["pip"] = {"packages": pinned_requirements(), "pip_check": False}
    return env


def _pack(root: Path, skip=None) -> dict[str, bytes]:
    from agent.write.trees import pack_tree

    return {rel: data for rel, data in pack_tree(root).items() if not (skip and skip.match(rel))}


class FileLane:
    """The body of a Ray actor: a UnitRunner with its own verifier over copies of SRC and OUT."""

    def __init__(self, src_files: dict, out_files: dict, kb, settings_json: str, found: dict, shown: dict):
        from agent.config import MigrateSettings
        from agent.kb.retrieve import nearest_candidate
        from agent.repair.translated import Translated
        from agent.write.trees import unpack_tree

        self.root = Path(tempfile.mkdtemp(prefix="msagent-ray-"))
        self.src, self.out = self.root / "src", self.root / "out"
        self.src.mkdir()
        self.out.mkdir()
        unpack_tree(src_files, self.src)
        unpack_tree(out_files, self.out)
        self.kb = kb
        self.settings = MigrateSettings.model_validate_json(settings_json)
        self.translated = Translated(units=found["units"], sources=found["sources"], outputs=dict(found["outputs"]),
                                     module_classes=found["module_classes"], nearest=nearest_candidate(kb))
        # the paths this actor's records would name, as the main process names them
        self.shown = [(str(self.src.resolve()), shown["src"]), (str(self.out.resolve()), shown["out"])]
        self.runner = None

    def start(self) -> dict:
        """Start the verifier (a torch and a MindSpore side); its isolation for the report."""
        from agent.repair.loop import UnitRunner

        self.runner = UnitRunner(self.src, self.out, self.kb, self.settings, self.translated)
        return self.runner.isolation

    def take(self, changed: dict[str, str]) -> None:
        """A new file is coming: bring OUT up to date with what other lanes rewrote meanwhile."""
        from agent.write.atomic import write_text

        fresh = {rel: text for rel, text in changed.items() if self.translated.outputs.get(rel) != text}
        for rel, text in fresh.items():
            write_text(self.out / rel, text)
            self.translated.outputs[rel] = text
        if fresh:
            self.runner.state.rewrites += 1  # the MindSpore side starts afresh on the new OUT

    def unit(self, i: int) -> tuple[dict, dict[str, str]]:
        from agent.repair.loop import run_unit

        record, files = run_unit(self.runner, self.translated.units[i])
        return self._shown(record), files

    def _shown(self, value):
        if isinstance(value, str):
            for here, there in self.shown:
                value = value.replace(here, there)
            return value
        if isinstance(value, dict):
            return {k: self._shown(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._shown(v) for v in value]
        return value

    def close(self) -> None:
        try:
            if self.runner is not None:
                self.runner.close()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _connect(ray, address: str) -> bool:
    from agent.config import UsageError

    if ray.is_initialized():
        return False
    host, _, port = address.rpartition(":")
    if host and port.isdigit() and "://" not in address:  # a GCS address: Ray would retry a dead one for minutes
        import socket

        try:
            socket.create_connection((host, int(port)), timeout=10).close()
        except OSError as exc:
            raise UsageError(f"cannot connect to the Ray cluster at {address}: {exc.strerror or exc}") from exc
    try:
        ray.init(address=None if address == "local" else address, log_to_driver=False, include_dashboard=False,
                 logging_level="WARNING")
    except Exception as exc:
        raise UsageError(f"cannot connect to the Ray cluster at {address}: {exc}") from exc
    return True


def _same_machine(ray) -> bool:
    """Whether every live node of the cluster is this machine (a local test cluster)."""
    here = ray.util.get_node_ip_address()
    return all(n["NodeManagerAddress"] == here or n["NodeManagerAddress"].startswith("127.")
               for n in ray.nodes() if n.get("Alive"))


def _why(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[-1]


def verify_on_ray(address: str, src: Path, out: Path, kb, settings, translated, todo: list[int], journal, report,
                  progress, finished) -> None:
    """Run the units `todo` (indexes into translated.units) on Ray actors, a file's units on one actor in
    their order; journal, write and report each result here as it comes."""
    from agent.config import UsageError
    from agent.sandbox.isolation import ALLOW_UNSANDBOXED_ENV
    from agent.write.atomic import write_text

    try:
        import ray
    except ImportError as exc:
        raise UsageError(RAY_HINT) from exc
    units = translated.units
    by_file: dict[str, list[int]] = {}
    for i in todo:
        by_file.setdefault(units[i].file, []).append(i)
    if not by_file:  # every unit came from the journal
        return
    started_here = _connect(ray, address)
    actors: list = []
    try:
        resources = device_resources(settings.device)
        have = ray.cluster_resources()
        need = declared(settings.device).accelerator
        slots = have.get(need or "CPU", 0)
        if slots < 1:
            raise UsageError(f"--device {settings.device} needs a {need or 'CPU'} and the Ray cluster at {address} has none")
        env_vars = {k: os.environ[k] for k in (ALLOW_UNSANDBOXED_ENV, settings.llm and settings.llm.api_key_env,
                                                "OPENAI_API_KEY") if k and os.environ.get(k)}
        lane_class = ray.remote(max_restarts=0, **resources)(FileLane).options(
            runtime_env=runtime_env_for(_same_machine(ray), env_vars))
        found = {"units": units, "sources": translated.sources, "outputs": translated.outputs,
                 "module_classes": translated.module_classes}
        shared = [ray.put(x) for x in (_pack(src), _pack(out, _OWN), kb, settings.model_dump_json(), found)]
        n = max(1, min(int(slots), len(by_file)))
        actors = [lane_class.remote(*shared, {"src": str(src), "out": str(out)}) for _ in range(n)]
        starts = [a.start.remote() for a in actors]
        ready, why = [], []
        for actor, ref in zip(actors, starts):
            try:
                isolation = ray.get(ref)
                ready.append(actor)
                report.sandbox = report.sandbox or isolation
            except Exception as exc:  # a lane that does not start leaves its files to the others
                why.append(_why(exc))
        if not ready:
            from agent.report.schema import UnitRecord

            report.errors.append("verification worker did not start on the Ray cluster (are torch and mindspore "
                                 f"installed there? pip install 'msagent[frameworks]' -c constraints.txt): {why[0]}")
            for i in todo:
                finished(i, UnitRecord(file=units[i].file, name=units[i].name, kind=units[i].kind,
                                       status="not-exercised", reason="the verification worker did not start")
                         .model_dump())
            return
        for w in why:
            report.notes.append(f"a Ray verification lane did not start ({w}); the other lanes verified its files")
        if report.sandbox.get("unsandboxed"):
            from agent.sandbox.isolation import UNSANDBOXED_NOTE

            report.notes.append(UNSANDBOXED_NOTE)
        _schedule(ray, ready, deque(by_file.values()), units, journal, out, translated, progress, finished, report,
                  write_text)
        closing = [a.close.remote() for a in actors]  # each stops its verifier and removes its copies
        ray.wait(closing, num_returns=len(closing), timeout=30)
    finally:  # interrupted or not: no actor outlives the run
        for a in actors:
            ray.kill(a)
        if started_here:
            ray.shutdown()


def _schedule(ray, actors: list, groups: deque, units, journal, out: Path, translated, progress, finished, report,
              write_text) -> None:
    """Hand each idle actor the next file; take results as they come. An actor that dies gives its
    file's unfinished units back to the queue."""
    changed: dict[str, str] = {}  # OUT files rewritten since the actors got OUT
    inflight: dict = {}  # ref -> (actor, unit index)
    queued: dict = {}  # actor -> unit indexes submitted, not yet finished
    idle = list(actors)

    def hand_out() -> None:
        while idle and groups:
            actor, group = idle.pop(0), groups.popleft()
            actor.take.remote(dict(changed))
            queued[actor] = list(group)
            for i in group:
                inflight[actor.unit.remote(i)] = (actor, i)
            if progress:
                progress.unit(units[group[0]].key)

    hand_out()
    while inflight:
        done, _ = ray.wait(list(inflight), num_returns=1, timeout=1.0)
        if not done:
            continue
        ref = done[0]
        actor, i = inflight.pop(ref)
        try:
            record, files = ray.get(ref)
        except ray.exceptions.RayActorError as exc:  # the node or the actor went away: others take its file
            left = queued.pop(actor, [])
            for r in [r for r, (a, _) in inflight.items() if a is actor]:
                inflight.pop(r)
            actors.remove(actor)
            if not actors:
                raise RuntimeError(f"every Ray verification lane died; the last: {_why(exc)}") from exc
            report.notes.append(f"a Ray verification lane died ({_why(exc)}); the other lanes verified its files")
            groups.appendleft(left)
            hand_out()
            continue
        for rel, text in files.items():
            write_text(out / rel, text)
            translated.outputs[rel] = text
            changed[rel] = text
        journal.record(units[i].key, record, files=files)
        finished(i, record)
        queued[actor].remove(i)
        if queued[actor]:
            if progress:
                progress.unit(units[queued[actor][0]].key)
        else:
            queued.pop(actor)
            idle.append(actor)
            hand_out()
