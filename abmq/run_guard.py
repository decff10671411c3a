"""No orphans: whatever way an `abmq run` ends, nothing it started keeps running.

A run starts processes of its own: Prefect's temporary API server (when PREFECT_API_URL is
unset), the chart renderer (tasks/chart_render.py), Dask workers. Python's cleanup stops
them on a normal exit or an exception, but not when the run's process dies without it (a
native abort, SIGKILL, an unhandled SIGTERM), and a leftover server keeps the caller's
stdout/stderr open, so whatever waits for the command's output hangs. Three measures:

* `watchdog()`: the run's process puts a token in its environment (`ABMQ_RUN_TOKEN`), which
  every process it starts inherits, and starts a tiny watchdog process that waits for the
  end of a pipe only the run's process holds. The kernel closes the pipe however the
  process ends, so the watchdog then stops (SIGTERM, after 5 s SIGKILL) every process whose
  environment carries the token. The watchdog runs in its own session with its output on
  /dev/null: it holds no terminal and no pipe of the caller. Linux (/proc); elsewhere it is
  a no-op.
* `signals_raise()`: SIGTERM and SIGINT become a `Stopped` exception in the main thread,
  so a stopped run unwinds like a failed one (the output lock is released, Prefect stops its
  server at exit) and the CLI ends with one line and exit code 128 + signal.
* `temporary_server_log()`: the temporary Prefect server writes its own output to a log file,
  not to the run's console: when a stopped run stops it while it serves a request, it prints
  a database traceback that is not the run's error.
* `quiet_tracebacks()`: Prefect logs a failed task's exception with its traceback before the
  CLI sees it; for the expected errors (a bad input, a failed gate: the CLI prints one clear
  line) the console shows Prefect's line without the traceback (the Prefect UI keeps it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import IO

TOKEN_VAR = "ABMQ_RUN_TOKEN"

_WATCHDOG = r"""
import os, signal, sys, time
needle = sys.argv[1].encode()
me = os.getpid()
sys.stdin.buffer.read()  # returns at end of file: the run's process has ended, however it ended

def marked():
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open("/proc/%s/environ" % entry, "rb") as handle:
                if needle in handle.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            pass
    return found

for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 3.0)):
    pids = marked()
    if not pids:
        break
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and marked():
        time.sleep(0.1)
"""

_pipe_end: int | None = None  # the write end, held open by this process until it ends


def watchdog() -> str | None:
    """Start the watchdog of this process (once per process); returns the run token."""
    global _pipe_end
    if _pipe_end is not None:
        return os.environ.get(TOKEN_VAR)
    if not os.path.isdir("/proc"):
        return None
    token = uuid.uuid4().hex
    os.environ[TOKEN_VAR] = token  # inherited by every process started from now on
    read_end, write_end = os.pipe()  # not inheritable (PEP 446): only this process holds write_end
    env = {k: v for k, v in os.environ.items() if k != TOKEN_VAR}
    try:
        subprocess.Popen(
            [sys.executable, "-S", "-c", _WATCHDOG, f"{TOKEN_VAR}={token}"],
            stdin=read_end,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
            env=env,
        )
    finally:
        os.close(read_end)
    _pipe_end = write_end
    return token


class Stopped(BaseException):
    """The run received SIGTERM or SIGINT (a BaseException, like KeyboardInterrupt: nothing
    may catch it as an ordinary error)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_RECEIVED: list[int] = []  # the signal a `signals_raise` block turned into `Stopped`


def stopped_by() -> int | None:
    """The signal the current `signals_raise` block received, if any. Prefect may turn the
    `Stopped` on its way out into an error of its own: a SIGINT while a task run was being set
    up came back as "ValueError: Task run is not set"."""
    return _RECEIVED[-1] if _RECEIVED else None


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """SIGTERM and SIGINT raise `Stopped` in the main thread while the block runs; a second
    signal ends the process at once (the watchdog then stops what is left)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        _RECEIVED.append(signum)
        raise Stopped(signum)

    _RECEIVED.clear()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _QuietFormatter(logging.Formatter):
    """Formats as the wrapped formatter, leaving out the traceback of the expected errors."""

    def __init__(self, inner: logging.Formatter | None, expected: tuple[type[BaseException], ...]):
        super().__init__()
        self.inner = inner or logging.Formatter()
        self.expected = expected

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info and isinstance(record.exc_info[1], self.expected):
            saved = record.exc_info, record.exc_text, record.stack_info
            record.exc_info = record.exc_text = record.stack_info = None
            try:
                return self.inner.format(record)
            finally:
                record.exc_info, record.exc_text, record.stack_info = saved
        return self.inner.format(record)


@contextlib.contextmanager
def quiet_tracebacks(expected: tuple[type[BaseException], ...]) -> Iterator[None]:
    """Prefect's console log lines about `expected` exceptions, without their tracebacks."""
    from prefect.logging.handlers import PrefectConsoleHandler

    # a copy (made at once, under the GIL): another thread may add a logger meanwhile (GX's
    # import on its thread, `validate.import_gx_in_background`), and iterating the registry
    # itself then failed with "dictionary changed size during iteration"
    registered = logging.Logger.manager.loggerDict.copy()
    loggers = [logging.getLogger()] + [
        logger for name, logger in registered.items() if isinstance(logger, logging.Logger) and name.startswith("prefect")
    ]
    swapped = []
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, PrefectConsoleHandler) and not isinstance(handler.formatter, _QuietFormatter):
                swapped.append((handler, handler.formatter))
                handler.setFormatter(_QuietFormatter(handler.formatter, expected))
    try:
        yield
    finally:
        for handler, formatter in swapped:
            handler.setFormatter(formatter)


@contextlib.contextmanager
def temporary_server_log(open_log: Callable[[], IO[bytes]]) -> Iterator[None]:
    """While the block runs, a temporary Prefect server started by this process writes its
    output (errors only: Prefect starts it with --log-level error) to the file `open_log`
    opens (the I/O layer's, `catalog.append_handle`)."""
    from prefect.server.api import server as prefect_server

    original = prefect_server.SubprocessASGIServer._run_uvicorn_command

    def run_logged(self):  # Prefect's own command, with its output redirected
        real_popen = subprocess.Popen

        def popen(*args, **kwargs):
            kwargs.setdefault("stdout", log)
            kwargs.setdefault("stderr", subprocess.STDOUT)
            return real_popen(*args, **kwargs)

        with open_log() as log:
            prefect_server.subprocess.Popen = popen
            try:
                return original(self)
            finally:
                prefect_server.subprocess.Popen = real_popen

    prefect_server.SubprocessASGIServer._run_uvicorn_command = run_logged
    try:
        yield
    finally:
        prefect_server.SubprocessASGIServer._run_uvicorn_command = original
