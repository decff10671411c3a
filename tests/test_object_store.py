"""Object storage (tasks/object_store.py): inputs, outputs and the state store on `s3://…`,
against a real S3-compatible server started here: moto's standalone server (`python -m
moto.server`, a dev extra) in a child process on a free port, with dummy credentials.

The same hand-built sources, with events as daily files, are run twice: into a local folder
and through S3, yesterday (2026-11-24) and today (2026-11-25, one more daily file). The outputs
read back through the published manifest are byte-identical to the local run's. Then a run is
killed while it uploads (the manifest still names the last good run, the next run succeeds and
removes the killed run's objects), a bad input leaves the manifest as it was, and a missing
bucket or prefix is one line with no traceback.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import handbuilt
import polars as pl
import pytest
import steps
from cli_runs import MARKER_VAR, free_port, wait_until_gone
from typer.testing import CliRunner

pytest.importorskip("moto.server", reason="moto[server] (the dev extra) is not installed: no S3-compatible server to test against")
pytest.importorskip("s3fs", reason="s3fs (the s3 and dev extras) is not installed")

from abmq.cli import app  # noqa: E402
from abmq.flows.qualify import qualify  # noqa: E402
from abmq.tasks import export_parts, object_store, source_store  # noqa: E402

BUCKET = "abmq-test"
IN, OUT = f"s3://{BUCKET}/in", f"s3://{BUCKET}/out"
YESTERDAY, TODAY = dt.date(2026, 11, 24), handbuilt.AS_OF
runner = CliRunner()


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A moto S3 server in a child process, the AWS variables pointing at it, one bucket."""
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail(f"moto's S3 server did not start (log: {log.name})")
            time.sleep(0.2)
    variables = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in variables.items():
            patch.setenv(name, value)
        fs = object_store.remote(f"s3://{BUCKET}").fs
        fs.mkdir(BUCKET)
        yield {"fs": fs, "endpoint": endpoint, "env": variables}
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


def _daily(folder: Path) -> Path:
    """The hand-built sources with events as a few dated CSV files (events/<day>.csv), each
    holding the events up to its day since the file before: few files keep the runs short."""
    handbuilt.write(folder)
    events = pl.read_csv(folder / "events.csv", infer_schema=False)
    (folder / "events.csv").unlink()
    (folder / "events").mkdir()
    day = pl.col("occurred_at").str.slice(0, 10)
    start = "0000-00-00"
    for end in ("2026-10-31", "2026-11-15", str(YESTERDAY), "2026-11-26"):
        events.filter((day > start) & (day <= end)).write_csv(folder / "events" / f"{end}.csv")
        start = end
    return folder


NEW_DAY_FILE = f"events/{TODAY}.csv"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """Yesterday's exports, and today's: the same plus one new daily file."""
    root = tmp_path_factory.mktemp("object-store")
    yesterday = _daily(root / "yesterday")
    today = root / "today"
    shutil.copytree(yesterday, today)
    pl.DataFrame(
        {
            "event_id": ["e99"],
            "contact_id": ["c-mgr"],
            "event_type": ["email_click"],
            "occurred_at": [f"{TODAY}T09:00:00Z"],
            "detail": [None],
        },
        schema={c: pl.String for c in ("event_id", "contact_id", "event_type", "occurred_at", "detail")},
    ).write_csv(today / NEW_DAY_FILE)
    return {"root": root, "yesterday": yesterday, "today": today, "work": root / "work"}


def _upload_folder(fs, folder: Path, prefix: str) -> None:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    fs.put([str(p) for p in files], [f"{prefix}/{p.relative_to(folder).as_posix()}" for p in files])


def _cli(*args: str):
    return runner.invoke(app, list(args))


def _published(location: str, destination: Path) -> tuple[dict, Path]:
    """A copy of what the manifest lists, laid out as a local output folder."""
    manifest = object_store.download_published(location, destination)
    return manifest, destination


