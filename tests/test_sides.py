"""The two-sandbox machinery on its own: the wire format a hostile side might abuse, and sessions
of a framework-free side (fresh process each, nothing left behind, nothing outside the view)."""
from __future__ import annotations

import socket
import struct
import time

import numpy as np
import pytest

from agent.sandbox import wire
from agent.sandbox.config import SideConfig
from agent.sandbox.sides import SessionError, Side, torch_install_paths


def _pair():
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)


def test_arrays_round_trip_with_their_shapes_and_dtypes():
    a, b = _pair()
    arrays = [np.float32(3.5) * np.ones(()), np.arange(6, dtype=np.int64).reshape(2, 3), np.zeros((0, 4), np.float16),
              np.asfortranarray(np.arange(6.0).reshape(2, 3)), np.array([True, False])]
    wire.send(a, {"x": 1}, arrays)
    header, got = wire.recv(b)
    assert header == {"x": 1}
    for want, have in zip(arrays, got):
        assert have.shape == want.shape and have.dtype == want.dtype and np.array_equal(have, want)


def _raw_frame(header: dict, described: list, body: bytes = b"") -> bytes:
    import json

    head = json.dumps({**header, "_arrays": described}).encode()
    return struct.pack("<I", len(head)) + head + body


@pytest.mark.parametrize("described, why", [
    ([["|O", [1]]], "plain numeric"),  # objects would need pickle
    ([["<U4", [1]]], "plain numeric"),
    ([["V8", [1]]], "plain numeric"),
    ([["<f4", [-1]]], "bad shape"),
    ([["<f4", [2.5]]], "bad shape"),
    ([["<f4", [1] * 33]], "bad shape"),
    (["<f4"], "bad array description"),
    ({"dtype": "<f4"}, "bad array list"),
])
def test_malformed_arrays_are_refused(described, why):
    a, b = _pair()
    a.sendall(_raw_frame({}, described, b"\0" * 64))
    with pytest.raises(wire.WireError, match=why):
        wire.recv(b)


def test_a_truncated_frame_is_an_end_not_an_array():
    a, b = _pair()
    a.sendall(_raw_frame({}, [["<f8", [4]]], b"\0" * 24))  # 32 bytes announced
    a.close()
    with pytest.raises(EOFError):
        wire.recv(b)


def test_oversized_messages_are_refused_before_reading_them():
    a, b = _pair()
    a.sendall(struct.pack("<I", wire.MAX_HEADER + 1))
    with pytest.raises(wire.WireError, match="exceeds"):
        wire.recv(b)
    a, b = _pair()
    a.sendall(_raw_frame({}, [["<f8", [1000]]]))  # no data follows: the size alone refuses it
    with pytest.raises(wire.WireError, match="exceeds"):
        wire.recv(b, max_bytes=100)


@pytest.fixture(scope="module")
def echo(tmp_path_factory):
    shown = tmp_path_factory.mktemp("shown")
    (shown / "data.txt").write_text("visible")
    with Side(SideConfig(side="echo", repo_paths=[str(shown)], timeout_s=20)) as side:
        yield side, shown


def _run(side, code, arrays=(), timeout=10):
    with side.session(timeout=timeout) as s:
        return s.call("run", {"code": code}, list(arrays))


def test_a_session_gets_arrays_and_returns_data(echo):
    side, _ = echo
    result, arrays = _run(side, "result = {'n': len(inputs)}; arrays = [inputs[0] * 2]", [np.ones(3)])
    assert result == {"n": 1} and np.array_equal(arrays[0], np.full(3, 2.0))


def test_each_session_is_a_fresh_process_and_nothing_is_left_behind(echo):
    side, _ = echo
    plant = ("import os, subprocess, sys\n"
             "open('planted', 'w').write('x'); open('/dev/shm/planted', 'w').write('x')\n"
             "sys.modules['json'].PLANTED = True\n"
             "p = subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
             "result = {'pid': os.getpid(), 'child': p.pid}")
    first, _ = _run(side, plant)
    look = ("import os, sys\n"
            "alive = [p for p in os.listdir('/proc') if p.isdigit() and open(f'/proc/{p}/cmdline').read().startswith('sleep')]\n"
            "result = {'pid': os.getpid(), 'cwd': os.listdir('.'), 'shm': os.listdir('/dev/shm'),\n"
            "          'patched': hasattr(sys.modules['json'], 'PLANTED'), 'sleepers': alive}")
    second, _ = _run(side, look)
    assert second["pid"] != first["pid"]
    assert second == {**second, "cwd": [], "shm": [], "patched": False, "sleepers": []}


