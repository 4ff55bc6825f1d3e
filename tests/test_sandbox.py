"""The worker protocol, arrays, pool and environment, through real worker processes."""
from __future__ import annotations

import textwrap
import time
import threading

import numpy as np
import pytest

from agent.sandbox.arrays import load_array, save_array
from agent.sandbox.pool import Worker, WorkerConfig, WorkerPool
from agent.sandbox.worker import handle
from tests.support.operations import registry

OPS = textwrap.dedent('''
    import os, sys
    import numpy as np
    from agent.sandbox.arrays import load_array, save_array

    def numpy_scalars():
        return {"f": np.float32(1.5), "i": np.int64(7), "b": np.bool_(True), "t": (1, 2), "zero_d": np.array(3.0)}

    def not_serialisable():
        return object()

    def raises(message):
        raise ValueError(message)

    def chatty(n):
        for i in range(n):
            print("noise", i, '{"id": 999, "ok": true}')
        os.write(1, b"raw fd 1 write\\n")
        sys.stdout.flush()
        return n

    def read_stdin():
        return sys.stdin.read()

    def exits():
        sys.exit(5)

    def double(path):
        return save_array("doubled", load_array(path) * 2)

    def env():
        return dict(os.environ)
''')


@pytest.fixture()
def ops_config(tmp_path) -> WorkerConfig:
    (tmp_path / "msagent_sbx_ops.py").write_text(OPS)
    operations = {**registry("msagent_sbx_ops", OPS, "missing_function"), "late": "msagent_sbx_ops_late:f"}
    return WorkerConfig(operations=operations, extra_env={"PYTHONPATH": str(tmp_path)}, timeout_s=30)


@pytest.fixture()
def worker(ops_config):
    with Worker(ops_config) as w:
        yield w


def test_round_trip_and_builtin_ops(worker):
    reply = worker.call("echo", {"value": {"a": [1, 2.5, None, "x"]}})
    assert reply["ok"] is True and reply["result"] == {"a": [1, 2.5, None, "x"]}
    assert reply["id"] > 0
    info = worker.call("info")["result"]
    assert info["cwd"] == worker.workdir
    assert info["torch_loaded"] is False and info["mindspore_loaded"] is False


def test_numpy_scalars_become_json(worker):
    result = worker.call("numpy_scalars")["result"]
    assert result == {"f": 1.5, "i": 7, "b": True, "t": [1, 2], "zero_d": 3.0}


def test_exceptions_are_replies(worker):
    reply = worker.call("raises", {"message": "bad shape"})
    assert reply["ok"] is False and reply["kind"] == "exception"
    assert reply["error"] == "ValueError: bad shape"
    assert "raise ValueError(message)" in reply["traceback"]
    reply = worker.call("not_serialisable")
    assert reply["kind"] == "exception" and reply["error"].startswith("TypeError: result of type builtins.object")
    reply = worker.call("exits")
    assert reply["kind"] == "exception" and reply["error"] == "SystemExit: 5"
    reply = worker.call("missing_function")
    assert reply["kind"] == "exception" and reply["error"].startswith("AttributeError")
    assert worker.call("noop")["ok"] is True


def test_user_output_does_not_corrupt_protocol(worker):
    assert worker.call("chatty", {"n": 2000}) ["result"] == 2000
    assert worker.call("read_stdin")["result"] == ""
    assert worker.call("echo", {"value": 1})["result"] == 1
    assert "raw fd 1 write" in worker.stderr_tail()


def test_unregistered_operations_are_refused(worker):
    for op in ("os:system", "subprocess:run", "builtins:eval", "agent.sandbox.ops:echo", "msagent_sbx_ops:chatty"):
        reply = worker.call(op, {"command": "true"})
        assert reply["ok"] is False and reply["error"].startswith("PermissionError"), op
    # The worker checks again on its own, whatever the parent sends: only its registry's names run.
    reply = handle({"id": 3, "op": "os:getcwd", "args": {}}, {"noop": "agent.sandbox.ops:noop"})
    assert reply["ok"] is False and reply["error"].startswith("PermissionError")
    assert handle({"id": 4, "op": "noop", "args": {}}, {"noop": "agent.sandbox.ops:noop"})["ok"] is True


