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
this step. Cost, measured on a 2-core machine under load: ~0.25 s per million text values
(one regex scan a value; a batch is rewritten only if something in it needs removing).
"""

from __future__ import annotations

import re

import polars as pl

# Rust regex (polars) and Python `re` spell the class the same way with \x{...} / \uXXXX.
UNSAFE_PATTERN = r"[\x00-\x08\x0A-\x1F\x7F\x{FFFE}\x{FFFF}]"
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f\ufffe\uffff]")


def has_unsafe(expr: pl.Expr) -> pl.Expr:
    return expr.str.contains(UNSAFE_PATTERN)


def _remove_unsafe(values: pl.Series) -> pl.Series:
    if values.str.contains(UNSAFE_PATTERN).any():
        return values.str.replace_all(UNSAFE_PATTERN, "")
    return values


def clean_text(expr: pl.Expr, max_bytes: int) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(cleaned value, had unsafe characters, byte length before cutting if over `max_bytes`).

    Values over `max_bytes` bytes are cut to their first `max_bytes // 4` characters."""
    # One regex scan of each batch of values; only a batch with something to remove is
    # rewritten (one Python call a batch, none a value). Whether a value lost characters is
    # then a length comparison, O(1) a value.
    removed = expr.map_batches(_remove_unsafe, return_dtype=pl.String, is_elementwise=True)
    size = removed.str.len_bytes()
    unsafe = (size != expr.str.len_bytes()).fill_null(False)
    too_long = (size > max_bytes).fill_null(False)
    # Whole characters only, at most max_bytes bytes whatever the script (a character is 1 to
    # 4 bytes). Only quarantined rows are ever cut, so the shorter cut costs nothing real.
    cleaned = pl.when(too_long).then(removed.str.head(max_bytes // 4)).otherwise(removed)
    return cleaned, unsafe, pl.when(too_long).then(size)


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
