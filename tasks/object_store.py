"""Object storage (`s3://bucket/prefix`) for the inputs, the outputs and the state store: the
one module that knows about URLs. The pipeline itself only ever sees local folders.

* **Inputs** (`--input s3://…`) are mirrored into a local cache folder before the run reads
  them: an object already fetched with the same ETag and size is not fetched again (a daily
  run downloads the new day's file only), and a local file the prefix no longer has is removed.
* **Outputs and the state store** (`--out s3://…`): the run works in a local working folder
  (a cache keyed by the URL). Before the run, that folder is made equal to what the remote
  `manifest.json` lists (the last published outputs, snapshots, run history and the event state
  store), so incremental runs and history work as with a local folder. After the local publish
  every new or changed file is uploaded under `runs/<run id>/…` (an unchanged file keeps the
  object the previous manifest names), and `manifest.json` is written last: readers trust the
  manifest only. Objects no manifest lists (a killed run's uploads) are deleted by the next run
  after it publishes.
* **One run at a time**: a lock object (`.lock`) created with `If-None-Match: *`, renewed while
  the run lasts, taken over when it is stale (its lease ran out, or its process on this host is
  gone); and the manifest is replaced with `If-Match` on the ETag the run started from, so of two
  runs that overlap anyway at most one publishes.

Credentials and the endpoint come from the environment as for any AWS client
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, AWS_DEFAULT_REGION, profiles);
botocore reads them, abmq never logs them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from abmq.config import ConfigError
from abmq.tasks import catalog, event_store
from abmq.tasks.sources import SourceError

REMOTE_MANIFEST = "manifest.json"
REMOTE_LOCK = ".lock"
RUNS_PREFIX = "runs"
MANIFEST_FORMAT = 1
LEASE_SECONDS = 300.0  # a lock not renewed for this long is stale; the holder renews it every quarter of it
WORK_DIR_VAR = "ABMQ_WORK_DIR"
INSTALL_HINT = "pip install 'abm-qualify[s3]'"
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")
# Entries of a local output folder that belong to this machine only, never published.
_LOCAL_ONLY = (catalog.LOCK_FILE, "last_failure")
_LOCAL_ONLY_PREFIXES = (".staging-", ".retired-")


# --- locations --------------------------------------------------------------------------------


def protocol(location: str | os.PathLike) -> str | None:
    match = _URL.match(str(location))
    return match.group(1).lower() if match else None


def is_remote(location: str | os.PathLike | None) -> bool:
    """True for `s3://…` and any other fsspec URL except `file://`."""
    return location is not None and protocol(location) not in (None, "file", "local")


def local_path(location: str | os.PathLike) -> Path:
    """A local location as a path (`file://` stripped)."""
    return Path(_without_file_scheme(location))


def _without_file_scheme(location: str | os.PathLike) -> str:
    """A local location as given (so messages name it as the user wrote it), `file://` stripped."""
    text = str(location)
    return text[len("file://") :] if text.startswith("file://") else text


def display(location: str | os.PathLike) -> str:
    """The location as it may be printed or logged: no `user:password@` part."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]+://)[^/@]*@", r"\1", str(location).rstrip("/"))


