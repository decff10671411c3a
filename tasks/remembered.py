"""Exports remembered across runs: an account, contact, technographics, intent or CRM-list
export whose content is the same as a published run's is not staged or validated again.

A source's verdict depends on its files, its mapping, the config's size limits and quality
settings, its suite, the code, and what it reads of the source it is checked against
(contacts, technographics and intent: the account keys, `upstream_key`). All of those make
its key (`source_key`). A run that finds the
key in the published manifest reads the kept and quarantined rows and the verdicts back
(`tasks/source_store.py`), and judges again only what reads this run's own parameters:
- a row count against the volume floor, and a column's newest value against a freshness
  limit, from the counted rows and the newest value GX observed;
- a row check against the as-of date ("first seen no later than today") holds as it was
  when no row failed it and the date has not moved back; otherwise the export is staged and
  validated again.
So a remembered source gives the run exactly what validating it would (tests/test_source_store.py).
A single events export is validated every run: it changes every day and is checked against
the window's dates.

A changed contacts export is validated again, but staged only where its rows changed: it is
kept in parts under a key of their rows and the staging recipe (`staging_recipe`, without the
files or the suite), and the unchanged parts are read back (`tasks/export_parts.py`). When
an account came, went or changed its domain or id, the parts are linked to the accounts again
instead of staged again (`row_recipe`, `staging.links_again`).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import polars as pl

from abmq.config import Config
from abmq.tasks import catalog, export_parts, ingest, source_store, validate
from abmq.tasks.ingest import SourceData
from abmq.tasks.sources import ACCOUNT_KEY, READ_BACK_AS_SCANS

# the source each is checked against when staged (`ingest.reference_keys`)
UPSTREAM = {"contacts": "accounts", "technographics": "accounts", "intent": "accounts"}
ROW_COUNT = "expect_table_row_count_to_be_between"
OBSERVED = {ROW_COUNT, "expect_column_max_to_be_between", "expect_column_min_to_be_between"}  # judged from one observed value
ROW_BOUNDS = "expect_column_values_to_be_between"  # holds while no row fails and its bounds do not tighten


def suite_of(source: str, config: Config) -> dict[str, Any]:
    return validate.load_suite(source, config.data_quality, value_sets=validate.config_value_sets(config))


def _reads_parameter(kwargs: dict[str, Any], name: str) -> bool:
    value = kwargs.get(name)
    return isinstance(value, dict) and "$PARAMETER" in value


def rememberable(source: str, config: Config) -> bool:
    """Whether a verdict of `source` can be carried to a later run: every check that reads a
    run parameter is one `rejudged` or `still_holds` knows."""
    if source == "events":
        return False
    for entry in suite_of(source, config)["expectations"]:
        read = [name for name in entry["kwargs"] if _reads_parameter(entry["kwargs"], name)]
        if read and not (entry["type"] in OBSERVED or (entry["type"] == ROW_BOUNDS and set(read) <= {"min_value", "max_value"})):
            return False
    return True


def upstream_key(source: str, staged: dict[str, SourceData]) -> str | None:
    """What staging `source` reads of the source it is checked against (`UPSTREAM`), as one
    hash of `staged` (the sources staged or read back so far): the account keys and, for
    contacts, the accounts' ids with their keys (`account_links.accounts_by_id` is made of
    them), each as a multiset (`catalog.multiset_bytes`). None when there is nothing upstream.
    A renamed or re-sized account leaves it as it was, so the contacts, technographics and
    intent keep their verdicts; an account that comes, goes or changes its domain or id does not."""
    domains = ingest.reference_keys(staged)["account_domains"] if source in UPSTREAM else None
    if domains is None:
        return None
    digest = hashlib.sha256(catalog.multiset_bytes(domains))
    if source == "contacts":
        ids = ingest.staged_rows(staged.get(UPSTREAM[source]), ["account_id", ACCOUNT_KEY, "domain"])
        digest.update(catalog.multiset_bytes(ids) if ids is not None and "account_id" in ids.columns else b"no ids\0")
    return digest.hexdigest()


def staging_recipe(source: str, config: Config, upstream: str | None) -> str:
    """What staging a row of `source` depends on besides the row itself: its mapping, the
    size limits, what it reads of the accounts (`upstream_key`) and the code. The key of an
    export's parts (`tasks/export_parts.py`): a part staged by the same recipe is read back."""
    return _recipe({"source": source, "upstream": upstream}, config)


def row_recipe(source: str, config: Config) -> str:
    """`staging_recipe` but for what staging reads of the accounts: parts staged by the same
    row recipe differ only in their links to the accounts, and are linked again
    (`staging.links_again`) rather than staged again."""
    return _recipe({"source": source, "rows": "linked apart"}, config)


