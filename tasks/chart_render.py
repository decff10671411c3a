"""vl-convert in a child process, so a crash in native code is a failed chart, not a dead run.

vl-convert (Rust) aborts the whole process on some inputs (a panic that cannot unwind: no
Python exception, exit 134) and can spend minutes laying out text without answering
signals. Charts are therefore rendered by one long-lived worker process
(`python -m abmq.tasks.chart_render`), started on the first chart and reused (its engine
start-up, ~0.8 s, is paid once per process, as it was in-process). A worker that dies
(any signal or exit) or takes longer than `TIMEOUT_SECONDS` on one chart is killed and
`RenderFailed` raised with the reason; the next chart starts a new worker.

The worker exits by itself when its parent goes (stdin closed, or its parent process
changes), so it never outlives the run.

Protocol on the worker's stdin/stdout: 8-byte big-endian length + UTF-8 JSON
`{"spec": ..., "vl_version": ...}`; the answer is 1 status byte (0 ok, 1 error) + 8-byte
length + UTF-8 text (the SVG, or the error message).
"""

from __future__ import annotations

import json
import os
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

TIMEOUT_SECONDS = 120.0
_HEADER = struct.Struct(">Q")


class RenderFailed(RuntimeError):
    """The renderer crashed, timed out or refused the spec; the message says which."""


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "did not answer"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = " (a panic in native code)" if -code == signal.SIGABRT else ""
        return f"crashed with {name}{why}"
    return f"exited with code {code}" + (" (a panic in native code)" if code == 134 else "")


def _panic_message(text: str) -> str:
    """The message of a Rust panic in the worker's stderr ("thread '...' panicked at src:
    <message>"), on one line, or ''."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if "panicked at" in line:
            message = line.split("panicked at", 1)[1].strip()
            if message.endswith(":") and index + 1 < len(lines):
                message = lines[index + 1].strip()
            from abmq.tasks.text_safety import printable

            return printable(message)[:200]
    return ""


class _Worker:
    def __init__(self) -> None:
        # stderr goes to a file: a panic's backtrace is summed up in the failure's reason
        # instead of being printed; anything else (Vega's warnings) is passed on.
        self.stderr = tempfile.TemporaryFile()
        self.stderr_seen = 0
        self.process = subprocess.Popen(
            # -P: the folder the run starts in is not on its import path (an `abmq` folder there,
            # a checkout of this repository, would hide the installed package)
            [sys.executable, "-P", "-m", "abmq.tasks.chart_render"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            close_fds=True,
        )

    def new_stderr(self) -> str:
        self.stderr.seek(self.stderr_seen)
        data = self.stderr.read()
        self.stderr_seen += len(data)
        return data.decode("utf-8", errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def _read(self, size: int, deadline: float) -> bytes:
        chunks, left = [], size
        fd = self.process.stdout.fileno()
        while left:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                raise TimeoutError
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def render(self, request: bytes, timeout: float) -> tuple[int, str]:
        deadline = time.monotonic() + timeout
        self.process.stdin.write(_HEADER.pack(len(request)) + request)
        self.process.stdin.flush()
        status = self._read(1, deadline)[0]
        (size,) = _HEADER.unpack(self._read(_HEADER.size, deadline))
        return status, self._read(size, deadline).decode("utf-8")

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            try:
                self.process.stdin.close()
            except OSError:
                pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.stderr):
            try:
                stream.close()
            except OSError:
                pass


_lock = threading.Lock()
_worker: _Worker | None = None


def render_svg(spec: dict[str, Any], vl_version: str | None, timeout: float | None = None) -> str:
    """The SVG vl-convert makes of `spec`, rendered in the worker process."""
    global _worker
    timeout = TIMEOUT_SECONDS if timeout is None else timeout
    request = json.dumps({"spec": spec, "vl_version": vl_version}).encode("utf-8")
    with _lock:
        if _worker is None or not _worker.alive():
            if _worker is not None:
                _worker.stop(kill=True)
            _worker = _Worker()
        worker = _worker
        try:
            status, text = worker.render(request, timeout)
        except TimeoutError:
            worker.stop(kill=True)
            _worker = None
            raise RenderFailed(f"vl-convert took longer than {timeout:.0f} s and was stopped") from None
        except (EOFError, OSError):  # the worker died (BrokenPipeError is an OSError)
            worker.process.wait()
            panic = _panic_message(worker.new_stderr())
            worker.stop(kill=True)
            _worker = None
            raise RenderFailed(f"vl-convert {_describe_exit(worker.process.returncode)}" + (f": {panic}" if panic else "")) from None
        printed = worker.new_stderr()
        if printed:
            sys.stderr.write(printed)
    if status != 0:
        raise RenderFailed(f"vl-convert refused the chart: {text.splitlines()[0] if text else 'no message'}")
    return text


def shutdown() -> None:
    """Stop the worker (it also stops by itself when this process ends)."""
    global _worker
    with _lock:
        if _worker is not None:
            _worker.stop()
            _worker = None


# --- the worker ---------------------------------------------------------------------------


def _read_exact(stream, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _watch_parent(parent: int) -> None:
    """Leave when the parent is gone, even in the middle of a long layout."""
    while True:
        time.sleep(1)
        if os.getppid() != parent:
            os._exit(1)


def _serve() -> None:
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    import vl_convert as vlc

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        header = _read_exact(stdin, _HEADER.size)
        if header is None:
            return
        payload = _read_exact(stdin, _HEADER.unpack(header)[0])
        if payload is None:
            return
        request = json.loads(payload)
        try:
            svg = vlc.vegalite_to_svg(request["spec"], vl_version=request["vl_version"], allowed_base_urls=[])
            status, text = 0, svg
        except Exception as exc:  # vl-convert's own errors (a bad spec): reported, not fatal
            status, text = 1, f"{type(exc).__name__}: {exc}"
        data = text.encode("utf-8")
        stdout.write(bytes([status]) + _HEADER.pack(len(data)) + data)
        stdout.flush()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C stops the run; the run stops the worker
    _serve()
