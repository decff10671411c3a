"""Mappings: a CRM export reshaped onto the input contract, as the config's `sources:`
section says (README, "Mappings").

Applied to the lazy scan of a source before the casts (`tasks/staging.py`), in this order:
headers renamed (`columns:`), values mapped (`values:`), formats parsed (`formats:`). Every
step is a polars expression; nothing runs Python per row. A value a format cannot read
becomes null and is described in `_mapping_error` ("country=Narnia (…)"), which staging adds
to `_cast_error`, so the row is quarantined with its value and the reason.
"""

from __future__ import annotations

import difflib
import functools
import re

import polars as pl

from abmq.config import ConfigError, SourceMapping, TimestampFormat
from abmq.tasks.sources import BAND_COLUMNS, SOURCES, SourceError, SourceSpec, band_columns, normalise_header

MAPPING_ERROR = "_mapping_error"
TEMPORAL = (pl.Date, pl.Datetime)


# --- the mapping checked against the contract -------------------------------------------------


def check_mappings(sources: dict[str, SourceMapping]) -> None:
    """Every name in the `sources:` section is a source, a contract column of it, and a format
    that column can take; no two headers go to one column. A ConfigError says which key."""
    for source, mapping in sources.items():
        if source not in SOURCES:
            raise ConfigError(f"sources.{source}: no source called {source!r}; sources: {', '.join(SOURCES)}")
        spec = SOURCES[source]
        where = f"sources.{source}"
        targets: dict[str, str] = {}
        for header, column in mapping.columns.items():
            _check_column(spec, f"{where}.columns[{header!r}]", column)
            other = targets.get(column)
            if other is not None and normalise_header(other) != normalise_header(header):
                raise ConfigError(f"{where}.columns: {other!r} and {header!r} are both mapped onto {column!r}; map one header per column")
            targets[column] = header
        for column in mapping.values:
            _check_column(spec, f"{where}.values", column)
        for column, fmt in mapping.formats.items():
            _check_column(spec, f"{where}.formats", column)
            dtype = spec.columns[column]
            if fmt == "band" and column not in BAND_COLUMNS:
                raise ConfigError(f"{where}.formats.{column}: 'band' applies to {' and '.join(BAND_COLUMNS)} only")
            if fmt == "iso_country" and column != "country":
                raise ConfigError(f"{where}.formats.{column}: 'iso_country' applies to country only")
            if isinstance(fmt, TimestampFormat) and not isinstance(dtype, TEMPORAL):
                raise ConfigError(f"{where}.formats.{column}: a date/time format, but {column} is not a date or timestamp column")
            if isinstance(dtype, TEMPORAL) and not isinstance(fmt, TimestampFormat):
                raise ConfigError(f"{where}.formats.{column}: give a date/time format, e.g. {{format: '%m/%d/%Y', timezone: UTC}}")


def _check_column(spec: SourceSpec, where: str, column: str) -> None:
    if column in spec.columns:
        return
    near = difflib.get_close_matches(column, list(spec.columns), n=1, cutoff=0.6)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    raise ConfigError(f"{where}: {column!r} is not a column of {spec.name}{hint}; its columns: {', '.join(spec.columns)}")


# --- the mapping applied ----------------------------------------------------------------------


def apply(scan: pl.LazyFrame, spec: SourceSpec, mapping: SourceMapping | None) -> pl.LazyFrame:
    """The scan renamed, its values mapped and its formats parsed; unchanged without a mapping."""
    if mapping is None:
        return scan
    mapped = rename(scan, spec, mapping.columns)
    columns = mapped.collect_schema()
    value_maps = [map_values(pl.col(c), table).alias(c) for c, table in mapping.values.items() if c in columns]
    if value_maps:
        mapped = mapped.with_columns(value_maps)
    parsed: list[pl.Expr] = []
    notes: list[pl.Expr] = []
    scratch: list[pl.Expr] = []  # parsed once, read by several outputs (a band's groups)
    for column, fmt in mapping.formats.items():
        if column not in columns or isinstance(columns[column], TEMPORAL):
            continue  # already typed (Parquet): staging casts it as before
        if columns[column].is_numeric():
            parsed += _numeric(column, fmt, spec)  # numbers are read as they are: nothing to fail
            continue
        text = pl.col(column).cast(pl.String).str.strip_chars()
        given = text.str.len_chars() > 0
        if fmt == "band":
            groups = f"_band_groups_{column}"
            scratch.append(band_groups(text).alias(groups))
            band = parse_band(text, spec.columns[column] == pl.Int64, pl.col(groups))
            names = band_columns(column)
            parsed += [band["value"].alias(column), *(band[key].alias(name) for key, name in zip(("min", "max", "band"), names))]
            value = band["value"]
            why = "not a number or a band such as 200-499, 1,000-4,999, 5001+ or $10M-$50M"
        elif fmt == "iso_country":
            value = iso_country(text)
            parsed.append(value.alias(column))
            why = "not a country name or ISO 3166 code"
        else:
            value = parse_temporal(text, fmt, spec.columns[column])
            parsed.append(value.alias(column))
            why = f"does not match the format {fmt.format!r}"
        # the value is copied into the note only on the rows that failed: formatting every
        # row's text cost a second per 10M rows for notes that were almost all null
        failed = given.fill_null(False) & value.is_null()
        notes.append(pl.format(f"{column}={{}} ({why})", pl.when(failed).then(text)))
    if not parsed:
        return mapped
    if scratch:
        mapped = mapped.with_columns(scratch)
    errors = pl.concat_str(notes, separator="; ", ignore_nulls=True) if notes else pl.lit(None, pl.String)
    mapped = mapped.with_columns(*parsed, errors.alias(MAPPING_ERROR))
    return mapped.drop([e.meta.output_name() for e in scratch])