def _manifest_bytes(fs) -> bytes:
    return fs.cat_file(f"{BUCKET}/out/{object_store.REMOTE_MANIFEST}")


def _compared(folder: Path) -> dict[str, str]:
    """Every published file but the Data Docs (they show the GX runs made, which differ
    between a fresh and a remembered daily file, as in tests/test_incremental.py)."""
    return steps.tree_digest(folder, skip=("data_docs",))


@pytest.fixture(scope="module")
def local_runs(inputs, prefect_harness) -> dict[str, Path]:
    """The reference: the same two days into a local output folder."""
    out = inputs["root"] / "local-out"
    qualify(str(inputs["yesterday"]), str(out), None, YESTERDAY.isoformat())
    shutil.copytree(out, inputs["root"] / "local-yesterday", ignore=shutil.ignore_patterns(".lock"))
    qualify(str(inputs["today"]), str(out), None, TODAY.isoformat())
    return {"yesterday": inputs["root"] / "local-yesterday", "today": out}


CHILD = r"""
import sys, time
from pathlib import Path
from abmq.tasks import object_store

ready = Path(sys.argv[1])
upload = object_store._upload

def upload_half_then_hang(fs, pairs):
    upload(fs, pairs[: max(1, len(pairs) // 2)])
    ready.write_text(str(len(pairs)))
    time.sleep(600)

object_store._upload = upload_half_then_hang
from abmq.cli import app
sys.argv = ["abmq", *sys.argv[2:]]
app()
"""


def _killed_while_uploading(args: list[str], folder: Path) -> str:
    """`abmq run` in a child process whose upload sends half the files, says so in a file and
    hangs; SIGKILL then. The child's output."""
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if k != "ABMQ_RUN_TOKEN"}
    marker = uuid.uuid4().hex  # carried by every process the run starts (tests/cli_runs.py)
    env.update({"PREFECT_API_URL": PREFECT_API_URL.value(), "NO_COLOR": "1", "COLUMNS": "300", MARKER_VAR: marker})
    ready, log = folder / "uploading", folder / "child.log"
    with log.open("wb") as output:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(ready), *args], stdout=output, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 180
        while not ready.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), log.read_text()[-3000:]
        child.send_signal(signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=30)
    assert not wait_until_gone(marker, timeout=30)  # nothing the killed run started outlives it
    return log.read_text(errors="replace")


def _stored(fs) -> set[str]:
    return {p[len(f"{BUCKET}/out/") :] for p in fs.find(f"{BUCKET}/out")}


@pytest.fixture(scope="module")
def s3_runs(s3, inputs, prefect_harness) -> dict:
    """The two days through S3 (inputs uploaded to s3://…/in, outputs to s3://…/out), and
    between them today's run killed while it uploads; the next run then is today's again."""
    fs, work, root = s3["fs"], str(inputs["work"]), inputs["root"]
    _upload_folder(fs, inputs["yesterday"], f"{BUCKET}/in")
    first = _cli("run", "--input", IN, "--out", OUT, "--as-of", YESTERDAY.isoformat(), "--work-dir", work)
    assert first.exit_code == 0, first.output
    manifest_yesterday, copy_yesterday = _published(OUT, root / "s3-yesterday")
    fs.put(str(inputs["today"] / NEW_DAY_FILE), f"{BUCKET}/in/{NEW_DAY_FILE}")
    today = ["run", "--input", IN, "--out", OUT, "--as-of", TODAY.isoformat(), "--work-dir", work]
    killed = _killed_while_uploading(today, root)
    after_kill = {"manifest": _manifest_bytes(fs), "stored": _stored(fs)}
    _, after_kill["copy"] = _published(OUT, root / "s3-after-kill")
    second = _cli(*today)
    assert second.exit_code == 0, second.output
    manifest_today, copy_today = _published(OUT, root / "s3-today")
    return {
        "first": first.output,
        "killed": killed,
        "after_kill": after_kill,
        "second": second.output,
        "manifests": (manifest_yesterday, manifest_today),
        "copies": (copy_yesterday, copy_today),
    }


