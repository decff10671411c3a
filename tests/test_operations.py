"""Running unattended: alerts for newly SQL-ready accounts, one run at a time per output
folder, and a run killed mid-way that leaves the last good outputs and blocks nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import handbuilt
import polars as pl
import pytest

from abmq.flows.qualify import qualify
from abmq.tasks import alerts
from abmq.tasks.catalog import OutputLockedError

AS_OF = handbuilt.AS_OF


class Receiver(http.server.BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook(monkeypatch):
    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Receiver.received = []
    monkeypatch.setenv(alerts.WEBHOOK_ENV, f"http://127.0.0.1:{server.server_port}/hook")
    yield Receiver.received
    server.shutdown()


def test_no_alert_on_a_first_run_or_without_news():
    assert alerts.alert_payload({"previous_as_of": None}, "2026-11-25", {}) is None
    assert alerts.alert_payload({"previous_as_of": "2026-11-18", "new_sql_ready": []}, "2026-11-25", {}) is None


def test_the_alert_reads_the_owners_of_the_new_accounts_only():
    accounts = pl.DataFrame({"domain": ["a.com", "b.com", "id:42"], "owner": ["Ann", None, "Kim"]})
    changes = {"new_sql_ready": [{"domain": "b.com"}, {"domain": None, "account_key": "id:42"}, {"domain": "gone.com"}]}
    assert alerts.owners_of_new(changes, accounts) == {"b.com": None, "id:42": "Kim"}
    assert alerts.owners_of_new({"previous_as_of": None}, accounts) == {}


def test_newly_sql_ready_accounts_reach_the_webhook(handbuilt_dir, tmp_path, webhook, prefect_harness):
    quiet_week = tmp_path / "before"
    shutil.copytree(handbuilt_dir, quiet_week)
    events = pl.read_csv(quiet_week / "events.csv", infer_schema=False)
    events.filter(~pl.col("contact_id").is_in(["h1", "h2", "h3"])).write_csv(quiet_week / "events.csv")
    out = tmp_path / "out"
    qualify(str(quiet_week), str(out), None, (AS_OF - dt.timedelta(days=1)).isoformat())
    assert webhook == []  # first run: nothing to compare with
    result = qualify(str(handbuilt_dir), str(out), None, AS_OF.isoformat())
    assert result["new_sql_ready"] == 1
    assert len(webhook) == 1
    alert = webhook[0]
    assert alert["count"] == 1 and alert["compared_with"] == "2026-11-24"
    assert alert["accounts"][0]["domain"] == "hooli.com" and alert["accounts"][0]["owner"] == "Sam Ortiz"
    assert "Hooli (hooli.com) score 80" in alert["text"]
    assert "@" not in json.dumps(alert)


def test_a_second_run_on_the_same_output_waits_then_fails_clearly(handbuilt_dir, tmp_path, prefect_harness):
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time; from pathlib import Path; from abmq.tasks.catalog import output_lock\n"
                f"with output_lock(Path({str(out)!r}), 0, 'test holder'):\n"
                "    print('locked', flush=True); time.sleep(30)\n"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(OutputLockedError, match=rf"another run is writing here \(pid {holder.pid}, test holder"):
            qualify(str(handbuilt_dir), str(out), None, AS_OF.isoformat(), lock_wait_seconds=1)
        assert not (out / "report.html").exists()
    finally:
        holder.kill()
        holder.wait()
    qualify(str(handbuilt_dir), str(out), None, AS_OF.isoformat(), lock_wait_seconds=1)  # the lock died with its process
    assert (out / "report.html").exists()


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def test_a_run_killed_mid_way_leaves_the_last_good_outputs(handbuilt_dir, tmp_path, prefect_harness):
    out = tmp_path / "out"
    qualify(str(handbuilt_dir), str(out), None, AS_OF.isoformat())
    good = {k: v for k, v in digest(out).items() if not k.startswith("last_failure")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "abmq.cli",
            "run",
            "--input",
            str(handbuilt_dir),
            "--out",
            str(out),
            "--as-of",
            (AS_OF + dt.timedelta(days=1)).isoformat(),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
    )
    deadline = time.monotonic() + 120
    while not list(out.glob(".staging-*")) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert run.poll() is None, "the run ended before it could be killed mid-way"
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    assert {k: v for k, v in digest(out).items() if not k.startswith("last_failure")} == good
    pl.read_csv(out / "targets.csv")  # still readable
    qualify(str(handbuilt_dir), str(out), None, AS_OF.isoformat(), lock_wait_seconds=5)
    assert not list(out.glob(".staging-*"))