def test_the_view_holds_only_what_was_listed(echo):
    side, shown = echo
    if not side.isolation.get("fs"):
        pytest.skip("no filesystem view on this host: " + "; ".join(side.isolation.get("notes", [])))
    code = ("import os\n"
            f"result = {{'shown': open({str(shown / 'data.txt')!r}).read(),\n"
            "          'shadow': os.path.exists('/etc/shadow'), 'root': os.path.exists('/root/.bashrc'),\n"
            "          'work': sorted(os.listdir('/')), 'writable_root': os.access('/usr', os.W_OK)}\n"
            f"try:\n    open({str(shown / 'new.txt')!r}, 'w')\n    result['wrote'] = True\n"
            "except OSError:\n    result['wrote'] = False")
    result, _ = _run(side, code)
    assert result["shown"] == "visible" and result["wrote"] is False
    assert result["shadow"] is False and result["root"] is False
    assert not (shown / "new.txt").exists()


def test_a_hang_is_killed_and_the_next_session_works(echo):
    side, _ = echo
    start = time.monotonic()
    with pytest.raises(SessionError) as err:
        _run(side, "while True: pass", timeout=2)
    assert err.value.kind == "timeout" and time.monotonic() - start < 10
    assert _run(side, "result = {'ok': 1}")[0] == {"ok": 1}


def test_a_crash_says_how_the_process_ended(echo):
    side, _ = echo
    with pytest.raises(SessionError) as err:
        _run(side, "import os; os.abort()")
    assert err.value.kind == "crash" and "SIGABRT" in err.value.message


def test_the_candidate_view_hides_torch():
    found = torch_install_paths()
    assert any(p.rstrip("/").endswith("torch") for p in found), found



def test_a_held_session_serves_one_file_and_a_failure_ends_it(tmp_path):
    """verify.judge keeps a side's process for the next unit of the same file only while units pass."""
    from agent.verify.sessions import Sessions

    echo = Side(SideConfig(side="echo", repo_paths=[str(tmp_path)], timeout_s=20))
    v = Sessions(echo, None)
    try:
        with v.pair(10, (("a.py",), None), torch_only=True) as (first, _):
            pid1 = first.call("run", {"code": "import os; result = {'pid': os.getpid()}"})[0]["pid"]
        with v.pair(10, (("a.py",), None), torch_only=True) as (again, _):
            assert again.call("run", {"code": "import os; result = {'pid': os.getpid()}"})[0]["pid"] == pid1
        with pytest.raises(RuntimeError):
            with v.pair(10, (("a.py",), None), torch_only=True) as (s, _):
                raise RuntimeError("the unit failed")
        with v.pair(10, (("a.py",), None), torch_only=True) as (fresh, _):
            assert fresh.call("run", {"code": "import os; result = {'pid': os.getpid()}"})[0]["pid"] != pid1
        with v.pair(10, (("b.py",), None), torch_only=True) as (other, _):
            pid_b = other.call("run", {"code": "import os; result = {'pid': os.getpid()}"})[0]["pid"]
        assert "torch" in v._held and v._held["torch"][0] == ("b.py",) and pid_b != pid1
    finally:
        v.drop_all()
        echo.close()


def test_a_fresh_session_after_a_held_one_ends_the_held_one(tmp_path):
    from agent.verify.sessions import Sessions

    echo = Side(SideConfig(side="echo", repo_paths=[str(tmp_path)], timeout_s=20))
    v = Sessions(echo, None)
    try:
        with v.pair(10, (("a.py",), None), torch_only=True) as (held, _):
            held.call("run", {"code": "result = {}"})
        with v.pair(10, None, torch_only=True) as (fresh, _):  # the template serves one session at a time
            assert fresh.call("run", {"code": "result = {'ok': 1}"})[0] == {"ok": 1}
        assert held.closed and "torch" not in v._held
    finally:
        v.drop_all()
        echo.close()


def test_the_next_sessions_child_survives_what_a_unit_does_to_it(echo):
    """The next session's child warms while a unit runs: that unit signals it (every catchable signal,
    then SIGSTOP) and plants files in its folder; the next session still answers, from an empty folder."""
    side, _ = echo
    if not side.ready_info.get("pid1"):
        pytest.skip("no pid namespace on this host: the unit would see every process of the machine")
    attack = ("import os, signal, time\n"
              "me, spare = os.getpid(), []\n"
              "for _ in range(200):\n"
              "    spare = [int(p) for p in os.listdir('/proc') if p.isdigit() and int(p) not in (1, me)]\n"
              "    if spare: break\n"
              "    time.sleep(0.01)\n"
              "base = os.path.dirname(os.getcwd())\n"
              "for d in os.listdir(base):\n"
              "    if os.path.join(base, d) != os.getcwd():\n"
              "        open(os.path.join(base, d, 'planted'), 'w').write('x')\n"
              "for pid in spare:\n"
              "    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGQUIT,\n"
              "                signal.SIGALRM, signal.SIGSTOP):\n"
              "        os.kill(pid, sig)\n"
              "result = {'signalled': spare}")
    first, _ = _run(side, attack)
    assert first["signalled"], "the next session's child should already exist while a unit runs"
    second, _ = _run(side, "import os\nresult = {'pid': os.getpid(), 'cwd': os.listdir('.')}")
    assert second["pid"] in first["signalled"] and second["cwd"] == []