def test_a_run_through_s3_publishes_the_same_bytes_as_a_local_run(s3_runs, local_runs, inputs):
    manifest, copy = s3_runs["manifests"][0], s3_runs["copies"][0]
    assert manifest["as_of"] == YESTERDAY.isoformat() and manifest["previous_run_id"] is None
    local = local_runs["yesterday"]
    for name in ("targets.csv", "account_scores.parquet"):
        assert (copy / name).read_bytes() == (local / name).read_bytes(), name
    assert _compared(copy) == _compared(local)
    # every listed object lies under this run's prefix, with the size and sha256 the manifest says
    for relative, entry in manifest["files"].items():
        assert entry["key"] == f"runs/{manifest['run_id']}/{relative}"
        data = (copy / relative).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["size"], entry["sha256"])
    # the command names the local copy and the published object, and what it fetched
    work_out = object_store.local_output(OUT, inputs["work"])
    report_key = manifest["files"]["report.html"]["key"]
    assert f"report:      {work_out / 'report.html'}  (published: {OUT}/{report_key})" in s3_runs["first"]
    assert f"inputs from {IN}: 11 objects fetched, 0 unchanged, 0 removed locally" in s3_runs["first"]
    assert "testing-secret" not in s3_runs["first"] + s3_runs["killed"] + s3_runs["second"]


def test_the_next_day_fetches_only_the_new_file_and_remembers_validated_days(s3_runs, local_runs):
    yesterday, today = s3_runs["manifests"]
    # the daily fetch (of the run killed later) downloaded the new file only; the run after it nothing
    assert f"inputs from {IN}: 1 objects fetched, 11 unchanged, 0 removed locally" in s3_runs["killed"]
    assert f"inputs from {IN}: 0 objects fetched, 12 unchanged, 0 removed locally" in s3_runs["second"]
    # yesterday's validated daily files come from the state store (published by yesterday's run;
    # what the killed run validated locally was set back to the manifest before this run)
    assert "daily event files: 1 validated now, 3 remembered from earlier runs" in s3_runs["second"]
    assert today["previous_run_id"] == yesterday["run_id"]
    copy, local = s3_runs["copies"][1], local_runs["today"]
    for name in ("targets.csv", "account_scores.parquet"):
        assert (copy / name).read_bytes() == (local / name).read_bytes(), name
    assert _compared(copy) == _compared(local)
    assert object_store.read_published(OUT, "targets.csv") == (local / "targets.csv").read_bytes()
    # the state store's files of yesterday were not uploaded again: the same objects
    state = {
        r: e for r, e in today["files"].items() if r.startswith("state/events/") and not r.endswith(("_partitions.json", ".naming.parquet"))
    }
    kept = {r for r, e in state.items() if r in yesterday["files"] and e["key"] == yesterday["files"][r]["key"]}
    # each day's kept rows, and again in contact id order for the shards: all but the new day's
    assert len(state) == 8 and len(kept) == 6, sorted(set(state) - kept)
    assert sum(".by_contact." in r for r in set(state) - kept) == 1
    # the exports are yesterday's: read back from the store, whose files are yesterday's objects
    assert "not staged or validated again: accounts, technographics, intent, contacts" in s3_runs["second"]
    exports = {r: e for r, e in today["files"].items() if r.startswith("state/sources/") and not r.endswith("_sources.json")}
    assert exports and all(r in yesterday["files"] and e["key"] == yesterday["files"][r]["key"] for r, e in exports.items())
    # so are the rows of yesterday's files naming a quarantined contact (the contacts did not change)
    named = {r: e for r, e in today["files"].items() if r.endswith(".naming.parquet") and r in yesterday["files"]}
    assert named and all(e["key"] == yesterday["files"][r]["key"] for r, e in named.items())


