"""Text that every later step can write: cleaned once, when a source is staged.

**Policy (issue 14).** Every text value of a source goes through `clean_text` in
`staging.cast_to_contract`, the one function every source (single exports, folders of
parts, daily event files) passes through. Two kinds of value are not let through as they are:

* **Unsafe characters**: NUL and the other C0 control characters except tab (so also line
  feeds and carriage returns *inside* a value), DEL, and the noncharacters U+FFFE and U+FFFF.
  None of them can be written to XML 1.0 (the charts' SVG), most are parse errors in HTML,
  and NUL aborts vl-convert, the chart renderer. They are **removed**, and the row is
  **quarantined** with the reason in `_cast_error`, e.g. `name: control characters removed`
  (the suites' `expect_column_values_to_be_null(_cast_error)` rule sets the row aside, names it
  in the report and counts it: rows in = used + quarantined + merged still holds). The row is
  quarantined rather than kept because a value with a NUL in it is a damaged export (a
  truncated UTF-16 file, a binary column, a broken join upstream), not a spelling to accept.
  More than `max_quarantine_share` of a source's rows damaged so blocks the run, as any other
  quarantine rule does.
* **Oversized values**: more than `limits.max_field_bytes` UTF-8 bytes. CSV files are refused
  before they are read (tasks/input_limits.py names the file, line and column); a value that
  still arrives (a Parquet cell, a quoted CSV value full of commas) is cut to the limit and
  its row quarantined with `name: 2097152 bytes, over limits.max_field_bytes (65536); cut`.

Invalid UTF-8, lone surrogates included (CESU-8, "mixed encodings"), never reaches this
point: the reader refuses the file (`catalog.read_error`: "not UTF-8 text"), and a polars
string cannot hold one. Column names (CSV headers) with unsafe characters have them replaced
by U+FFFD (`safe_name`), so the column is reported as unknown under a printable name instead
of silently matching a contract column.

Clean values are returned unchanged (the expressions only rewrite values that contain
something to remove), so the outputs of a clean input are byte-identical with and without
this step. Cost: the minimum and maximum of each batch's raw bytes (printable ASCII needs
nothing more), else one numpy pass over them, and one byte-length pass; the regex and the
rewriting run only for a batch that holds something to remove or cut (the L benchmark's 10M
events: 4 text columns add ~0.45 s to a 0.2 s read).
"""

from __future__ import annotations

import re

import numpy as np
import polars as pl

# One character class in both engines: Rust regex (polars) writes the noncharacters as \x{FFFE}, Python `re` as \ufffe.
UNSAFE_PATTERN = r"[\x00-\x08\x0A-\x1F\x7F\x{FFFE}\x{FFFF}]"
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f\ufffe\uffff]")


def has_unsafe(expr: pl.Expr) -> pl.Expr:
    return expr.str.contains(UNSAFE_PATTERN)


def _may_hold_unsafe(values: pl.Series) -> bool:
    """Whether any value may hold an unsafe character, from one pass over the raw UTF-8 bytes
    (numpy, ~1 GB/s; the regex costs ~0.3 s per million values). A yes is confirmed value by
    value with the regex; a byte outside the batch's slice may give a false yes, never a false no."""
    arrow = values.to_arrow(compat_level=pl.CompatLevel.oldest())  # large_string: one data buffer a chunk
    for chunk in getattr(arrow, "chunks", [arrow]):
        data = chunk.buffers()[2]
        if data is None or data.size == 0:
            continue
        raw = np.frombuffer(data, dtype=np.uint8)
        if raw.min() >= 0x20 and raw.max() < 0x7F:
            # printable ASCII only (the common case: ids, types, codes): two reductions with no
            # array made, where the counts below made four (at L's 10M events 0.57 -> 0.24 s)
            continue
        if np.count_nonzero(raw < 0x20) > np.count_nonzero(raw == 0x09) or np.count_nonzero(raw == 0x7F):
            return True
        lead = np.flatnonzero(raw[:-2] == 0xEF)  # U+FFFE and U+FFFF are EF BF BE and EF BF BF
        if lead.size and ((raw[lead + 1] == 0xBF) & ((raw[lead + 2] & 0xFE) == 0xBE)).any():
            return True
    return False


def _clean_batch(values: pl.Series, max_bytes: int) -> pl.Series:
    """A batch's values with unsafe characters removed and values over `max_bytes` cut. The
    common case, nothing to do, returns the batch as it is (no copy, no regex)."""
    cleaned = values
    if _may_hold_unsafe(values):
        found = values.str.contains(UNSAFE_PATTERN).fill_null(False)
        if found.any():
            cleaned = values.str.replace_all(UNSAFE_PATTERN, "")
    too_long = (cleaned.str.len_bytes() > max_bytes).fill_null(False)
    if too_long.any():
        # Whole characters only, at most max_bytes bytes whatever the script (a character is 1
        # to 4 bytes). Only quarantined rows are ever cut, so the shorter cut costs nothing real.
        cleaned = pl.select(pl.when(too_long).then(cleaned.str.head(max_bytes // 4)).otherwise(cleaned)).to_series()
    return cleaned


def clean_text(expr: pl.Expr, max_bytes: int) -> pl.Expr:
    """The values with unsafe characters removed and values over `max_bytes` bytes cut to
    their first `max_bytes // 4` characters; clean values come back unchanged."""
    return expr.map_batches(lambda values: _clean_batch(values, max_bytes), return_dtype=pl.String, is_elementwise=True)


def flags(original: pl.Expr, cleaned: pl.Expr, max_bytes: int) -> tuple[pl.Expr, pl.Expr]:
    """(had unsafe characters, byte length when over `max_bytes`), from the byte lengths
    before and after `clean_text` (a value both over the limit and unsafe is noted as over)."""
    size = original.str.len_bytes()
    too_long = (size > max_bytes).fill_null(False)
    unsafe = ((cleaned.str.len_bytes() != size) & ~too_long).fill_null(False)
    return unsafe, pl.when(too_long).then(size)


def notes(name: str, unsafe: pl.Expr, oversize: pl.Expr, max_bytes: int) -> list[pl.Expr]:
    """Quarantine notes for one column: null where there is nothing to say."""
    return [
        pl.when(unsafe).then(pl.lit(f"{name}: control characters removed")),
        pl.when(oversize.is_not_null()).then(
            pl.lit(f"{name}: ") + oversize.cast(pl.String) + pl.lit(f" bytes, over limits.max_field_bytes ({max_bytes}); cut")
        ),
    ]


def safe_name(name: str) -> str:
    """A column name with unsafe characters replaced by U+FFFD."""
    return _UNSAFE.sub("\ufffd", name)


def printable(text: str) -> str:
    """A message safe for a terminal, a log line or error.txt: unsafe characters escaped."""
    return _UNSAFE.sub(lambda m: repr(m.group())[1:-1], text)


def is_clean(text: str) -> bool:
    return _UNSAFE.search(text) is None
