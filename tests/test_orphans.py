"""No orphans (issue 14): however `abmq run` ends, no process of the run is left behind and
nothing holds the caller's output open.

Each case starts a real `abmq run` (a subprocess, without PREFECT_API_URL, so Prefect starts
its temporary server), stops it at some point in some way, and asserts that the command's
output is closed and that no process carrying the run's environment marker is alive. (A run
that ends normally or with an error is checked the same way by tests/test_fuzz.py.)
SIGABRT is what a native abort (a Rust panic, a C assert) does to the process: it dies
without any Python cleanup, exactly as the vl-convert panic of the issue did.
"""

from __future__ import annotations

import signal

import pytest
from cli_runs import Run, processes_with, wait_until_gone

AS_OF = "2026-11-25"

# (signal, the output line to wait for before sending it, the exit codes it may give)
CASES = {
    "sigterm-before-the-server": (signal.SIGTERM, "No PREFECT_API_URL set", {143, -15}),
    "sigterm-with-the-server-up": (signal.SIGTERM, "Beginning flow run", {143}),
    "sigint-while-staging": (signal.SIGINT, "stage-", {130}),
    "sigkill-with-the-server-up": (signal.SIGKILL, "Beginning flow run", {-9}),  # nothing to catch: the watchdog
    "native-abort-while-staging": (signal.SIGABRT, "stage-", {-6}),
}


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory):
    return tmp_path_factory.mktemp("prefect-home")


@pytest.mark.parametrize("case", CASES)
def test_a_stopped_run_leaves_no_process_behind(case, handbuilt_dir, tmp_path, prefect_home):
    signum, point, codes = CASES[case]
    run = Run(
        ["run", "--input", str(handbuilt_dir), "--out", str(tmp_path / "out"), "--as-of", AS_OF],
        env={"PREFECT_HOME": str(prefect_home)},
    )
    try:
        assert run.wait_for(point), run.output
        if point == "Beginning flow run":  # the check is not vacuous: the server carries the marker
            assert any("uvicorn" in command for _, command in processes_with(run.marker)), processes_with(run.marker)
        run.signal(signum)
        code = run.finish(timeout=120)
        assert not run.reader.is_alive(), "something still holds the command's output open"
        left = wait_until_gone(run.marker, timeout=30)
        assert not left, left
        assert code in codes, run.output[-2000:]
        if signum in (signal.SIGTERM, signal.SIGINT) and code > 0:
            assert f"error: stopped by {signal.Signals(signum).name}" in run.output
            assert "Traceback" not in run.output
    finally:
        run.kill_all()