@pytest.mark.parametrize("account_added", [False, True], ids=["contacts", "and an account added"])
def test_a_changed_contacts_export_uploads_only_its_changed_part(s3, inputs, prefect_harness, monkeypatch, tmp_path, account_added):
    """A CRM export changed between two runs through S3: the contacts are kept in parts
    (tasks/export_parts.py), the unchanged parts keep the objects the run before uploaded,
    only the changed one is new, and the outputs are a local run's. With an account added as
    well, the parts are linked to the accounts again and kept as they are where no link
    changed: the same parts are uploaded."""
    monkeypatch.setattr(export_parts, "PART_BITS", 1)  # ~2 contacts a part: the hand-built export has several
    fs = s3["fs"]
    source, in_url, out_url = tmp_path / "in", f"s3://{BUCKET}/in-parts", f"s3://{BUCKET}/out-parts"
    shutil.copytree(inputs["yesterday"], source)
    _upload_folder(fs, source, f"{BUCKET}/in-parts")
    run = ["run", "--input", in_url, "--out", out_url, "--as-of", YESTERDAY.isoformat(), "--work-dir", str(tmp_path / "work")]
    assert (first := _cli(*run)).exit_code == 0, first.output
    before, _ = _published(out_url, tmp_path / "first")
    local = tmp_path / "local"
    qualify(str(source), str(local), None, YESTERDAY.isoformat())

    contacts = pl.read_csv(source / "contacts.csv", infer_schema=False)
    middle = pl.int_range(pl.len()) == contacts.height // 2
    contacts.with_columns(pl.when(middle).then(pl.lit("Chief Revenue Officer")).otherwise("title").alias("title")).write_csv(
        source / "contacts.csv"
    )
    fs.put(str(source / "contacts.csv"), f"{BUCKET}/in-parts/contacts.csv")
    if account_added:
        accounts = pl.read_csv(source / "accounts.csv", infer_schema=False)
        newcomer = accounts.slice(0, 1).with_columns(pl.lit("newcomer-analytics.example").alias("domain"))
        if "account_id" in accounts.columns:
            newcomer = newcomer.with_columns(pl.lit("NEWCOMER-1").alias("account_id"))
        pl.concat([accounts, newcomer]).write_csv(source / "accounts.csv")
        fs.put(str(source / "accounts.csv"), f"{BUCKET}/in-parts/accounts.csv")
    assert (second := _cli(*run)).exit_code == 0, second.output
    after, copy = _published(out_url, tmp_path / "second")
    recipes = [source_store.read_state(folder)["contacts"]["recipe"] for folder in (tmp_path / "first", copy)]
    assert (recipes[0] != recipes[1]) == account_added  # staged against other accounts: linked again
    qualify(str(source), str(local), None, YESTERDAY.isoformat())

    parts_before, parts_after = ({r: e for r, e in m["files"].items() if r.endswith(".part.parquet")} for m in (before, after))
    assert len(parts_after) > 2
    kept = {r for r, e in parts_after.items() if r in parts_before and e["key"] == parts_before[r]["key"]}
    # the re-titled contact's part is new (and the next one, when its row ended a part or now does)
    assert 1 <= len(set(parts_after) - kept) <= 2 and set(parts_after) - kept == set(parts_after) - set(parts_before)
    assert len(kept) >= len(parts_after) - 2
    assert _compared(copy) == _compared(local)


def test_a_run_killed_while_uploading_leaves_the_last_run_published(s3_runs):
    yesterday = s3_runs["manifests"][0]
    after_kill = s3_runs["after_kill"]
    assert json.loads(after_kill["manifest"]) == yesterday  # the manifest still names yesterday's run
    listed = {e["key"] for e in yesterday["files"].values()}
    orphans = after_kill["stored"] - listed - {object_store.REMOTE_MANIFEST, object_store.REMOTE_LOCK}
    # half of the killed run's files were up, under its own prefix, and its lock was left behind
    assert orphans and all(key.startswith("runs/") and not key.startswith(f"runs/{yesterday['run_id']}/") for key in orphans)
    assert object_store.REMOTE_LOCK in after_kill["stored"]
    # every file the manifest lists is readable (its size and sha256 checked) and unchanged
    assert steps.tree_digest(after_kill["copy"]) == steps.tree_digest(s3_runs["copies"][0])


