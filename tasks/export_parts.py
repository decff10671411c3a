"""Exports staged in parts (issue 13 part 2): an export that changes a little every day (a
CRM's contacts) is cut into parts by its rows' content, and each part's staged rows are kept
in the export store under a hash of its rows as read. The next run with a changed export
stages only the parts whose rows changed and reads the others back; the rows staged either
way are the same, so validating them (GX over the whole export, as before) and all that
follows give what staging the whole export would (tests/test_export_parts.py).

- Each row as read is hashed twice (64-bit, two seeds: `row_hashes`); a row whose first hash
  has its low PART_BITS bits zero ends a part, so a part's bounds depend on its rows only: a
  row changed, added or removed changes the part it is in (and the next, when the row ended a
  part or comes to end one), and the parts after keep their content and only move (their
  `_row` is stored from 0 and offset when read).
- A part is known by a SHA-256 of its rows' hashes and the export's columns (`Part.digest`),
  and stored under it and the staging recipe (`remembered.staging_recipe`: the mapping, the
  limits, what staging reads of the accounts, the code): only a part staged the same way is
  read back. A part staged the same way but against other accounts (an account came, went
  or changed its domain or id: the same `remembered.row_recipe`) is linked to the accounts
  again (`staging.links_again`, from the domain each contact gave, kept with the part), not
  staged again; only a part whose links changed is stored anew, the others are kept as they
  are (a manifest entry names each part's file, and its digest).
- Staging must be row by row for this: each staged row a function of its row as read and the
  recipe alone. It is for contacts, technographics and intent; not for accounts (a domain is
  chosen per account id).
- A run writes the parts it staged into a scratch folder (`OUT/.staging-parts-…`), moved into
  the store when the run remembers the export, past the gate; a run stopped before leaves the
  store as it was. The files are read and written by `tasks/source_store.py`.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

PARTED = ("contacts", "technographics", "intent")  # exports staged row by row, kept in parts
PART_BITS = 20  # a part ends after a row whose first hash has these low bits zero: ~1M rows a part
SEEDS = (0x5EED_0001, 0x5EED_0002)
SCRATCH_PREFIX = ".staging-parts-"  # removed with a killed run's staging folders (`catalog.remove_leftovers`)


@dataclass(frozen=True)
class Part:
    start: int  # its first row's position in the export
    rows: int
    digest: str  # SHA-256 of its rows' two hashes and the export's columns


@dataclass(frozen=True)
class PartStore:
    """Where a parted export's staged parts are read from and written to."""

    source: str
    folder: Path  # the export store's folder (`source_store.store_folder`)
    recipe: str  # how a row is staged besides its own values (`remembered.staging_recipe`)
    scratch: Path  # where this run's new parts wait until remembered
    # how a row is staged, its links to the accounts aside (`remembered.row_recipe`)
    row_recipe: str | None = None
    # the published entry's part files by their digest: staged by the same recipe (`lent`), or
    # the same way but against other accounts (`relinkable`: linked again, `staging.links_again`)
    lent: dict[str, str] = field(default_factory=dict)
    relinkable: dict[str, str] = field(default_factory=dict)
    # the published entry's parts' verdicts by file (`tasks/part_checks.py`)
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    # what the relinkable parts were staged against (`remembered.linked_keys` of the published
    # accounts), when known: only the rows an account change reaches are linked again
    linked_against: dict[str, Any] | None = None

    def file(self, part: Part) -> str:
        """The file a part staged by this recipe is written to."""
        return f"{self.source}.{self.recipe[:16]}.{part.digest[:32]}.part.parquet"

    def lent_file(self, part: Part) -> str | None:
        """The published entry's file of the part, staged by the same recipe, if any."""
        return self.lent.get(part.digest[:32])

    def relinkable_file(self, part: Part) -> str | None:
        """The published entry's file of the part staged against other accounts, if any."""
        return self.relinkable.get(part.digest[:32])


@dataclass(frozen=True)
class StagedParts:
    """A parted export as staged: its parts in export order (the manifest entry's `parts`),
    the ones written in this run (file name → scratch path), and how many rows were staged
    and linked again to changed accounts (`parts_relinked` of those parts had links that
    changed, and were written anew; the others are kept as they were)."""

    parts: list[dict[str, Any]]
    new: dict[str, Path]
    rows_staged: int
    store: PartStore
    rows_relinked: int = 0
    parts_relinked: int = 0

    @property
    def scratch(self) -> Path:
        return self.store.scratch


