"""The export store (`OUT/state/sources/`): exports remembered across runs (what may be, and
what a remembered verdict says, is `tasks/remembered.py`), their kept and quarantined rows and
their verdicts written and read back.

Files are written in place under names made of the export's key and become part of the
outputs only when the run's manifest is published, as in the event store
(`tasks/event_store.py`); `remove_unlisted` drops what no published manifest lists.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import polars as pl

from abmq.tasks import catalog, event_store, export_parts
from abmq.tasks.account_links import GIVEN_DOMAIN

STORE_DIR = "state/sources"
MANIFEST = "_sources.json"
FILES = ("kept", "quarantined", "record")  # an entry's files ("kept": unless it is kept in parts)


def store_folder(out_dir: str | Path) -> Path:
    return Path(out_dir) / STORE_DIR


def read_state(out_dir: str | Path | None) -> dict[str, dict[str, Any]]:
    """The published manifest: {source: entry}."""
    if out_dir is None:
        return {}
    return catalog.read_state_manifest(store_folder(out_dir) / MANIFEST, "sources", "export state")


def manifest_text(entries: dict[str, dict[str, Any]]) -> str:
    return json.dumps({"sources": dict(sorted(entries.items()))}, indent=2, sort_keys=True) + "\n"


SUMMARY = "summary"  # an entry's summary kept beside its export (`tasks/domain_summaries.py`): {"key", "file"}


def new_entry(source: str, key: str, parts: export_parts.StagedParts | None = None) -> dict[str, Any]:
    """A manifest entry: its files named by the export's key. An export staged in parts
    (`tasks/export_parts.py`) keeps its staged rows in them instead of a file of kept rows."""
    stem = f"{source}.{key[:16]}"
    entry: dict[str, Any] = {
        "key": key,
        "kept": f"{stem}.kept.parquet",
        "quarantined": f"{stem}.quarantined.parquet",
        "record": f"{stem}.json",
    }
    if parts is not None:
        del entry["kept"]
        entry.update(recipe=parts.store.recipe, parts=parts.parts)
        if parts.store.row_recipe is not None:
            entry["row_recipe"] = parts.store.row_recipe
    return entry


def with_summary(source: str, entry: dict[str, Any], key: str) -> dict[str, Any]:
    """`entry` with a summary under `key`, named beside the export's files."""
    return {**entry, SUMMARY: {"key": key, "file": f"{source}.{entry['key'][:16]}.{key[:16]}.summary.parquet"}}