def work_root(work_dir: str | os.PathLike | None = None) -> Path:
    """Where local copies of remote locations live: `work_dir`, else $ABMQ_WORK_DIR, else
    $XDG_CACHE_HOME/abmq, else ~/.cache/abmq."""
    if work_dir:
        return Path(work_dir).expanduser()
    if os.environ.get(WORK_DIR_VAR):
        return Path(os.environ[WORK_DIR_VAR]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "abmq"


def _cache_folder(kind: str, location: str, work_dir: str | os.PathLike | None) -> Path:
    url = display(location)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", url.split("://", 1)[-1]).strip("_")[:60]
    return work_root(work_dir) / kind / f"{slug}-{hashlib.sha256(url.encode()).hexdigest()[:12]}"


def local_input(location: str, work_dir: str | os.PathLike | None = None) -> Path:
    """The local mirror of a remote input prefix."""
    return _cache_folder("inputs", location, work_dir) / "files"


def local_output(location: str | os.PathLike, work_dir: str | os.PathLike | None = None) -> Path:
    """The local working folder of an output location (the folder itself when it is local)."""
    if not is_remote(location):
        return local_path(location)
    return _cache_folder("outputs", str(location), work_dir) / "out"


def in_remote_terms(message: str, input_location: str | os.PathLike | None, work_dir: str | os.PathLike | None = None) -> str:
    """A message about the local mirror of remote inputs, naming the remote objects instead."""
    if not is_remote(input_location):
        return message
    mirror = str(local_input(str(input_location), work_dir))
    return message.replace(mirror, display(str(input_location)))


# --- the remote side --------------------------------------------------------------------------


@dataclass
class Remote:
    """A remote prefix: its filesystem (fsspec), its path without protocol, its URL."""

    fs: Any
    root: str
    url: str

    def path(self, key: str) -> str:
        return f"{self.root}/{key}" if key else self.root

    def url_of(self, key: str) -> str:
        return f"{self.url}/{key}"

    def listing(self) -> dict[str, dict[str, Any]]:
        """{key relative to the prefix: info} of every object under the prefix."""
        try:
            found = self.fs.find(self.root, detail=True)
        except FileNotFoundError:
            raise SourceError(f"{self.url}: no such bucket or location") from None
        except Exception as exc:  # noqa: BLE001  (credentials, network, permissions: one line)
            raise SourceError(f"{self.url}: cannot be listed: {_first_line(exc)}") from None
        listed = {}
        for name, info in found.items():
            # "folder" markers (zero-byte keys ending in "/", as consoles create them) hold nothing
            marker = name.endswith("/") or str(info.get("Key", "")).endswith("/") or info.get("type", "file") != "file"
            name = name.rstrip("/")
            if marker or (name == self.root and not info.get("size")):
                continue
            if name == self.root:
                raise SourceError(f"{self.url}: is an object, not a prefix (a folder); name the prefix that holds the exports")
            if name.startswith(self.root + "/"):
                listed[name[len(self.root) + 1 :]] = info
        return listed


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def remote(location: str) -> Remote:
    """The filesystem of a remote location, with fresh listings (no listing cache: another run
    may have written since); the client itself is fsspec's, cached per process."""
    name = protocol(location)
    try:
        import fsspec

        filesystem = fsspec.get_filesystem_class(name)
    except ImportError:
        raise ConfigError(f"{display(location)}: reading {name}:// needs its fsspec driver; for S3: {INSTALL_HINT}") from None
    except ValueError as exc:
        raise ConfigError(f"{display(location)}: {_first_line(exc)}") from None
    fs = filesystem(use_listings_cache=False)
    root = fs._strip_protocol(str(location)).rstrip("/")
    if not root:
        raise ConfigError(f"{display(location)}: name a bucket (and a prefix), e.g. s3://my-bucket/abm")
    return Remote(fs, root, display(location))


def _version_tag(info: dict[str, Any]) -> str:
    """What changes when an object's content changes: its ETag where the store has one."""
    for key in ("ETag", "etag", "md5Hash", "crc32c", "checksum", "LastModified", "mtime", "last_modified"):
        if info.get(key) is not None:
            return str(info[key]).strip('"')
    return ""


def check_input(location: str) -> None:
    """Fail fast (SourceError) on a missing bucket or an empty prefix."""
    found = remote(location).listing()
    if not found:
        raise SourceError(f"{display(location)}: no objects under this prefix; upload the exports there (see README, 'Input contract')")


def check_output(location: str) -> None:
    """Fail fast on an output location that cannot be published to: a protocol without
    conditional writes (ConfigError) or a missing bucket (SourceError)."""
    if protocol(location) not in ("s3", "s3a"):
        raise ConfigError(
            f"{display(location)}: publishing needs conditional writes (If-None-Match, If-Match), which abmq implements for s3:// only"
        )
    store = remote(location)
    bucket = store.root.split("/", 1)[0]
    try:
        exists = store.fs.exists(bucket)
    except Exception as exc:  # noqa: BLE001
        raise SourceError(f"{store.url}: cannot be reached: {_first_line(exc)}") from None
    if not exists:
        raise SourceError(f"{store.url}: no such bucket ({bucket}); create it first")


# --- small local helpers ------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    temporary.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(temporary, path)


sha256_of = event_store.file_hash  # a local file's SHA-256, as the manifest records it


def _local_files(folder: Path, every: bool = False) -> dict[str, Path]:
    """{relative path: path} of the files under `folder`: of a local output folder, the
    published ones (not the lock, last_failure/ or a staging folder), or `every` one."""
    found = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        parts = path.relative_to(folder).parts
        if not every and (parts[0] in _LOCAL_ONLY or parts[0].startswith(_LOCAL_ONLY_PREFIXES)):
            continue
        found["/".join(parts)] = path
    return found


def _safe(relative: str, where: str) -> str:
    """A key or listed path that stays inside the local folder it is copied into."""
    parts = relative.split("/")
    if relative.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise SourceError(f"{where}: the object {relative!r} cannot be copied into a local folder (empty, '.' or '..' in its path)")
    return relative


def _remove_empty_folders(folder: Path) -> None:
    for path in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if path.name not in _LOCAL_ONLY and not any(path.iterdir()):
            path.rmdir()


def _download(fs: Any, pairs: list[tuple[str, Path]], scratch: Path) -> None:
    """Fetch remote paths into local files, each written whole (via `scratch`) and then moved
    into place, so a file is never seen half-written."""
    if not pairs:
        return
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    temporary = [scratch / f"{n:06d}" for n in range(len(pairs))]
    try:
        fs.get([source for source, _ in pairs], [str(t) for t in temporary])
        for (_, destination), fetched in zip(pairs, temporary):
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(fetched, destination)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _upload(fs: Any, pairs: list[tuple[Path, str]]) -> None:
    """Upload local files to remote paths (concurrently, by fsspec's batches)."""
    if pairs:
        fs.put([str(source) for source, _ in pairs], [destination for _, destination in pairs])


# --- inputs -------------------------------------------------------------------------------------


def fetch_inputs(location: str, mirror: Path) -> dict[str, int]:
    """Make `mirror` equal to the objects under `location`: fetch new and changed objects (by
    ETag and size), keep unchanged ones, remove local files the prefix no longer has."""
    store = remote(location)
    listed = store.listing()
    if not listed:
        raise SourceError(f"{store.url}: no objects under this prefix; upload the exports there (see README, 'Input contract')")
    index_path = mirror.parent / "fetched.json"
    index = _read_json(index_path).get("objects", {})
    wanted = {_safe(key, store.url): {"tag": _version_tag(info), "size": int(info.get("size") or 0)} for key, info in listed.items()}
    todo = []
    for key, version in sorted(wanted.items()):
        local = mirror / key
        if index.get(key) == version and local.is_file() and local.stat().st_size == version["size"]:
            continue
        todo.append(key)
    removed = 0
    for relative, path in _local_files(mirror, every=True).items():
        if relative not in wanted:
            path.unlink()
            removed += 1
    mirror.mkdir(parents=True, exist_ok=True)
    try:
        _download(store.fs, [(store.path(key), mirror / key) for key in todo], mirror.parent / ".partial")
    except FileNotFoundError as exc:
        raise SourceError(f"{store.url}: an object vanished while it was fetched ({_first_line(exc)}); run again") from None
    _remove_empty_folders(mirror)
    _write_json(index_path, {"location": store.url, "objects": wanted})
    return {"fetched": len(todo), "unchanged": len(wanted) - len(todo), "removed": removed}


# --- the published manifest -----------------------------------------------------------------------


def read_manifest(store: Remote) -> tuple[dict[str, Any] | None, str | None]:
    """The published manifest and its ETag (None, None before the first publish). The ETag is
    read first: if the manifest is replaced in between, the run's `If-Match` fails, safely."""
    path = store.path(REMOTE_MANIFEST)
    try:
        etag = store.fs.info(path)["ETag"]
        text = store.fs.cat_file(path)
    except FileNotFoundError:
        return None, None
    except Exception as exc:  # noqa: BLE001
        raise SourceError(f"{store.url_of(REMOTE_MANIFEST)}: cannot be read: {_first_line(exc)}") from None
    try:
        manifest = json.loads(text)
        manifest["files"]
    except (ValueError, KeyError, TypeError):
        raise SourceError(f"{store.url_of(REMOTE_MANIFEST)}: not a manifest abmq wrote; nothing there can be trusted") from None
    return manifest, etag


def _precondition_failed(exc: BaseException) -> bool:
    """The store refused a conditional write (HTTP 412)."""
    if isinstance(exc, FileExistsError):
        return True
    cause = getattr(exc, "__cause__", None)
    response = getattr(cause, "response", None) or getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Code") == "PreconditionFailed" or "pre-condition" in str(exc).lower()


class PublishConflictError(catalog.OutputLockedError):
    """Another run published to the same location while this one ran."""


def _conditional_put(store: Remote, key: str, body: bytes, etag: str | None) -> str:
    """Write `body` only if the object is still the version `etag` (None: only if it does not
    exist); the new ETag. A refusal raises FileExistsError."""
    try:
        if etag is None:
            answer = store.fs.pipe_file(store.path(key), body, mode="create")
        else:
            answer = store.fs.pipe_file(store.path(key), body, IfMatch=etag)
    except Exception as exc:
        if _precondition_failed(exc):
            raise FileExistsError(key) from None
        raise
    return (answer or {}).get("ETag") or store.fs.info(store.path(key))["ETag"]


# --- one run at a time ------------------------------------------------------------------------------


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # a killed child not yet reaped by its parent still answers signal 0
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


class RemoteLock:
    """`.lock` under the output prefix, created with If-None-Match: *, renewed every quarter of
    its lease by a background thread (If-Match on its own ETag), deleted at the end. A stale
    lock (lease over, or its process gone on this host) is taken over with If-Match, so of
    several waiters one wins."""

    def __init__(self, store: Remote, holder: str, lease: float = LEASE_SECONDS):
        self.store, self.holder, self.lease = store, holder, lease
        self.etag: str | None = None
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _body(self) -> bytes:
        now = time.time()
        return json.dumps(
            {
                "holder": self.holder,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "since": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
                "expires": now + self.lease,
            }
        ).encode()

    def _stale(self, current: dict[str, Any]) -> bool:
        if float(current.get("expires", 0)) < time.time():
            return True
        return current.get("host") == socket.gethostname() and isinstance(current.get("pid"), int) and _process_gone(current["pid"])

    def acquire(self, wait_seconds: float) -> None:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                self.etag = _conditional_put(self.store, REMOTE_LOCK, self._body(), None)
                break
            except FileExistsError:
                pass
            current, etag = self._current()
            if current is not None and self._stale(current):
                try:
                    self.etag = _conditional_put(self.store, REMOTE_LOCK, self._body(), etag)
                    break
                except FileExistsError:
                    continue  # another waiter took it first
            if time.monotonic() >= deadline:
                who = (
                    f"{current.get('holder')}, pid {current.get('pid')} on {current.get('host')}, since {current.get('since')}"
                    if current
                    else "unknown"
                )
                raise catalog.OutputLockedError(
                    f"{self.store.url}: another run is publishing here ({who}); waited {wait_seconds:.0f} s. "
                    f"Let it finish, or stop it, then run again (its lock, {REMOTE_LOCK}, is taken over once {self.lease:.0f} s pass unrenewed)"
                )
            time.sleep(1.0)
        self._thread = threading.Thread(target=self._renew, name="abmq-remote-lock", daemon=True)
        self._thread.start()

    def _current(self) -> tuple[dict[str, Any] | None, str | None]:
        path = self.store.path(REMOTE_LOCK)
        try:
            etag = self.store.fs.info(path)["ETag"]
            current = json.loads(self.store.fs.cat_file(path))
        except FileNotFoundError:
            return None, None
        except ValueError:
            return {"expires": 0}, etag  # unreadable: treat as stale
        return (current if isinstance(current, dict) else {"expires": 0}), etag

    def _renew(self) -> None:
        while not self._stop.wait(max(self.lease / 4, 1.0)):
            try:
                self.etag = _conditional_put(self.store, REMOTE_LOCK, self._body(), self.etag)
            except FileExistsError:
                self.lost = True  # taken over: this run must not publish
                return
            except Exception:  # noqa: BLE001  (a network hiccup: try again at the next beat)
                continue

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self.etag is None or self.lost:
            return
        with contextlib.suppress(Exception):  # a lock left behind is stale once its lease ends
            bucket, key = self.store.path(REMOTE_LOCK).split("/", 1)
            # If-Match: only our own lock (a store that ignores the condition deletes it all the same)
            self.store.fs.call_s3("delete_object", Bucket=bucket, Key=key, IfMatch=self.etag)


# --- the run's view: local folders for remote locations ---------------------------------------------


@dataclass
class LocalView:
    """The local folders a run reads and writes, and what they stand for."""

    input_location: str
    out_location: str | None
    input_dir: str
    out_dir: str | None
    work_dir: str | None = None
    fetched: dict[str, int] = field(default_factory=dict)
    pulled: dict[str, int] = field(default_factory=dict)
    _lock: RemoteLock | None = None
    _manifest: dict[str, Any] | None = None
    _etag: str | None = None

    @property
    def remote_input(self) -> bool:
        return is_remote(self.input_location)

    @property
    def remote_out(self) -> bool:
        return is_remote(self.out_location)

    @property
    def remote(self) -> bool:
        return self.remote_input or self.remote_out

    def fetch(self) -> dict[str, int]:
        """Mirror the remote inputs into `input_dir` (nothing to do for local inputs)."""
        if self.remote_input:
            self.fetched = fetch_inputs(self.input_location, Path(self.input_dir))
        return self.fetched

    def pull(self) -> dict[str, int]:
        """Make the local output folder equal to the published manifest (only called while the
        local output lock is held)."""
        if not self.remote_out:
            return {}
        store = remote(str(self.out_location))
        self._manifest, self._etag = read_manifest(store)
        listed = self._manifest["files"] if self._manifest else {}
        for relative in listed:
            _safe(relative, store.url_of(REMOTE_MANIFEST))
        out = Path(str(self.out_dir))
        out.mkdir(parents=True, exist_ok=True)
        index = _read_json(self._index_path()).get("files", {})
        local = _local_files(out)
        removed = 0
        for relative, path in local.items():
            if relative not in listed:
                path.unlink()
                removed += 1
        todo = [r for r, entry in listed.items() if not (r in local and _unchanged(local[r], index.get(r), entry["sha256"]))]
        try:
            _download(store.fs, [(store.path(listed[r]["key"]), out / r) for r in todo], out.parent / ".partial")
        except FileNotFoundError:
            raise SourceError(
                f"{store.url}: an object the published manifest lists is missing; the remote outputs were changed by hand "
                f"(restore it, or delete {REMOTE_MANIFEST} to start afresh)"
            ) from None
        for relative in todo:
            sha = sha256_of(out / relative)
            if sha != listed[relative]["sha256"]:
                raise SourceError(f"{store.url_of(listed[relative]['key'])}: its content differs from the published manifest's sha256")
            index[relative] = _stamp(out / relative, sha)
        _remove_empty_folders(out)
        _write_json(self._index_path(), {"location": store.url, "files": {r: index[r] for r in listed if r in index}})
        self.pulled = {"downloaded": len(todo), "unchanged": len(listed) - len(todo), "removed": removed}
        return self.pulled

    def _index_path(self) -> Path:
        return Path(str(self.out_dir)).parent / "synced.json"

    def publish(self, as_of: dt.date) -> dict[str, Any]:
        """Upload what changed, then the manifest (If-Match on the one the run started from),
        then delete the objects no manifest lists. Called after the local publish."""
        store = remote(str(self.out_location))
        out = Path(str(self.out_dir))
        previous = self._manifest["files"] if self._manifest else {}
        run_id = f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        index = _read_json(self._index_path()).get("files", {})
        entries, uploads = {}, []
        for relative, path in _local_files(out).items():
            stamp = index.get(relative)
            if not _unchanged(path, stamp, stamp["sha256"] if stamp else ""):
                stamp = _stamp(path, sha256_of(path))
            index[relative] = stamp
            before = previous.get(relative)
            if before and before["sha256"] == stamp["sha256"]:
                key = before["key"]
            else:
                key = f"{RUNS_PREFIX}/{run_id}/{relative}"
                uploads.append((path, store.path(key)))
            entries[relative] = {"key": key, "size": stamp["size"], "sha256": stamp["sha256"]}
        _write_json(self._index_path(), {"location": store.url, "files": {r: index[r] for r in entries}})
        _upload(store.fs, uploads)
        if self._lock is not None and self._lock.lost:
            raise PublishConflictError(f"{store.url}: this run's lock was taken over by another run; nothing of this run was published")
        manifest = {
            "format": MANIFEST_FORMAT,
            "run_id": run_id,
            "as_of": as_of.isoformat(),
            "published_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "previous_run_id": self._manifest.get("run_id") if self._manifest else None,
            "files": dict(sorted(entries.items())),
        }
        body = (json.dumps(manifest, indent=1) + "\n").encode()
        try:
            self._etag = _conditional_put(store, REMOTE_MANIFEST, body, self._etag)
        except FileExistsError:
            raise PublishConflictError(
                f"{store.url}: another run published here while this one ran; nothing of this run was published "
                "(its uploads are removed by the next run); run again"
            ) from None
        self._manifest = manifest
        try:  # published: a failure to tidy up is left to the next run
            removed, cleanup_error = remove_garbage(store, manifest), None
        except Exception as exc:  # noqa: BLE001
            removed, cleanup_error = 0, _first_line(exc)
        return {
            "location": store.url,
            "manifest": store.url_of(REMOTE_MANIFEST),
            "run_id": run_id,
            "uploaded": len(uploads),
            "unchanged": len(entries) - len(uploads),
            "removed": removed,
            "cleanup_error": cleanup_error,
            "files": {relative: store.url_of(entry["key"]) for relative, entry in manifest["files"].items()},
        }


def _stamp(path: Path, sha256: str) -> dict[str, Any]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}