def _numeric(column: str, fmt: "str | TimestampFormat", spec: SourceSpec) -> list[pl.Expr]:
    """A format applied to a column the export already gives as numbers (Parquet): an epoch
    time converts directly, a number in a banded column is a band of one value."""
    value = pl.col(column)
    if isinstance(fmt, TimestampFormat) and fmt.format in ("epoch_ms", "epoch_s"):
        return [parse_epoch(value, fmt.format, spec.columns[column]).alias(column)]
    if fmt == "band":
        value = value.cast(spec.columns[column], strict=False)
        low, high, text = band_columns(column)
        return [value.alias(column), value.alias(low), value.alias(high), pl.lit(None, pl.String).alias(text)]
    return [value.cast(pl.String).alias(column)]  # a number where text is expected: as text, checked as such


def rename(scan: pl.LazyFrame, spec: SourceSpec, columns: dict[str, str]) -> pl.LazyFrame:
    """Their headers (compared as `normalise_header` spells them) renamed to contract columns."""
    present = scan.collect_schema().names()
    renames = {normalise_header(h): c for h, c in columns.items() if normalise_header(h) in present and normalise_header(h) != c}
    clashes = sorted(c for h, c in renames.items() if c in present and c not in renames)
    if clashes:
        given = {c: h for h, c in renames.items()}
        raise SourceError(
            f"{spec.name}: the export has a column {clashes[0]!r} and the mapping renames {given[clashes[0]]!r} onto it; "
            "drop one of them from the export or from the mapping"
        )
    return scan.rename(renames)


def map_values(column: pl.Expr, table: dict[str, str]) -> pl.Expr:
    """Listed values replaced (compared after trimming spaces); others left as they are."""
    text = column.cast(pl.String).str.strip_chars()
    return text.replace(list(table), list(table.values()))


# --- bands ------------------------------------------------------------------------------------

# "200-499", "1,000 - 4,999", "5001+", "10k+", "$10M-$50M", "$1B+", "1 to 10"; a plain number.
_BAND = r"^(\d+(?:\.\d+)?)([kmb]?)(?:(?:-|to)(\d+(?:\.\d+)?)([kmb]?)|(\+))?$"
_FACTOR = {"": 1, "k": 1_000, "m": 1_000_000, "b": 1_000_000_000}


def band_groups(text: pl.Expr) -> pl.Expr:
    """The parts of a band's text (a struct of `_BAND`'s groups), for `parse_band`."""
    cleaned = text.str.to_lowercase().str.replace_all(r"[\s,$]|usd", "").str.replace_all("[–—]", "-")
    return cleaned.str.extract_groups(_BAND)


def parse_band(text: pl.Expr, integer: bool, groups: pl.Expr | None = None) -> dict[str, pl.Expr]:
    """A band's bounds ("min", "max": null for an open band such as "5001+"), its text ("band",
    null for a plain number) and the value the rest of the pipeline uses ("value": the
    midpoint, rounded down for integers; the lower bound of an open band; a plain number as
    it is). Unreadable text and a band whose bounds are reversed give nulls. `groups`: the
    `band_groups` of `text` computed beforehand (every output reads them: one regex pass)."""
    groups = band_groups(text) if groups is None else groups

    def amount(number: str, suffix: str) -> pl.Expr:
        factor = groups.struct.field(suffix).replace_strict(_FACTOR, default=None, return_dtype=pl.Float64)
        return groups.struct.field(number).cast(pl.Float64, strict=False) * factor

    low, high = amount("1", "2"), amount("3", "4")
    is_open = groups.struct.field("5") == "+"
    is_range = high.is_not_null()
    readable = low.is_not_null() & ~(is_range & (high < low))
    middle = (low + high) / 2
    value = pl.when(is_range).then(middle.floor() if integer else middle).when(is_open).then(low).otherwise(low)
    dtype = pl.Int64 if integer else pl.Float64
    single = ~is_range & ~is_open.fill_null(False)
    return {
        "value": pl.when(readable).then(value).cast(dtype),
        "min": pl.when(readable).then(low).cast(dtype),
        "max": pl.when(readable & ~is_open.fill_null(False)).then(pl.when(single).then(low).otherwise(high)).cast(dtype),
        "band": pl.when(readable & ~single).then(text),
    }


# --- countries --------------------------------------------------------------------------------