def write_entry(out_dir: str | Path, entry: dict[str, str], kept: pl.DataFrame, quarantined: pl.DataFrame, record: str) -> None:
    folder = store_folder(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    # zstd: at XL the 9.85M kept contacts are 138 MiB, written in 2.2 s and read in 0.8 s
    if "kept" in entry:  # else its parts hold them (`keep_parts`)
        _write_parquet(folder / entry["kept"], kept)
    _write_parquet(folder / entry["quarantined"], quarantined)
    catalog.write_atomically(folder / entry["record"], lambda path: path.write_text(record, encoding="utf-8"))


def _write_parquet(target: Path, frame: pl.DataFrame) -> None:
    catalog.write_atomically(target, lambda path: frame.write_parquet(path, compression="zstd", statistics=False))


def read_record(out_dir: str | Path, entry: dict[str, str]) -> str | None:
    """An entry's record, or None when any of its files is missing (a tampered store: the
    export is staged and validated again)."""
    folder = store_folder(out_dir)
    if not all((folder / name).exists() for name in _export_files(entry)):
        return None
    return (folder / entry["record"]).read_text(encoding="utf-8")


def read_rows(out_dir: str | Path, entry: dict[str, str], lazy: bool = False) -> tuple[pl.DataFrame | pl.LazyFrame, pl.DataFrame]:
    """(kept rows, quarantined rows) of an entry; `lazy`: the kept rows as a scan of their file."""
    folder = store_folder(out_dir)
    quarantined = pl.read_parquet(folder / entry["quarantined"])
    if "parts" in entry:
        kept = _read_kept_parts(folder, entry["parts"], quarantined)
        return (kept if lazy else kept.collect()), quarantined
    kept = pl.scan_parquet(folder / entry["kept"]) if lazy else pl.read_parquet(folder / entry["kept"])
    return kept, quarantined


def read_summary(out_dir: str | Path, file: str) -> pl.DataFrame | None:
    """A per-domain summary kept beside its export (`tasks/domain_summaries.py`), or None when
    the file is gone (a tampered store: the summary is worked out again)."""
    path = store_folder(out_dir) / file
    return pl.read_parquet(path) if path.exists() else None


def write_summary(out_dir: str | Path, file: str, summary: pl.DataFrame) -> None:
    folder = store_folder(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    _write_parquet(folder / file, summary)


def remove_unlisted(out_dir: str | Path) -> int:
    """Stored files no published manifest lists (a killed run's, a changed export's, a summary
    worked out again). Only called while holding the output lock."""
    listed = {MANIFEST} | {name for entry in read_state(out_dir).values() for name in entry_files(entry)}
    return catalog.remove_files_not_listed(store_folder(out_dir), listed)


def entry_files(entry: dict[str, Any]) -> list[str]:
    """The files of a store entry: its export's, and the summary kept beside it, if any."""
    return _export_files(entry) + ([entry[SUMMARY]["file"]] if entry.get(SUMMARY) else [])


def _export_files(entry: dict[str, Any]) -> list[str]:
    """An entry's files of its export: rows (kept, or its parts' for one kept in parts),
    quarantined rows and record."""
    files = [entry[which] for which in FILES if which in entry]
    return files + list(dict.fromkeys(part["file"] for part in entry.get("parts", [])))


def remove_leftovers(out_dir: Path) -> None:
    """What killed runs left behind: staging folders and unlisted state files, of the event
    store and this one (only called while holding the output lock)."""
    event_store.remove_leftovers(out_dir)
    remove_unlisted(out_dir)


# --- exports kept in parts (`tasks/export_parts.py`) ------------------------------------------


def read_part(folder: Path, file: str, start: int) -> pl.LazyFrame:
    """A stored part's staged rows at `start` in the export (stored from `_row` 0)."""
    scan = pl.scan_parquet(folder / file)
    return scan.with_columns((pl.col("_row") + pl.lit(start, dtype=scan.collect_schema()["_row"])).alias("_row"))


def stored_parts(parts: list[export_parts.Part], store: export_parts.PartStore) -> list[pl.DataFrame | None]:
    """Each part's staged rows read back, where the store has it staged by the same recipe
    (else None: it is staged)."""
    rows = []
    for part in parts:
        file = store.lent_file(part)
        there = file is not None and (store.folder / file).exists()
        rows.append(read_part(store.folder, file, part.start).collect() if there else None)
    return rows


def relinkable_files(parts: list[export_parts.Part], store: export_parts.PartStore, stored: list[bool]) -> list[str | None]:
    """Each part not `stored` whose rows the published entry has staged against other
    accounts, to link again (`export_parts.PartStore.relinkable_file`); else None."""
    files = []
    for part, there in zip(parts, stored, strict=True):
        file = None if there else store.relinkable_file(part)
        files.append(file if file is not None and (store.folder / file).exists() else None)
    return files


def write_new_parts(
    staged: pl.DataFrame,
    parts: list[export_parts.Part],
    kept: list[str | None],
    store: export_parts.PartStore,
    linked_again: list[bool] | None = None,
) -> export_parts.StagedParts:
    """The parts the store does not keep as they are (`kept`: their files there) written from
    `staged` (the whole export staged, one row per row as read, in its order) into the scratch
    folder, each with `_row` from 0. `linked_again`: the parts linked again to changed
    accounts rather than staged (kept when their links did not change)."""
    linked_again = linked_again or [False] * len(parts)
    store.scratch.mkdir(parents=True, exist_ok=True)
    new: dict[str, Path] = {}
    staged_rows, relinked_rows, relinked_written = 0, 0, 0
    for part, file, relinked in zip(parts, kept, linked_again, strict=True):
        relinked_rows += part.rows if relinked else 0
        if file is not None or store.file(part) in new:
            continue
        relinked_written += relinked
        staged_rows += 0 if relinked else part.rows
        piece = staged.slice(part.start, part.rows)
        piece = piece.with_columns((pl.col("_row") - pl.lit(part.start, dtype=piece.schema["_row"])).alias("_row"))
        new[store.file(part)] = store.scratch / store.file(part)
        piece.write_parquet(new[store.file(part)], compression="zstd", statistics=False)
    return export_parts.StagedParts(
        export_parts.entries(parts, store, kept), new, staged_rows, store, rows_relinked=relinked_rows, parts_relinked=relinked_written
    )


def _read_kept_parts(folder: Path, parts: list[dict[str, Any]], quarantined: pl.DataFrame) -> pl.LazyFrame:
    """An entry kept in parts: its kept rows are its parts' rows, in export order, less the
    quarantined ones, without what they keep only to be linked again (`staging.links_again`)."""
    rows = pl.concat([read_part(folder, part["file"], part["start"]) for part in parts]).drop(GIVEN_DOMAIN, strict=False)
    if quarantined.is_empty():
        return rows
    return rows.filter(~pl.col("_row").is_in(quarantined.get_column("_row").implode()))


def keep_parts(staged: export_parts.StagedParts, out_dir: str | Path) -> None:
    """The parts staged in this run moved from the scratch folder into the store."""
    folder = store_folder(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for file, path in staged.new.items():
        os.replace(path, folder / file)
    discard_parts(staged.scratch)


def discard_parts(scratch: Path) -> None:
    """A scratch folder of parts staged for the store (`export_parts.PartStore.scratch`)."""
    shutil.rmtree(scratch, ignore_errors=True)