def test_the_run_after_a_killed_one_takes_its_lock_and_removes_its_objects(s3_runs, s3):
    yesterday, today = s3_runs["manifests"]
    left = s3_runs["after_kill"]["stored"] - {e["key"] for e in yesterday["files"].values()} - {object_store.REMOTE_MANIFEST}
    assert object_store.REMOTE_LOCK in left and len(left) > 1
    assert not left & _stored(s3["fs"])  # the killed run's objects and its lock are gone
    assert "unlisted objects removed" in s3_runs["second"]


def test_what_no_manifest_lists_is_gone_after_a_publish(s3_runs, s3):
    fs = s3["fs"]
    listed = {e["key"] for e in json.loads(_manifest_bytes(fs))["files"].values()}
    assert _stored(fs) == listed | {object_store.REMOTE_MANIFEST}  # no lock left either


def test_a_failing_run_leaves_the_manifest_as_it_was(s3_runs, s3, inputs):
    fs = s3["fs"]
    bad = inputs["root"] / "bad-in"
    shutil.copytree(inputs["today"], bad)
    accounts = pl.read_csv(bad / "accounts.csv", infer_schema=False).drop("country")
    accounts.write_csv(bad / "accounts.csv")
    _upload_folder(fs, bad, f"{BUCKET}/bad-in")
    before, etag = _manifest_bytes(fs), fs.info(f"{BUCKET}/out/{object_store.REMOTE_MANIFEST}")["ETag"]
    stored = _stored(fs)
    result = _cli("run", "--input", f"s3://{BUCKET}/bad-in", "--out", OUT, "--as-of", TODAY.isoformat(), "--work-dir", str(inputs["work"]))
    assert result.exit_code == 1, result.output
    ending = result.output[result.output.rindex("error: ") :]
    assert ending.startswith("error: blocking data-quality failure: accounts (accounts.csv): required column 'country' is missing")
    assert "Traceback" not in ending and f"the previous outputs in {OUT} are unchanged" in ending
    assert _manifest_bytes(fs) == before
    assert fs.info(f"{BUCKET}/out/{object_store.REMOTE_MANIFEST}")["ETag"] == etag
    assert _stored(fs) == stored  # nothing uploaded, the lock removed


@pytest.mark.parametrize(
    "where, expected",
    [
        (("--input", "s3://no-such-bucket/in", "--out", OUT), "error: s3://no-such-bucket/in: no such bucket"),
        (("--input", f"s3://{BUCKET}/nothing-here", "--out", OUT), f"error: s3://{BUCKET}/nothing-here: no objects under this prefix"),
        (("--input", IN, "--out", "s3://no-such-bucket/out"), "error: s3://no-such-bucket/out: no such bucket"),
    ],
    ids=["missing-input-bucket", "empty-input-prefix", "missing-output-bucket"],
)
def test_a_missing_bucket_or_prefix_is_one_line(where, expected, s3, inputs):
    result = _cli("run", *where, "--as-of", TODAY.isoformat(), "--work-dir", str(inputs["work"]))
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(expected), result.output
    assert "Traceback" not in result.output


def test_check_reads_an_s3_input_and_the_published_history(s3_runs, inputs):
    result = _cli("check", "--input", IN, "--as-of", TODAY.isoformat(), "--history-from", OUT, "--work-dir", str(inputs["work"]))
    assert result.exit_code == 0, result.output
    assert f"data-quality gate: passes as of {TODAY}" in result.output


