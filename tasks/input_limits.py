"""Limits that say so: a CSV export with a line, a value or a header far beyond reason is
refused before polars reads it, with the file, line and column named.

The check reads the file once in 8 MiB blocks (numpy finds the line breaks and commas of a
block at ~1 GB/s), so a 100 MB line with no line break costs 100 MB of reading, not of
memory, and stops as soon as a limit is passed. The field check is by comma-separated
piece: a quoted value with commas in it is measured in pieces, so it may pass here and be
cut at staging instead (`text_safety.clean_text`), never let through whole.

The limits are `Config.limits` (config/default.yaml, `limits:`), passed in by the caller
(the run's config; the defaults when none is given).

`scan()` (called by `catalog.scan_source`) also names a CSV that has lost its header row
(its first line holds none of the source's required columns) and makes column names
printable (`text_safety.safe_name`).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import polars as pl

from abmq.config import Limits
from abmq.tasks import text_safety
from abmq.tasks.sources import SourceError, normalise_header

BLOCK = 8 << 20


class LimitError(SourceError):
    """An input over a limit; the message names the file, line, column and the setting."""


def _header(path: Path, limits: Limits) -> list[str]:
    with path.open("rb") as handle:
        head = handle.read(limits.max_row_bytes + 1)
    line = head.split(b"\n", 1)[0]
    text = line.decode("utf-8-sig", errors="replace").rstrip("\r")
    try:
        return next(csv.reader(io.StringIO(text)), [])
    except csv.Error:
        return text.split(",")


def _field_at(path: Path, line_start: int, position: int, header: list[str]) -> str:
    """The column a byte position falls in: commas outside quotes counted from the line start
    (at most max_row_bytes are read)."""
    with path.open("rb") as handle:
        handle.seek(line_start)
        prefix = handle.read(max(0, position - line_start))
    index, quoted = 0, False
    for byte in prefix:
        if byte == 0x22:
            quoted = not quoted
        elif byte == 0x2C and not quoted:
            index += 1
    name = header[index] if index < len(header) else None
    named = f"column {text_safety.printable(name.strip())[:80]!r}" if name is not None and name.strip() else "an unnamed column"
    return f"{named} (field {index + 1})"


def check_csv(path: Path, limits: Limits | None = None) -> None:
    """Raise LimitError if the CSV file has a header of more than `max_columns` columns, a line
    of more than `max_row_bytes` bytes or a comma-separated value of more than
    `max_field_bytes` bytes."""
    limits = limits or Limits()
    header = _header(path, limits)
    if len(header) > limits.max_columns:
        raise LimitError(
            f"{path}: the header has {len(header):,} columns, over limits.max_columns ({limits.max_columns:,}); "
            "is this the right file? (raise the limit in the config if it is)"
        )
    line_start = piece_start = 0
    lines_done = 0  # line breaks before the current block
    base = 0
    with path.open("rb") as handle:
        while True:
            block = handle.read(BLOCK)
            if not block:
                break
            data = np.frombuffer(block, dtype=np.uint8)
            newline = data == 0x0A
            breaks = np.flatnonzero(newline) + base
            seps = np.flatnonzero(newline | (data == 0x2C)) + base
            end = base + len(block)
            violations = []
            # lines: [line_start, first break), [break + 1, next break), ..., [last + 1, end) (open)
            starts = np.concatenate(([line_start], breaks + 1))
            ends = np.concatenate((breaks, [end]))
            over = np.flatnonzero(ends - starts > limits.max_row_bytes)
            if over.size:
                violations.append((int(starts[over[0]]) + limits.max_row_bytes, "row", int(starts[over[0]])))
            starts_f = np.concatenate(([piece_start], seps + 1))
            ends_f = np.concatenate((seps, [end]))
            over_f = np.flatnonzero(ends_f - starts_f > limits.max_field_bytes)
            if over_f.size:
                violations.append((int(starts_f[over_f[0]]) + limits.max_field_bytes, "field", int(starts_f[over_f[0]])))
            if violations:
                position, kind, _ = min(violations)
                line_breaks_before = np.searchsorted(breaks, position)
                line = lines_done + int(line_breaks_before) + 1
                start_of_line = int(breaks[line_breaks_before - 1]) + 1 if line_breaks_before else line_start
                where = _field_at(path, start_of_line, position, header)
                if kind == "row":
                    raise LimitError(
                        f"{path}: line {line:,} runs past limits.max_row_bytes ({limits.max_row_bytes:,} bytes) without a "
                        f"line break (in {where}); the export looks damaged: export it again "
                        "(or raise the limit in the config if such rows are real)"
                    )
                raise LimitError(
                    f"{path}: line {line:,} has a value over limits.max_field_bytes ({limits.max_field_bytes:,} bytes) in "
                    f"{where}; the export looks damaged: export it again (or raise the limit in the config if such values are real)"
                )
            line_start = int(starts[-1])
            piece_start = int(starts_f[-1])
            lines_done += breaks.size
            base = end


def check_files(files: list[Path], limits: Limits | None = None) -> None:
    """The CSV files of one source (Parquet values are cut and quarantined at staging)."""
    for path in files:
        if path.suffix == ".csv":
            check_csv(path, limits)


def check_header_row(files: list[Path], spec, limits: Limits | None = None, mapped: tuple[str, ...] = ()) -> None:
    """A CSV whose first line has none of the source's required columns (nor a header the
    mapping renames, `mapped`) has lost its header row (or is another file): say so, instead
    of listing every column as missing."""
    required = list(spec.required)
    for path in files:
        if path.suffix != ".csv":
            continue
        header = _header(path, limits or Limits())
        if header and not {normalise_header(name) for name in header} & {*required, *map(normalise_header, mapped)}:
            shown = text_safety.printable(",".join(header))[:100]
            raise SourceError(
                f"{path}: the first line has none of the required columns ({', '.join(required)}); "
                f"is the header row missing? The first line reads {shown!r}"
            )


def scan(files: list[Path], scan_files, spec=None, limits: Limits | None = None, mapped: tuple[str, ...] = ()) -> pl.LazyFrame:
    """`catalog.scan_files(files)` after the limit checks (and, given the source's `spec`, the
    header check), with unsafe characters in column names replaced (`text_safety.safe_name`),
    so no later step sees them in a header either."""
    check_files(files, limits)
    frame = scan_files(files)  # its own header checks (encoding, separator) come first
    if spec is not None:
        check_header_row(files, spec, limits, mapped)
    names = frame.collect_schema().names()
    safe = {name: text_safety.safe_name(name) for name in names}
    if all(name == new for name, new in safe.items()):
        return frame
    taken: set[str] = set()
    renamed = {}
    for name in names:
        new = safe[name]
        while new in taken:  # two names that differed only by unsafe characters
            new += "\ufffd"
        taken.add(new)
        renamed[name] = new
    return frame.rename(renamed)