def _recipe(payload: dict[str, Any], config: Config) -> str:
    mapping = config.sources.get(payload["source"])
    payload = {
        **payload,
        "mapping": mapping.model_dump(mode="json") if mapping is not None else None,
        "limits": config.limits.model_dump(mode="json"),
        "code": catalog.code_fingerprint(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def source_key(source: str, fingerprint: str, config: Config, upstream: str | None) -> str:
    """What a source's verdict depends on, as one hash (see the module's text)."""
    mapping = config.sources.get(source)
    payload = {
        "source": source,
        "files": fingerprint,
        "mapping": mapping.model_dump(mode="json") if mapping is not None else None,
        "limits": config.limits.model_dump(mode="json"),
        "suite": suite_of(source, config),
        "max_quarantine_share": config.data_quality.max_quarantine_share,
        "upstream": upstream,
        "code": catalog.code_fingerprint(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


# --- judging again ---------------------------------------------------------------------------


def within(value: Any, resolved: dict[str, Any]) -> bool:
    low, high = resolved.get("min_value"), resolved.get("max_value")
    above = low is None or (value > low if resolved.get("strict_min") else value >= low)
    below = high is None or (value < high if resolved.get("strict_max") else value <= high)
    return above and below


def still_holds(outcomes: list[validate.ExpectationOutcome], parameters: dict[str, Any]) -> bool:
    """Whether the row checks that read a parameter judge every row as they did: none failed,
    and no bound moved inwards (an as-of date earlier than the remembered run's)."""
    for outcome in outcomes:
        if outcome.expectation != ROW_BOUNDS:
            continue
        now = validate.resolve_parameters(outcome.kwargs, parameters)
        for bound in ("min_value", "max_value"):
            if not _reads_parameter(outcome.kwargs, bound):
                continue
            was, new = outcome.resolved.get(bound), now.get(bound)
            if outcome.unexpected_count != 0 or was is None or new is None:
                return False
            if (bound == "max_value" and new < was) or (bound == "min_value" and new > was):
                return False
    return True


def rejudged(data: SourceData, parameters: dict[str, Any]) -> SourceData:
    """A recalled source's checks that read a parameter, judged with this run's (`still_holds`
    has said its row checks stand): in its outcomes and in GX's own result, which the run's
    Data Docs show."""
    validation = data.validation
    outcomes = []
    for position, outcome in enumerate(validation.outcomes):
        if any(_reads_parameter(outcome.kwargs, name) for name in outcome.kwargs):
            resolved = validate.resolve_parameters(outcome.kwargs, parameters)
            success = within(outcome.observed_value, resolved) if outcome.expectation in OBSERVED else outcome.success
            outcome = dataclasses.replace(outcome, success=success, resolved=resolved)
            _rejudge_gx_item(validation, position, resolved, success)
        outcomes.append(outcome)
    validation = dataclasses.replace(validation, outcomes=outcomes)
    if validation.blocking_failures:  # as `gate.validate_source` leaves a source that blocks: its verdict only
        return data.replace(validation=validation, kept=None, quarantined=None, examples={})
    return data.replace(validation=validation)


def _rejudge_gx_item(validation: validate.SourceValidation, position: int, resolved: dict[str, Any], success: bool) -> None:
    """The same judgement in GX's result as read back (its JSON, `tasks/data_docs.py` loads it)."""
    result = validation.gx_result
    if result is None:
        return
    for item, at in zip(result["results"], validation.gx_positions, strict=True):
        if at == position:
            item["expectation_config"]["kwargs"].update(resolved)
            item["success"] = success
    judged = [item["success"] for item in result["results"]]
    result["success"] = all(judged)
    result["statistics"].update(
        successful_expectations=sum(judged),
        unsuccessful_expectations=len(judged) - sum(judged),
        success_percent=100 * sum(judged) / len(judged) if judged else None,
    )


# --- the record: verdicts as JSON ------------------------------------------------------------


def _encoded(value: Any) -> Any:
    """Dates and times as tagged text (GX reports a newest value as a pandas Timestamp)."""
    if type(value).__name__ == "Timestamp":
        return {"$timestamp": value.isoformat()}
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    raise TypeError(f"{type(value).__name__} cannot be remembered")


def _decoded(value: dict[str, Any]) -> Any:
    if "$timestamp" in value:
        import pandas as pd  # GX's own, loaded with it

        return pd.Timestamp(value["$timestamp"])
    if "$datetime" in value:
        return dt.datetime.fromisoformat(value["$datetime"])
    if "$date" in value:
        return dt.date.fromisoformat(value["$date"])
    return value


def _record_text(data: SourceData) -> str | None:
    """The verdicts as JSON, or None when some value would not read back the same."""
    validation = data.validation
    record = {
        "files": data.files,
        "fingerprint": data.fingerprint,
        "rows_in": data.rows_in,
        "unknown_columns": data.unknown_columns,
        "outcomes": [dataclasses.asdict(outcome) for outcome in validation.outcomes],
        "suite": _stable_suite(validation.suite),
        "examples": data.examples,  # in their order: an example row's columns are shown so
        "gx_result": _gx_json(validation.gx_result),
        "gx_positions": validation.gx_positions,
        **({"part_checks": validation.part_checks} if validation.part_checks else {}),
    }
    try:
        text = json.dumps(record, default=_encoded)
    except TypeError:
        return None
    back = _read_record(text)
    if recorded_outcomes(back) != validation.outcomes or _in_order(back["examples"]) != _in_order(data.examples):
        return None
    return text


EPOCH = "1970-01-01T00:00:00+00:00"


def _gx_json(result: Any) -> dict[str, Any] | None:
    """GX's result as the record keeps it: GX's object, or the JSON an export's verdict made of
    its parts' is (`tasks/part_checks.py`)."""
    if result is None:
        return None
    return stable_gx_result(copy.deepcopy(result) if isinstance(result, dict) else result.to_json_dict())


def stable_gx_result(result: dict[str, Any]) -> dict[str, Any]:
    """GX's result less what differs between two validations of the same rows (its clock and
    random ids), so the same inputs store the same bytes. The Data Docs stamp a run's own clock
    on it (`tasks/data_docs.py`)."""
    meta = result.get("meta", {})
    meta["validation_id"] = str(uuid.UUID(int=0))
    meta["validation_time"] = EPOCH
    if isinstance(meta.get("run_id"), dict):
        meta["run_id"]["run_time"] = EPOCH
    if isinstance(meta.get("batch_markers"), dict):
        meta["batch_markers"]["ge_load_time"] = "19700101T000000.000000Z"
    for number, item in enumerate(result.get("results", []), start=1):
        item["expectation_config"]["id"] = str(uuid.UUID(int=number))
    return result


def _stable_suite(suite: dict[str, Any]) -> dict[str, Any]:
    """The suite as loaded: GX notes its version in the first copy it is given in a process."""
    meta = {k: v for k, v in suite.get("meta", {}).items() if k != "great_expectations_version"}
    return {**suite, "meta": meta} if "meta" in suite else suite


def _read_record(text: str) -> dict[str, Any]:
    return json.loads(text, object_hook=_decoded)


def recorded_outcomes(record: dict[str, Any]) -> list[validate.ExpectationOutcome]:
    """The outcomes a record (or a part's verdict, `tasks/part_checks.py`) keeps as JSON."""
    return [validate.ExpectationOutcome(**outcome) for outcome in record["outcomes"]]


def _in_order(examples: dict[str, list[dict[str, Any]]]) -> list:
    return [(label, [list(row.items()) for row in rows]) for label, rows in examples.items()]


# --- the pipeline's steps --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Recalled:
    data: SourceData | None  # the source read back from the store, or None: stage it
    key: str | None  # what its verdict depends on (None: it is validated every run)
    fingerprint: str | None = None  # its files' content hash, worked out here once
    parts: export_parts.PartStore | None = None  # an export staged in parts: where they are kept


def recall_source(
    input_dir: str,
    source: str,
    upstream: str | None,
    state: dict[str, dict[str, Any]],
    out_dir: str,
    config: Config,
    parameters: dict[str, Any],
) -> Recalled:
    """The source as a published run left it, when nothing its verdict depends on changed;
    else its key, for `remember_sources`. `upstream`: what it reads of the source it is
    checked against (`upstream_key`), if that one is there; `parameters`: the run's
    (`gate.gate_parameters`)."""
    if not rememberable(source, config):
        return Recalled(None, None)
    mapping = config.sources.get(source)
    files = catalog.source_files(Path(input_dir), source, mapping.files if mapping else ())
    if not files:
        return Recalled(None, None)
    fingerprint = catalog.fingerprint_files(files)
    key = source_key(source, fingerprint, config, upstream)
    entry = state.get(source)
    parts = None
    if source in export_parts.PARTED:
        recipe = staging_recipe(source, config, upstream)
        parts = export_parts.part_store(source, source_store.store_folder(out_dir), recipe, entry, out_dir, row_recipe(source, config))
        if parts.relinkable:
            parts = dataclasses.replace(parts, linked_against=_linked_against(source, state, out_dir, entry))
    text = source_store.read_record(out_dir, entry) if entry is not None and entry["key"] == key else None
    if text is None:
        return Recalled(None, key, fingerprint, _with_checks(parts, out_dir, entry))
    record = _read_record(text)
    outcomes = recorded_outcomes(record)
    if not still_holds(outcomes, parameters):
        return Recalled(None, key, fingerprint, _with_checks(parts, out_dir, entry, record))
    kept, quarantined = source_store.read_rows(out_dir, entry, lazy=source in READ_BACK_AS_SCANS)
    validation = validate.SourceValidation(
        source=source,
        files=record["files"],
        rows_in=record["rows_in"],
        unknown_columns=record["unknown_columns"],
        outcomes=outcomes,
        suite=record["suite"],
        gx_result=record["gx_result"],  # as JSON: made GX's own object only for the Data Docs
        gx_positions=record["gx_positions"],
    )
    data = SourceData(
        source,
        record["files"],
        record["fingerprint"],
        None,
        rows_in=record["rows_in"],
        unknown_columns=record["unknown_columns"],
        kept=kept,
        quarantined=quarantined,
        validation=validation,
        examples=record["examples"],
        store_key=key,
        store_entry=entry,
        recalled=True,
    )
    return Recalled(data, key, fingerprint)


def _linked_against(source: str, state: dict[str, dict[str, Any]], out_dir: str, entry: dict[str, Any]) -> dict[str, Any] | None:
    """What the published entry's parts were staged against (`linked_keys` of the published
    accounts), when the entry names their store key (`linked_to`); else None."""
    accounts = state.get(UPSTREAM[source])
    if accounts is None or entry.get("linked_to") != accounts["key"]:
        return None
    try:
        kept, quarantined = source_store.read_rows(out_dir, accounts, lazy=True)
    except FileNotFoundError:
        return None
    return linked_keys(SourceData("accounts", [], "", None, kept=kept, quarantined=quarantined, recalled=True), source)


def linked_keys(accounts: SourceData, source: str) -> dict[str, Any]:
    """What staging `source` read of `accounts` (`staging.reached_again` compares it with this
    run's): their keys (`ingest.reference_keys`) and, for contacts, their ids with the keys they
    name (`account_ids`: each distinct pair; an id two companies have is there twice, where
    `account_links.accounts_by_id` leaves it out, so its contacts are linked again: only more
    work, and its group-by took 0.6–0.8 s at XL)."""
    keys = ingest.reference_keys({"accounts": accounts})
    if source == "contacts":
        rows = ingest.staged_rows(accounts, ["account_id", ACCOUNT_KEY, "domain"])
        key = ACCOUNT_KEY if rows is not None and ACCOUNT_KEY in rows.columns else "domain"
        has_ids = rows is not None and {"account_id", key} <= set(rows.columns)
        keys["account_ids"] = rows.select("account_id", pl.col(key).alias("_id_domain")).drop_nulls().unique() if has_ids else None
    return keys


def _with_checks(
    parts: export_parts.PartStore | None, out_dir: str, entry: dict[str, Any] | None, record: dict[str, Any] | None = None
) -> export_parts.PartStore | None:
    """The published entry's parts' verdicts (its record's `part_checks`) with the parts it
    lends: the parts staged as they were need not be validated again (`tasks/part_checks.py`)."""
    if parts is None or entry is None or not entry.get("parts"):
        return parts
    if record is None:
        text = source_store.read_record(out_dir, entry)
        record = _read_record(text) if text is not None else {}
    return dataclasses.replace(parts, checks=record.get("part_checks") or {})


def remember(data: SourceData, out_dir: str | Path, linked_to: str | None = None) -> SourceData:
    """A validated source written into the store under its key, with its manifest entry (a
    source that blocked, or has no rows, writes nothing). `linked_to`: the store key of the
    accounts it was staged against."""
    try:
        return _remembered(data, out_dir, linked_to)
    finally:
        if data.parts is not None:  # the parts staged now, if they did not join the store
            source_store.discard_parts(data.parts.scratch)


def _remembered(data: SourceData, out_dir: str | Path, linked_to: str | None = None) -> SourceData:
    if data.store_key is None or data.recalled or data.kept is None or not data.rows_in:
        return data
    if data.validation is None or data.validation.blocking_failures:
        return data
    record = _record_text(data)
    if record is None:
        return data
    entry = source_store.new_entry(data.name, data.store_key, data.parts)
    if data.parts is not None and linked_to is not None:
        entry["linked_to"] = linked_to
    if data.parts is not None:  # its staged parts written when staged: the new ones join the store
        source_store.keep_parts(data.parts, out_dir)
    source_store.write_entry(out_dir, entry, data.kept, data.quarantined, record)
    return data.replace(store_entry=entry)


def remember_sources(sources: dict[str, SourceData], out_dir: str) -> dict[str, SourceData]:
    """Each validated source with a key written into the store (`remember`); an export kept in
    parts notes the key of the accounts it was staged against (`_linked_against`)."""
    accounts = sources.get("accounts")
    linked_to = accounts.store_key if accounts is not None else None
    return {name: remember(data, out_dir, linked_to if name in UPSTREAM else None) for name, data in sources.items()}
