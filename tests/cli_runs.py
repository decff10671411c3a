"""Helpers to run `abmq` as a real command (a subprocess) and find every process it left.

Each run gets a marker in its environment; every process it starts inherits it, so
`processes_with(marker)` lists whatever the run left behind, however it ended.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

MARKER_VAR = "ABMQ_TEST_MARKER"
ABMQ = str(Path(sys.executable).with_name("abmq"))


def free_port() -> int:
    """A TCP port nothing listens on now (for a server a test starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def processes_with(marker: str) -> list[tuple[int, str]]:
    """(pid, command line) of live processes whose environment carries the marker."""
    needle = f"{MARKER_VAR}={marker}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                if needle not in handle.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                found.append((int(entry), handle.read().replace(b"\0", b" ").decode(errors="replace")[:160]))
        except OSError:
            pass
    return found


def wait_until_gone(marker: str, timeout: float = 30) -> list[tuple[int, str]]:
    deadline = time.monotonic() + timeout
    left = processes_with(marker)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = processes_with(marker)
    return left


class Run:
    """`abmq <args>` in the background, its output (stdout and stderr) collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None):
        self.marker = uuid.uuid4().hex
        # A busy test machine can take longer than Prefect's default 20 s to start a temporary server.
        slow_start = {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120"}
        full_env = {**os.environ, **slow_start, **(env or {}), MARKER_VAR: self.marker, "NO_COLOR": "1", "COLUMNS": "200"}
        for name in ("PREFECT_API_URL", "ABMQ_RUN_TOKEN"):  # the test session's, not this run's
            if name not in (env or {}):
                full_env.pop(name, None)
        self.process = subprocess.Popen(
            [ABMQ, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for raw in iter(self.process.stdout.readline, b""):
            self.lines.append(raw.decode("utf-8", errors="replace"))

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 120) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output:
                return True
            if self.process.poll() is not None and not self.reader.is_alive():
                return text in self.output
            time.sleep(0.05)
        return False

    def signal(self, signum: int) -> None:
        os.kill(self.process.pid, signum)

    def finish(self, timeout: float = 300) -> int:
        """Wait for the command to end and for its output to be closed (nothing holds it)."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_all()
            raise
        self.reader.join(timeout=30)
        return code

    def kill_all(self) -> None:
        for pid, _ in processes_with(self.marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
