"""Byte-level corruptions of a small valid CSV export, for the fuzz test (tests/test_fuzz.py).

Each takes (the file's bytes, a position as a fraction of the file, a number that picks a
payload or a line) and returns the corrupted bytes. No project imports: the same corpus can
be run against an older version of the code to see what it did not handle.
"""

from __future__ import annotations

from pathlib import Path

CONTROL = [bytes([c]) for c in (*range(0, 9), *range(10, 32), 127)] + ["\ufffe".encode(), "\uffff".encode()]
ODD_TEXT = [b'"', b'""', b",", b"\n", b"\r\n", b"\xef\xbb\xbf", "\u0085".encode(), "\u202e".encode(), "é".encode()]
BAD_ENCODING = [b"\xe9", b"\xff\xfe", b"\xed\xa0\x80", b"\xc3", b"\x80"]  # Latin-1, UTF-16 BOM, a surrogate, cut UTF-8


def _at(data: bytes, where: float) -> int:
    return min(len(data), int(where * len(data)))


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


CORRUPTIONS = {
    "truncate": lambda d, w, p: d[: _at(d, w)],
    "insert-control": lambda d, w, p: d[: _at(d, w)] + CONTROL[p % len(CONTROL)] * (1 + p % 3) + d[_at(d, w) :],
    "insert-odd-text": lambda d, w, p: d[: _at(d, w)] + ODD_TEXT[p % len(ODD_TEXT)] + d[_at(d, w) :],
    "insert-bad-encoding": lambda d, w, p: d[: _at(d, w)] + BAD_ENCODING[p % len(BAD_ENCODING)] + d[_at(d, w) :],
    "random-bytes": lambda d, w, p: (
        d[: _at(d, w)] + bytes((p * 7919 + i * 104729) % 256 for i in range(1 + p % 64)) + d[_at(d, w) + p % 16 :]
    ),
    "huge-field": lambda d, w, p: d[: _at(d, w)] + b"X" * (1000 + p * 97 % 9000) + d[_at(d, w) :],
    "huge-line": lambda d, w, p: d.rstrip(b"\n") + b"," * 0 + b"Y" * (9000 + p % 3000),
    "no-header": lambda d, w, p: b"\n".join(_lines(d)[1:]),
    "header-twice": lambda d, w, p: _lines(d)[0] + b"\n" + d,
    "duplicate-header-name": lambda d, w, p: (
        b",".join([*_lines(d)[0].split(b",")[:-1], _lines(d)[0].split(b",")[0]]) + b"\n" + b"\n".join(_lines(d)[1:])
    ),
    "extra-fields": lambda d, w, p: b"\n".join(
        line + b",extra" * (1 + p % 3) if i == 1 + p % max(1, len(_lines(d)) - 1) else line for i, line in enumerate(_lines(d))
    ),
    "missing-fields": lambda d, w, p: b"\n".join(
        line.rsplit(b",", 1)[0] if i == 1 + p % max(1, len(_lines(d)) - 1) else line for i, line in enumerate(_lines(d))
    ),
    "drop-line": lambda d, w, p: b"\n".join(line for i, line in enumerate(_lines(d)) if i != 1 + p % max(1, len(_lines(d)) - 1)),
    "duplicate-line": lambda d, w, p: b"\n".join([*_lines(d), _lines(d)[1 + p % max(1, len(_lines(d)) - 1)]]),
    "crlf": lambda d, w, p: d.replace(b"\n", b"\r\n"),
    "bom": lambda d, w, p: b"\xef\xbb\xbf" + d,
    "many-columns": lambda d, w, p: _lines(d)[0] + b"," * (50 + p % 50) + b"\n" + b"\n".join(_lines(d)[1:]),
}


def corrupt(folder: Path, source: str, steps: list[tuple[str, float, int]]) -> None:
    path = folder / f"{source}.csv"
    data = path.read_bytes()
    for kind, where, number in steps:
        data = CORRUPTIONS[kind](data, where, number)
    path.write_bytes(data)