def test_one_run_at_a_time_and_a_stale_lock_is_taken_over(s3):
    """The lock object: a second holder waits (here: not at all) and is told who holds it; a
    lock whose lease ran out is taken over."""
    from abmq.tasks.catalog import OutputLockedError

    store = object_store.remote(f"s3://{BUCKET}/lock-test")
    first = object_store.RemoteLock(store, "as of 2026-11-25")
    first.acquire(0)
    with pytest.raises(OutputLockedError, match=r"another run is publishing here \(as of 2026-11-25, pid \d+ on "):
        object_store.RemoteLock(store, "second").acquire(0)
    first.release()
    assert not s3["fs"].exists(store.path(object_store.REMOTE_LOCK))
    # a lock from another machine whose lease ran out (its run died there)
    stale = {"holder": "gone", "host": "elsewhere", "pid": 1, "since": "then", "expires": time.time() - 1}
    s3["fs"].pipe_file(store.path(object_store.REMOTE_LOCK), json.dumps(stale).encode())
    second = object_store.RemoteLock(store, "second")
    second.acquire(0)
    assert json.loads(s3["fs"].cat_file(store.path(object_store.REMOTE_LOCK)))["holder"] == "second"
    second.release()


def test_a_run_that_started_from_an_older_manifest_cannot_publish(s3, tmp_path):
    """If-Match on the manifest's ETag: of two runs that started from the same manifest (had
    the lock been broken), only the first publishes."""
    location = f"s3://{BUCKET}/race"
    views = []
    for name in ("one", "two"):
        out = tmp_path / name / "out"
        view = object_store.LocalView(input_location=str(tmp_path), out_location=location, input_dir=str(tmp_path), out_dir=str(out))
        view.pull()
        (out / "targets.csv").write_text(f"from run {name}\n")
        views.append(view)
    first = views[0].publish(TODAY)
    with pytest.raises(object_store.PublishConflictError, match="another run published here while this one ran"):
        views[1].publish(TODAY)
    assert object_store.published_manifest(location)["run_id"] == first["run_id"]
    assert object_store.read_published(location, "targets.csv") == b"from run one\n"


def test_published_lists_and_copies_what_the_manifest_names(s3_runs, tmp_path):
    manifest = s3_runs["manifests"][1]
    listing = _cli("published", "--out", OUT)
    assert listing.exit_code == 0, listing.output
    assert f"run {manifest['run_id']} as of {TODAY}" in listing.output
    assert f"{OUT}/{manifest['files']['targets.csv']['key']}" in listing.output
    copied = _cli("published", "--out", OUT, "--to", str(tmp_path / "copy"), "--file", "targets.csv")
    assert copied.exit_code == 0, copied.output
    assert [p.name for p in (tmp_path / "copy").iterdir()] == ["targets.csv"]
    assert (tmp_path / "copy" / "targets.csv").read_bytes() == (s3_runs["copies"][1] / "targets.csv").read_bytes()


def test_the_input_mirror_fetches_what_changed_and_drops_what_is_gone(s3, tmp_path):
    fs, prefix = s3["fs"], f"{BUCKET}/mirror-test"
    fs.pipe_file(f"{prefix}/", b"")  # a "folder" marker, as S3 consoles create them: holds nothing
    fs.pipe_file(f"{prefix}/accounts.csv", b"domain\nacme.com\n")
    fs.pipe_file(f"{prefix}/events/2026-11-24.csv", b"event_id\ne1\n")
    mirror = tmp_path / "inputs" / "files"
    first = object_store.fetch_inputs(f"s3://{prefix}", mirror)
    assert first == {"fetched": 2, "unchanged": 0, "removed": 0}
    fs.pipe_file(f"{prefix}/accounts.csv", b"domain\nhooli.com\n")  # same size, new ETag
    fs.rm_file(f"{prefix}/events/2026-11-24.csv")
    again = object_store.fetch_inputs(f"s3://{prefix}", mirror)
    assert again == {"fetched": 1, "unchanged": 0, "removed": 1}
    assert sorted(p.relative_to(mirror).as_posix() for p in mirror.rglob("*")) == ["accounts.csv"]
    assert (mirror / "accounts.csv").read_bytes() == b"domain\nhooli.com\n"
    assert object_store.fetch_inputs(f"s3://{prefix}", mirror) == {"fetched": 0, "unchanged": 1, "removed": 0}
