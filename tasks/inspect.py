"""`abmq inspect`: what an input folder's exports look like against the input contract, before
a run (README, "Inspecting your exports").

Reads only each file's header and first rows (`SAMPLE_ROWS`), never the whole export. Per
source: the file found, how each contract column maps (through the `sources:` mapping, by its
contract name, or guessed from a table of common export headers), near-matches for a missing
required column, the share of values recognised per mapped field (countries, numbers or bands,
dates in the configured format, vocabulary values after value maps), and format guesses.
`starter_mapping` turns that into a `sources:` section to edit and pass to `--mapping`. Pure
functions returning data; `abmq.cli` renders them. Every check is a polars expression.
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from abmq.config import SourceMapping, TimestampFormat
from abmq.tasks import catalog, mapping, staging
from abmq.tasks.sources import BAND_COLUMNS, SOURCES, SourceError, SourceSpec, normalise_header
from abmq.vocabulary import EVENT_TYPES, SENIORITIES

SAMPLE_ROWS = 1000
TEMPORAL = (pl.Date, pl.Datetime)
# Contract columns staging derives when an export lacks them: not worth a "missing".
DERIVED = {"seniority": "derived from the title", "department": "derived from the title"}

# Headers exports commonly use for a contract column (as `normalise_header` spells them),
# from the vendors' default fields (HubSpot, Salesforce, Bombora, TrustRadius) and common CSVs.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "domain": ("website", "website_url", "company_domain_name", "company_domain", "account_domain", "domain_name", "url", "web_site"),
    "name": ("company_name", "company", "account_name", "organization", "organisation", "organization_name"),
    "industry": ("sector", "vertical", "industry_name"),
    "employees": ("number_of_employees", "numberofemployees", "employee_count", "company_size", "headcount", "no_of_employees", "size"),
    "annual_revenue": ("revenue", "annualrevenue", "company_revenue", "revenue_usd", "yearly_revenue"),
    "country": ("country/region", "billingcountry", "billing_country", "hq_country", "country_name", "country_code"),
    "owner": ("company_owner", "account_owner", "ownerid", "contact_owner"),
    "email": ("email_address", "e_mail", "work_email", "business_email"),
    "first_name": ("firstname", "given_name", "first"),
    "last_name": ("lastname", "surname", "family_name", "last"),
    "title": ("job_title", "jobtitle", "position", "role"),
    "department": ("job_function", "function", "dept"),
    "seniority": ("job_level", "level", "management_level", "seniority_level"),
    "event_type": ("activity_type", "type", "activity", "event", "status", "engagement_type"),
    "occurred_at": ("timestamp", "activity_date", "createddate", "created_date", "event_date", "date", "time", "occurred"),
    "detail": ("subject", "page", "page_url", "asset", "url"),
    "topic": ("topic_name", "intent_topic", "category"),
    "week": ("week_of", "week_start", "date", "activity_date"),
    "score": ("composite_score", "intent_score", "surge_score"),
    "technology": ("product", "tool", "technology_name", "tech"),
    "category": ("technology_category", "tech_category"),
    "first_seen": ("first_detected", "first_seen_date", "first_found"),
    "last_seen": ("last_detected", "last_seen_date", "last_found"),
    "created_at": ("createddate", "created_date", "create_date"),
    "closed_at": ("closedate", "close_date", "closed_date"),
    "outcome": ("stagename", "stage", "deal_stage", "result"),
    "amount": ("deal_amount", "value"),
}
# Ids are named after their record: which id a column is depends on the source.
ID_SYNONYMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("accounts", "account_id"): ("record_id", "id", "company_id", "accountid"),
    ("contacts", "contact_id"): ("record_id", "id", "contactid"),
    ("contacts", "account_id"): ("associated_company_id", "accountid", "company_id", "associated_company_ids_(primary)"),
    ("events", "event_id"): ("id", "activity_id", "engagement_id"),
    ("events", "contact_id"): ("whoid", "contactid", "record_id", "associated_contact_id"),
    ("opportunities", "opportunity_id"): ("id", "record_id", "deal_id"),
}
# Timestamp formats tried on a date or time column without one, most specific first.
FORMAT_GUESSES = ("iso", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M", "%m/%d/%Y", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%d.%m.%Y", "epoch_ms", "epoch_s")


@dataclass(frozen=True)
class ColumnMatch:
    column: str  # contract column
    required: bool
    header: str | None = None  # the export's header, as written in the file
    how: str = "missing"  # "mapping", "contract name", "guessed" or "missing"
    near: tuple[str, ...] = ()  # near-matching headers, for a missing column

    @property
    def missing(self) -> bool:
        """Required, not found, and not derived by staging."""
        return self.required and self.how == "missing" and self.column not in DERIVED


@dataclass(frozen=True)
class Recognition:
    column: str
    checked: int  # non-empty values in the sample
    recognised: int
    unrecognised: tuple[tuple[str, int], ...]  # the commonest values not recognised, with counts
    what: str  # "a country", "a number or band", "a date in format 'iso'", ...

    @property
    def share(self) -> float:
        return self.recognised / self.checked if self.checked else 1.0


@dataclass(frozen=True)
class SourceReport:
    source: str
    files: tuple[Path, ...] = ()
    rows_read: int = 0
    error: str | None = None
    columns: tuple[ColumnMatch, ...] = ()
    unused: tuple[str, ...] = ()  # headers no contract column takes
    recognition: tuple[Recognition, ...] = ()
    formats: dict[str, Any] = field(default_factory=dict)  # guessed formats for columns the mapping gives none

    @property
    def missing_required(self) -> list[ColumnMatch]:
        return [c for c in self.columns if c.missing]


# --- reading a sample ---------------------------------------------------------------------------


def read_sample(path: Path, rows: int = SAMPLE_ROWS) -> pl.DataFrame:
    """The header and first `rows` rows, every CSV value as text (as a run reads it)."""
    if path.suffix == ".parquet":
        return pl.scan_parquet(path).head(rows).collect()
    return pl.read_csv(path, n_rows=rows, infer_schema=False, encoding="utf8-lossy")


def inspect_folder(input_dir: Path, sources: dict[str, SourceMapping], rows: int = SAMPLE_ROWS) -> list[SourceReport]:
    """One report per contract source, in contract order."""
    return [inspect_source(Path(input_dir), spec, sources.get(spec.name), rows) for spec in SOURCES.values()]


def inspect_source(input_dir: Path, spec: SourceSpec, source_mapping: SourceMapping | None, rows: int = SAMPLE_ROWS) -> SourceReport:
    try:
        files = catalog.source_files(input_dir, spec.name, source_mapping.files if source_mapping else ())
    except SourceError as exc:
        return SourceReport(spec.name, error=str(exc))
    if not files:
        return SourceReport(spec.name)
    try:
        sample = read_sample(files[0], rows)  # a folder of parts: its first part stands for all
    except Exception as exc:  # polars raises several types for unreadable files
        return SourceReport(spec.name, tuple(files), error=f"{files[0].name}: cannot be read: {str(exc).splitlines()[0]}")
    matches = match_columns(spec, sample.columns, source_mapping)
    taken = {m.header for m in matches if m.header}
    renamed = sample.rename({m.header: m.column for m in matches if m.header and m.header != m.column})
    recognition, formats = recognise(renamed, spec, source_mapping)
    unused = tuple(h for h in sample.columns if h not in taken)
    return SourceReport(spec.name, tuple(files), sample.height, None, tuple(matches), unused, tuple(recognition), formats)


# --- headers ------------------------------------------------------------------------------------


def match_columns(spec: SourceSpec, headers: list[str], source_mapping: SourceMapping | None) -> list[ColumnMatch]:
    """Each contract column's header: the mapping's, the contract name, or a common export
    header (`SYNONYMS`), each header used once; near-matches for the missing ones."""
    by_key = {normalise_header(h): h for h in headers}
    used: set[str] = set()
    found: dict[str, tuple[str, str]] = {}
    for header, column in (source_mapping.columns if source_mapping else {}).items():
        key = normalise_header(header)
        if key in by_key and column in spec.columns and column not in found:
            found[column] = (by_key[key], "mapping")
            used.add(key)
    for column in spec.columns:
        if column not in found and column in by_key and column not in used:
            found[column] = (by_key[column], "contract name")
            used.add(column)
    for column in spec.columns:
        if column in found:
            continue
        for key in synonyms(spec.name, column):
            if key in by_key and key not in used:
                found[column] = (by_key[key], "guessed")
                used.add(key)
                break
    matches = []
    for column in spec.columns:
        required = column in spec.required
        if column in found:
            header, how = found[column]
            matches.append(ColumnMatch(column, required, header, how))
            continue
        free = [key for key in by_key if key not in used]
        near = difflib.get_close_matches(column, free, n=3, cutoff=0.6)
        for name in synonyms(spec.name, column):
            near += [k for k in difflib.get_close_matches(name, free, n=2, cutoff=0.75) if k not in near]
        matches.append(ColumnMatch(column, required, near=tuple(by_key[k] for k in near[:3])))
    return matches


def synonyms(source: str, column: str) -> tuple[str, ...]:
    return ID_SYNONYMS.get((source, column), ()) + SYNONYMS.get(column, ())


# --- values -------------------------------------------------------------------------------------


def recognise(frame: pl.DataFrame, spec: SourceSpec, source_mapping: SourceMapping | None) -> tuple[list[Recognition], dict[str, Any]]:
    """The recognised share of each checkable column (after the mapping's value maps), and a
    format guess for columns whose format the mapping does not give."""
    given = source_mapping.formats if source_mapping else {}
    values = source_mapping.values if source_mapping else {}
    results: list[Recognition] = []
    guesses: dict[str, Any] = {}
    for column in spec.columns:
        if column not in frame.columns:
            continue
        text = pl.col(column).cast(pl.String).str.strip_chars()
        if column in values:
            text = mapping.map_values(text, values[column]).str.strip_chars()
        dtype = spec.columns[column]
        if _temporal(frame.schema[column]):
            continue  # typed already (Parquet)
        if column == "country":
            fmt = given.get(column)
            as_code = pl.when(text.str.len_chars() == 2).then(mapping.iso_country(text))
            test, what = (mapping.iso_country(text), "a country") if fmt == "iso_country" else (as_code, "an ISO 3166 alpha-2 code")
            if fmt is None and _share(frame, text, mapping.iso_country(text)) > _share(frame, text, as_code):
                guesses[column], test, what = "iso_country", mapping.iso_country(text), "a country (with formats: iso_country)"
        elif column in BAND_COLUMNS:
            band = mapping.parse_band(text, dtype == pl.Int64)["value"]
            number = text.str.replace_all(",", "").cast(pl.Float64, strict=False)
            test, what = (band, "a number or band") if given.get(column) == "band" else (number, "a number")
            if column not in given and _share(frame, text, band) > _share(frame, text, number):
                guesses[column], test, what = "band", band, "a number or band (with formats: band)"
        elif _temporal(dtype):
            fmt = given.get(column)
            if not isinstance(fmt, TimestampFormat):
                fmt = _best_format(frame, text, dtype)
                if fmt.format != "iso":
                    guesses[column] = {"format": fmt.format, "timezone": fmt.timezone}
            test, what = mapping.parse_temporal(text, fmt, dtype), f"a date/time in format {fmt.format!r}"
        elif column == "event_type":
            test, what = pl.when(text.str.to_lowercase().is_in(list(EVENT_TYPES))).then(text), "an event type"
        elif column == "seniority":
            test, what = staging.known_seniority(text), f"a seniority ({', '.join(SENIORITIES)} or a common spelling)"
        elif column == "department":
            test, what = staging.known_department(text), "a department"
        elif column == "score":
            number = text.cast(pl.Float64, strict=False)
            test, what = pl.when(number.is_between(0, 100)).then(number), "a score 0-100"
        else:
            continue
        results.append(_recognition(frame, column, text, test, what))
    return results, guesses


def _temporal(dtype: Any) -> bool:
    # the contract holds pl.Date as the class and timestamps as instances
    return dtype == pl.Date or isinstance(dtype, TEMPORAL)


def _given(text: pl.Expr) -> pl.Expr:
    return text.is_not_null() & (text.str.len_chars() > 0)


def _share(frame: pl.DataFrame, text: pl.Expr, test: pl.Expr) -> float:
    counts = frame.select(_given(text).sum().alias("given"), (_given(text) & test.is_not_null()).sum().alias("ok")).row(0)
    return counts[1] / counts[0] if counts[0] else 0.0


def _best_format(frame: pl.DataFrame, text: pl.Expr, dtype: pl.DataType) -> TimestampFormat:
    """The format reading most values (ties: the earlier, more specific one in FORMAT_GUESSES)."""
    best, best_share = TimestampFormat(format="iso"), -1.0
    for candidate in FORMAT_GUESSES:
        fmt = TimestampFormat(format=candidate)
        share = _share(frame, text, mapping.parse_temporal(text, fmt, dtype))
        if share > best_share:
            best, best_share = fmt, share
    return best


def _recognition(frame: pl.DataFrame, column: str, text: pl.Expr, test: pl.Expr, what: str) -> Recognition:
    checked = frame.select(text.alias("value"), test.is_not_null().alias("ok")).filter(_given(pl.col("value")))
    bad = checked.filter(~pl.col("ok")).group_by("value").len().sort(["len", "value"], descending=[True, False]).head(3)
    return Recognition(column, checked.height, int(checked["ok"].sum()), tuple(bad.rows()), what)


# --- the starter mapping --------------------------------------------------------------------------


def starter_mapping(reports: list[SourceReport], sources: dict[str, SourceMapping]) -> dict[str, Any]:
    """A `sources:` section: per source found, the renames (the mapping's and the guessed
    ones, and the nearest header for a missing required column: to check), the mapping's value
    maps and formats, the guessed formats, and its `files:`. Loads with `abmq run --mapping`
    (which replaces the config's `sources:`, so nothing of the config's is dropped)."""
    section: dict[str, Any] = {}
    for report in reports:
        if not report.files:
            continue
        own = sources.get(report.source)
        entry: dict[str, Any] = {}
        if own and own.files:
            entry["files"] = list(own.files)
        renames = {m.header: m.column for m in report.columns if m.header and normalise_header(m.header) != m.column}
        renames.update({m.near[0]: m.column for m in report.columns if m.missing and m.near})
        if renames:
            entry["columns"] = renames
        if own and own.values:
            entry["values"] = {column: dict(table) for column, table in own.values.items()}
        formats = {column: fmt if isinstance(fmt, str) else fmt.model_dump() for column, fmt in (own.formats if own else {}).items()}
        formats.update(report.formats)
        if formats:
            entry["formats"] = formats
        if entry:
            section[report.source] = entry
    return {"sources": section}


# --- files no source reads ----------------------------------------------------------------------


def likely_source(headers: list[str]) -> tuple[str, int, int] | None:
    """The source whose required columns a file's headers cover best, by contract name or a
    common export header (`match_columns` without a mapping): (source, found, required), when
    at least two and at least half of them are found; None otherwise."""
    best = None
    for spec in SOURCES.values():
        needed = [c for c in spec.required if c not in DERIVED]
        found = sum(1 for m in match_columns(spec, headers, None) if m.required and m.how != "missing" and m.column in needed)
        if found >= 2 and 2 * found >= len(needed) and (best is None or found / len(needed) > best[1] / best[2]):
            best = (spec.name, found, len(needed))
    return best


def unclaimed_files(input_dir: Path, reports: list[SourceReport], presets: dict[str, dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """Export files in the folder that no source reads, each with the presets whose `files:`
    patterns would read it ("--preset hubspot (accounts)") or, failing that, the source its
    headers look like ("looks like events (4 of 4 required columns): sources.events.files")."""
    claimed = {Path(f).resolve() for report in reports for f in report.files}
    found = []
    for path in sorted(Path(input_dir).iterdir()):
        if path.is_dir() or path.suffix.lower() not in (".csv", ".parquet") or path.resolve() in claimed:
            continue
        would = [
            f"--preset {name} ({source})"
            for name, preset in presets.items()
            for source, entry in preset["sources"].items()
            if any(fnmatch.fnmatchcase(path.name, pattern) for pattern in (entry or {}).get("files", []))
        ]
        if not would:
            try:
                guess = likely_source(read_sample(path, rows=1).columns)
            except Exception:  # unreadable here: the run will say why if a source reads it
                guess = None
            if guess:
                source, hits, needed = guess
                would = [
                    f"a `files: [{path.name}]` entry under sources.{source} (it looks like {source}: {hits} of {needed} required columns)"
                ]
        found.append((path.name, would))
    return found