def part_store(
    source: str, folder: Path, recipe: str, published: dict[str, Any] | None, out_dir: str | Path, row_recipe: str | None = None
) -> PartStore:
    """The parts a published entry (`published`, the manifest's entry for `source`) lends this
    run: its parts staged by the same `recipe`, or, when only what staging reads of the
    accounts differs (the same `row_recipe`), its parts to link again."""
    files = {_digest_of(part): part["file"] for part in published.get("parts", [])} if published is not None else {}
    scratch = Path(out_dir) / f"{SCRATCH_PREFIX}{uuid.uuid4().hex[:12]}"
    if published is not None and published.get("recipe") == recipe:
        return PartStore(source, folder, recipe, scratch, row_recipe, lent=files)
    if published is not None and row_recipe is not None and published.get("row_recipe") == row_recipe:
        return PartStore(source, folder, recipe, scratch, row_recipe, relinkable=files)
    return PartStore(source, folder, recipe, scratch, row_recipe)


def _digest_of(part: dict[str, Any]) -> str:
    """A manifest entry's part's digest (32 characters, as in its file's name)."""
    return part.get("digest") or part["file"].rsplit(".", 3)[-3]


def row_hashes(raw: pl.LazyFrame) -> pl.DataFrame:
    """Two 64-bit hashes of each row as read (every column but `_row`), in export order."""
    columns = [name for name in raw.collect_schema().names() if name != "_row"]
    row = pl.struct(columns)
    return raw.select(row.hash(SEEDS[0]).alias("a"), row.hash(SEEDS[1]).alias("b")).collect(engine="streaming")


def parts_of(hashes: pl.DataFrame, columns: dict[str, str]) -> list[Part]:
    """The export's parts: bounds where a row's first hash has PART_BITS low bits zero, each
    known by its rows' hashes and the export's `columns` (name → type as read)."""
    first, second = hashes.get_column("a").to_numpy(), hashes.get_column("b").to_numpy()
    ends = np.flatnonzero((first & np.uint64((1 << PART_BITS) - 1)) == 0) + 1
    bounds = [0, *ends[ends < len(first)].tolist(), len(first)] if len(first) else []
    header = json.dumps(columns, sort_keys=True).encode()

    def part(start: int, end: int) -> Part:
        digest = hashlib.sha256(header)
        digest.update(f"{end - start}\0".encode())
        digest.update(first[start:end].data)
        digest.update(second[start:end].data)
        return Part(start, end - start, digest.hexdigest())

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # hashlib lets go of the GIL
        return list(pool.map(part, bounds, bounds[1:]))


def plan(raw: pl.LazyFrame) -> list[Part]:
    """The parts of an export as read (`catalog.scan_source`'s scan, with `_row`)."""
    schema = raw.collect_schema()
    return parts_of(row_hashes(raw), {name: str(dtype) for name, dtype in schema.items() if name != "_row"})


def assembled(parts: list[Part], stored: list[pl.DataFrame | None], staged_new: pl.DataFrame) -> pl.DataFrame | None:
    """The export's staged rows in export order: each part's rows read back from the store
    (`stored`, None for a part not there; the frames are emptied) or taken from `staged_new`
    (the rows of the parts not stored, staged now, in export order). None when they do not
    line up (then the export is staged whole)."""
    pieces, taken = [], 0
    for part, rows in zip(parts, stored, strict=True):
        if rows is None:
            rows = staged_new.slice(taken, part.rows)
            taken += part.rows
        pieces.append(rows)
    if taken != staged_new.height or any(piece.schema != pieces[0].schema for piece in pieces):
        return None
    # one chunk: left in pieces, each later read of a column (the contact ids for the events'
    # checks, the split) held ~1.5 GiB more at XL than the frame staged whole. Joined a column
    # at a time, each column's pieces let go once it is joined: joined whole, every piece and
    # its copy were alive at once (+1.6 GiB at XL, the flow process's peak on a day every
    # contact was linked again). The pieces are emptied.
    columns = []
    for name in pieces[0].columns:
        columns.append(pl.concat([piece.get_column(name) for piece in pieces], rechunk=True))
        for piece in pieces:
            piece.drop_in_place(name)
    return pl.DataFrame(columns)


def one_for_one(staged: pl.DataFrame, rows: int) -> bool:
    """Whether `staged` has one row for each of the export's `rows` rows as read, in their order
    (what cutting it into parts by position needs)."""
    if not rows or staged.height != rows:
        return False
    return staged.select((pl.col("_row") == pl.int_range(pl.len(), dtype=staged.schema["_row"])).all()).item()


def entries(parts: list[Part], store: PartStore, kept: list[str | None]) -> list[dict[str, Any]]:
    """The manifest entry's `parts`: each part's file (`kept`: the store's, where it has the
    part as this run stages it; else the one this run writes), in export order, and where it
    starts."""
    return [
        {"file": file or store.file(part), "start": part.start, "rows": part.rows, "digest": part.digest[:32]}
        for part, file in zip(parts, kept, strict=True)
    ]