def _unchanged(path: Path, stamp: dict[str, Any] | None, sha256: str) -> bool:
    """The local file is still the one hashed to `sha256` (same size and mtime as recorded)."""
    if not stamp or stamp.get("sha256") != sha256:
        return False
    stat = path.stat()
    return stat.st_size == stamp["size"] and stat.st_mtime_ns == stamp["mtime_ns"]


def remove_garbage(store: Remote, manifest: dict[str, Any]) -> int:
    """Delete the objects under the prefix that `manifest` does not list (a killed or beaten
    run's uploads, files replaced since), if they are older than the manifest: what a run that
    started after it has uploaded is left alone."""
    listed = {entry["key"] for entry in manifest["files"].values()} | {REMOTE_MANIFEST, REMOTE_LOCK}
    published = store.fs.info(store.path(REMOTE_MANIFEST)).get("LastModified")
    garbage = [
        store.path(key)
        for key, info in store.listing().items()
        if key not in listed and (published is None or info.get("LastModified") is None or info["LastModified"] < published)
    ]
    if garbage:
        store.fs.rm(garbage)
    return len(garbage)


@contextlib.contextmanager
def local_view(
    input_location: str,
    out_location: str | None,
    work_dir: str | None = None,
    wait_seconds: float = 600,
    holder: str = "abmq",
) -> Iterator[LocalView]:
    """Local folders standing for the run's input and output locations, with the locks a
    remote location needs held while the block runs: the local mirror of remote inputs (one
    run fetches into it at a time) and the remote output's lock object. Local locations are
    passed through unchanged; nothing is fetched or published here (`LocalView.fetch`, `pull`,
    `publish` do that)."""
    remote_in, remote_out = is_remote(input_location), is_remote(out_location)
    out_dir = None
    if out_location is not None:
        out_dir = str(local_output(out_location, work_dir)) if remote_out else _without_file_scheme(out_location)
    view = LocalView(
        input_location=str(input_location),
        out_location=None if out_location is None else str(out_location),
        input_dir=str(local_input(str(input_location), work_dir)) if remote_in else _without_file_scheme(input_location),
        out_dir=out_dir,
        work_dir=work_dir,
    )
    with contextlib.ExitStack() as stack:
        if remote_in:
            stack.enter_context(catalog.output_lock(Path(view.input_dir).parent, wait_seconds, holder, cleanup=lambda _folder: None))
        if remote_out:
            check_output(str(out_location))
            view._lock = RemoteLock(remote(str(out_location)), holder)
            view._lock.acquire(wait_seconds)
            stack.callback(view._lock.release)
        yield view