def test_arrays_cross_as_npy(worker):
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    path = save_array("input", arr, directory=worker.workdir)
    out = worker.call("double", {"path": path})["result"]
    assert out.startswith(worker.workdir) and out.endswith(".npy")
    np.testing.assert_array_equal(load_array(out), arr * 2)
    objects = np.array([{"a": 1}], dtype=object)
    with pytest.raises(ValueError):
        save_array("objects", objects, directory=worker.workdir)


def test_module_written_after_start_is_found(worker, tmp_path):
    (tmp_path / "msagent_sbx_ops_late.py").write_text("def f():\n    return 'late'\n")
    assert worker.call("late")["result"] == "late"


def test_environment_is_an_allow_list(monkeypatch, ops_config):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    monkeypatch.setenv("MSAGENT_LLM_API_KEY", "sk-msagent-key")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    ops_config.extra_env["MY_SETTING"] = "on"
    with Worker(ops_config) as w:
        env = w.call("env")["result"]
    assert not {"OPENAI_API_KEY", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "MSAGENT_LLM_API_KEY"} & set(env)
    assert env["OMP_NUM_THREADS"] == "1" and env["MY_SETTING"] == "on"
    assert env["HOME"] == env["TMPDIR"] == w.workdir
    allowed_names = {"PATH", "LANG", "LC_ALL", "TZ", "PYTHONPATH", "OMP_NUM_THREADS", "GLOG_v", "MY_SETTING",
                     "HOME", "TMPDIR", "PYTHONDONTWRITEBYTECODE"}
    assert all(k in allowed_names or k.startswith("MSAGENT_") for k in env), sorted(env)


def test_isolation_is_reported(worker):
    iso = worker.isolation
    assert set(iso) >= {"network", "fs", "pid", "rlimits", "notes", "env"}
    assert any(r.startswith("data=") for r in iso["rlimits"])
    if not iso["network"]:
        assert any("network" in n for n in iso["notes"])


def test_pool_hands_out_distinct_workers(ops_config):
    seen: list[str] = []
    replies: list[dict] = []
    with WorkerPool(2, ops_config) as pool:
        def job():
            with pool.worker() as w:
                # generous: on a loaded 2-core machine a worker's first reply can take a while
                reply = w.call("info", timeout=180)
                replies.append(reply)
                if reply.get("ok"):
                    seen.append(reply["result"]["cwd"])
        threads = [threading.Thread(target=job) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert pool.call("echo", {"value": 2})["result"] == 2
    assert len(seen) == 6 and len(set(seen)) == 2, [r for r in replies if not r.get("ok")]


def test_preloaded_frameworks_run_and_large_allocations_fail(tmp_path):
    (tmp_path / "msagent_sbx_fw.py").write_text(textwrap.dedent('''
        import numpy as np, torch, mindspore

        def both():
            x = np.arange(6, dtype=np.float32).reshape(2, 3)
            t = torch.relu(torch.from_numpy(x - 2)).sum().item()
            m = mindspore.ops.relu(mindspore.Tensor(x - 2)).sum().asnumpy().item()
            return {"torch": t, "mindspore": m}

        def huge_torch():
            try:
                torch.empty(50 * 2**30 // 4)
            except RuntimeError as exc:
                return "refused: " + str(exc)[:60]
            return "allocated"
    '''))
    config = WorkerConfig(preload=["torch", "mindspore"], operations=registry("msagent_sbx_fw", "both", "huge_torch"),
                          extra_env={"PYTHONPATH": str(tmp_path)})
    with Worker(config) as w:
        assert w.ready_info["preloaded"] == ["torch", "mindspore"], w.ready_info
        assert w.call("info")["result"]["mindspore_loaded"] is True
        assert w.call("both", timeout=60)["result"] == {"torch": 6.0, "mindspore": 6.0}
        assert w.call("huge_torch")["result"].startswith("refused")


def test_a_worker_started_from_a_finished_thread_stays_alive(ops_config):
    # the worker's parent-death signal is bound to the thread that forked it, not the process
    w = Worker(ops_config)
    t = threading.Thread(target=w.start)
    t.start()
    t.join()
    try:
        time.sleep(0.5)
        reply = w.call("echo", {"value": 7}, timeout=60)
        assert reply.get("ok") and reply["result"] == 7, reply
        assert w.restarts == 0
    finally:
        w.close()