# Common native and colloquial names pycountry does not know; pycountry knows the English
# names, official names, common names and the alpha-2 and alpha-3 codes.
COUNTRY_ALIASES = {
    "uk": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "great britain": "GB",
    "britain": "GB",
    "usa": "US",
    "america": "US",
    "united states of america": "US",
    "deutschland": "DE",
    "holland": "NL",
    "the netherlands": "NL",
    "nederland": "NL",
    "españa": "ES",
    "espana": "ES",
    "italia": "IT",
    "brasil": "BR",
    "schweiz": "CH",
    "suisse": "CH",
    "österreich": "AT",
    "osterreich": "AT",
    "sverige": "SE",
    "norge": "NO",
    "danmark": "DK",
    "suomi": "FI",
    "polska": "PL",
    "éire": "IE",
    "eire": "IE",
    "south korea": "KR",
    "korea": "KR",
    "russia": "RU",
    "vietnam": "VN",
    "czech republic": "CZ",
    "turkey": "TR",
    "uae": "AE",
    "ivory coast": "CI",
    "hong kong sar": "HK",
}


def _country_key(text: str | pl.Expr):
    """Lower case, no dots, single spaces: "U.S.A." and "usa" are one key."""
    if isinstance(text, str):
        return re.sub(r"\s+", " ", text.lower().replace(".", "")).strip()
    return text.str.to_lowercase().str.replace_all(r"\.", "").str.replace_all(r"\s+", " ").str.strip_chars()


@functools.cache
def country_table() -> dict[str, str]:
    """Every spelling pycountry knows (alpha-2, alpha-3, name, official and common name) and
    the aliases, as lookup key -> alpha-2. Built once: about 250 countries, not one call a row."""
    import pycountry

    table: dict[str, str] = {}
    for country in pycountry.countries:
        for attribute in ("alpha_2", "alpha_3", "name", "official_name", "common_name"):
            spelling = getattr(country, attribute, None)
            if spelling:
                table.setdefault(_country_key(spelling), country.alpha_2)
    for alias, code in COUNTRY_ALIASES.items():
        table.setdefault(_country_key(alias), code)
    return table


def iso_country(text: pl.Expr) -> pl.Expr:
    """ISO 3166 alpha-2 for a country's name, alpha-3 or alpha-2 code; null when unknown.
    A hash lookup in a table of the ~1,100 spellings (no Python per value)."""
    table = country_table()
    return _country_key(text).replace_strict(list(table), list(table.values()), default=None, return_dtype=pl.String)


# --- dates and timestamps ---------------------------------------------------------------------


def parse_temporal(text: pl.Expr, fmt: TimestampFormat, target: pl.DataType) -> pl.Expr:
    """Text in the configured format as the contract's type: a UTC timestamp, or a date."""
    if fmt.format in ("epoch_ms", "epoch_s"):
        return parse_epoch(text.cast(pl.Int64, strict=False), fmt.format, target)
    if target == pl.Date:
        if fmt.format == "iso":
            return text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
        date_part = fmt.format.split(" ")[0]
        return text.str.to_date(date_part, strict=False).fill_null(text.str.to_datetime(fmt.format, strict=False).dt.date())
    if fmt.format == "iso":
        return iso_timestamp(text, fmt.timezone)
    local = text.str.to_datetime(fmt.format, strict=False, time_unit="us")
    if "%z" not in fmt.format and "%Z" not in fmt.format:
        local = _in_zone(local, fmt.timezone)
        # a bare date in the format's date part: midnight in the zone
        date_part = fmt.format.split(" ")[0]
        if date_part != fmt.format:
            local = local.fill_null(_in_zone(text.str.to_date(date_part, strict=False).cast(pl.Datetime("us")), fmt.timezone))
    return local.dt.convert_time_zone("UTC")


def parse_epoch(number: pl.Expr, unit: str, target: pl.DataType) -> pl.Expr:
    """Unix time (`epoch_ms` or `epoch_s`, UTC) as the contract's timestamp or date."""
    stamp = pl.from_epoch(number.cast(pl.Int64, strict=False), time_unit="ms" if unit == "epoch_ms" else "s")
    stamp = stamp.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    return stamp.dt.date() if target == pl.Date else stamp


def _in_zone(naive: pl.Expr, zone: str) -> pl.Expr:
    # A local time in a DST gap does not exist: null (quarantined); in the repeated hour, the first.
    return naive.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")


def iso_timestamp(text: pl.Expr, zone: str = "UTC") -> pl.Expr:
    """ISO 8601 with an offset or "Z", without one (local time in `zone`), or a bare date
    (midnight in `zone`), as a UTC timestamp."""
    iso = text.str.replace(r"Z$", "+00:00").str.replace(r"^(\d{4}-\d{2}-\d{2})[ T]", "${1}T")
    return (
        iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_unit="us")
        .fill_null(_in_zone(iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us"), zone).dt.convert_time_zone("UTC"))
        .fill_null(_in_zone(iso.str.to_datetime("%Y-%m-%dT%H:%M", strict=False, time_unit="us"), zone).dt.convert_time_zone("UTC"))
        .fill_null(_in_zone(text.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")), zone).dt.convert_time_zone("UTC"))
        .dt.convert_time_zone("UTC")
    )