# --- reading what was published -------------------------------------------------------------------


def published_manifest(location: str) -> dict[str, Any]:
    """The manifest of the last run that published to `location` (SourceError if none did)."""
    manifest, _ = read_manifest(remote(location))
    if manifest is None:
        raise SourceError(f"{display(location)}: nothing published yet (no {REMOTE_MANIFEST})")
    return manifest


def read_published(location: str, relative: str) -> bytes:
    """One published file (e.g. "targets.csv"), read through the manifest."""
    store = remote(location)
    manifest, _ = read_manifest(store)
    if manifest is None:
        raise SourceError(f"{store.url}: nothing published yet (no {REMOTE_MANIFEST})")
    entry = manifest["files"].get(relative)
    if entry is None:
        raise SourceError(f"{store.url}: the published run {manifest['run_id']} has no {relative}")
    data = store.fs.cat_file(store.path(entry["key"]))
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise SourceError(f"{store.url_of(entry['key'])}: its content differs from the published manifest's sha256")
    return data


def download_published(location: str, destination: Path, only: list[str] | None = None) -> dict[str, Any]:
    """Copy the published files (all, or `only` those) into `destination`, laid out as a local
    output folder; the manifest."""
    store = remote(location)
    manifest, _ = read_manifest(store)
    if manifest is None:
        raise SourceError(f"{store.url}: nothing published yet (no {REMOTE_MANIFEST})")
    files = {_safe(r, store.url_of(REMOTE_MANIFEST)): e for r, e in manifest["files"].items() if only is None or r in only}
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    _download(
        store.fs,
        [(store.path(e["key"]), destination / r) for r, e in sorted(files.items())],
        destination / f".partial-{uuid.uuid4().hex[:8]}",
    )
    for relative, entry in files.items():
        if sha256_of(destination / relative) != entry["sha256"]:
            raise SourceError(f"{store.url_of(entry['key'])}: its content differs from the published manifest's sha256")
    return manifest
