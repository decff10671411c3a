"""The data-quality gate: each source through its GX suite (rows failing a warning-level
check quarantined), the run stopped on any blocking failure, and the accounting of what
happened to every row (in = used + quarantined + merged)."""

from __future__ import annotations

import datetime as dt
import difflib
import math
from typing import Any

from abmq.config import Config
from abmq.tasks import account_links, catalog, part_checks, quarantine, remembered, validate
from abmq.tasks.ingest import SourceData
from abmq.tasks.sources import SOURCES

# Checks of a whole table that judge its rows (freshness: the newest value; volume: the row
# count against the last run). An optional source with no rows has nothing for them to judge.
ROW_JUDGING_CHECKS = ("expect_column_max_to_be_between", "expect_table_row_count_to_be_between")


def gate_parameters(as_of: dt.date, config: Config, history: list[dict] | None = None) -> dict[str, Any]:
    """Values the suites' $PARAMETERs take for this run (dates as UTC timestamps, see
    validate.as_validated)."""
    quality = config.data_quality

    def midnight(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time.min, tzinfo=dt.timezone.utc)

    def fresh_from(source: str) -> dt.datetime:
        days = quality.freshness_days.get(source)
        return midnight(as_of - dt.timedelta(days=days)) if days is not None else midnight(dt.date(1900, 1, 1))

    return {
        "as_of_date": midnight(as_of),
        "as_of_end": dt.datetime.combine(as_of, dt.time.max, tzinfo=dt.timezone.utc),
        "events_fresh_from": fresh_from("events"),
        "intent_fresh_from": fresh_from("intent"),
        "volume_floors": {
            source: math.ceil(rows * (1 - quality.max_volume_drop))
            for source, rows in catalog.volumes_before(history or [], as_of.isoformat()).items()
        },
    }


def source_parameters(parameters: dict[str, Any], source: str) -> dict[str, Any]:
    return {**parameters, "volume_floor": parameters["volume_floors"].get(source, 0)}


def validate_source(source: str, data: SourceData, parameters: dict[str, Any], config: Config, take_over: bool = False) -> SourceData:
    """The source after its GX suite: kept and quarantined rows (with examples per rule), or
    only the verdict when a blocking check failed. `take_over`: the staged rows are not read
    again (a run validates them once; a backtest many times, as of each date), so their
    columns are let go as the kept rows are taken (`quarantine.split_quarantine`)."""
    if data.recalled:  # validated by a published run: only what reads this run's parameters is judged again
        return remembered.rejudged(data, source_parameters(parameters, source))
    if data.staged is None:
        return data.replace(kept=None)
    suite = validate.load_suite(source, config.data_quality, value_sets=validate.config_value_sets(config))
    parameters = source_parameters(parameters, source)
    validation = _validated_in_parts(source, data, suite, parameters, config) or validate.run_suite(
        source, data.staged, suite, parameters, data.files, data.unknown_columns, config.data_quality.max_quarantine_share
    )
    validation = validate.with_details(validation, data.staged)
    if source == "accounts" and (misspelt := misspelt_domain(data)) is not None:
        validation.outcomes.append(misspelt)
    if not SOURCES[source].required_source and data.staged.is_empty():
        # An optional export with a header and no rows is treated like an absent one: its
        # freshness and volume checks cannot apply (a newest week of nothing is not "stale")
        # and must not block; the report says the source is missing (`absent_sources`).
        for outcome in validation.outcomes:
            if outcome.expectation in ROW_JUDGING_CHECKS and not outcome.success:
                outcome.not_applicable = f"no {source} source: {', '.join(data.files)} has no data rows"
    for outcome in validation.blocking_failures:  # the contacts → accounts match rate under its floor
        if source == "contacts" and outcome.kwargs.get("column") == "account_found" and "mostly" in outcome.kwargs:
            outcome.detail = account_links.unmatched_detail(data.staged)
    if validation.blocking_failures:
        return data.replace(validation=validation)
    kept, quarantined = quarantine.split_quarantine(data.staged, validation, parameters, take_over)
    examples = quarantine.quarantine_examples(quarantined, validation, parameters)
    return data.replace(validation=validation, kept=kept, quarantined=quarantined, examples=examples, staged=None)


def _validated_in_parts(
    source: str, data: SourceData, suite: dict[str, Any], parameters: dict[str, Any], config: Config
) -> validate.SourceValidation | None:
    """An export kept in parts validated a part at a time, GX run only over the parts whose
    verdict the published run's record does not hold (`tasks/part_checks.py`); None when its
    verdict cannot be made of its parts' (it is then validated whole)."""
    if data.parts is None or not part_checks.mergeable(suite) or not remembered.rememberable(source, config):
        return None
    parts = data.parts.parts
    checks, validated = part_checks.validated_parts(
        source, data.staged, suite, parameters, data.files, data.unknown_columns, parts, data.parts.store.checks
    )
    validation = part_checks.merged(source, suite, parameters, data.files, data.staged.height, data.unknown_columns, parts, checks)
    if validation is None:
        return None
    validation.part_checks, validation.parts_validated = checks, validated
    return validate.escalate_widespread(validation, config.data_quality.max_quarantine_share)


def misspelt_domain(data: SourceData) -> validate.ExpectationOutcome | None:
    """An accounts export without domains but with a column named nearly so ("domian") has
    most likely misspelt it: without this, every account would quietly be keyed by its id."""
    staged = data.staged
    if "domain_as_given" not in staged.columns or staged["domain_as_given"].null_count() < staged.height:
        return None
    if not difflib.get_close_matches("domain", data.unknown_columns, n=1, cutoff=0.75):
        return None
    return validate.ExpectationOutcome(
        "accounts",
        "expect_column_to_exist",
        {"column": "domain"},
        "blocking",
        "no domains, and a column named nearly so: misspelt?",
        False,
        None,
        None,
    )


def blocking_messages(sources: dict[str, SourceData]) -> list[str]:
    return [d.validation.error_message() for d in sources.values() if d.validation and d.validation.blocking_failures]


def quality_gate(sources: dict[str, SourceData]) -> int:
    """Stop the run, naming every blocking failure, before anything is scored or published.
    Returns how many sources passed."""
    messages = blocking_messages(sources)
    if messages:
        raise validate.DataQualityError("blocking data-quality failure: " + " | ".join(messages))
    return sum(d.validation is not None for d in sources.values())


def account_match_rate(data: SourceData) -> float | None:
    """Share of a source's rows whose domain matched an account (contacts, intent, technographics)."""
    if data.validation is None:
        return None
    for outcome in data.validation.outcomes:
        if outcome.kwargs.get("column") == "account_found" and "mostly" not in outcome.kwargs and outcome.element_count:
            return round(1 - (outcome.unexpected_count or 0) / outcome.element_count, 4)
    return None


def absent_sources(sources: dict[str, SourceData]) -> list[dict[str, Any]]:
    """The optional sources that feed the scores but gave no rows (no export, or an export with
    a header only), each with what that means: "No intent source: intent points are 0 for every
    account". Contract order."""
    absent = []
    for name, data in sources.items():
        effect = SOURCES[name].absent_effect if name in SOURCES else None
        if effect is None or data.rows_in:
            continue
        where = f" ({', '.join(data.files)} has no data rows)" if data.files else ""
        absent.append({"source": name, "files": data.files, "note": f"No {name} source{where}: {effect}"})
    return absent


def quality_summary(sources: dict[str, SourceData], accounting: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Per source: rows in, used, quarantined and merged, and every failed check with examples.
    `accounting` is what normalising did (`clean.Cleaned.accounting`): rows used, duplicates merged,
    rows set aside by rules outside GX; without it (a run stopped at the gate) nothing was used."""
    rows = []
    for data in sources.values():
        outcomes = data.validation.outcomes if data.validation else []
        counts = (accounting or {}).get(data.name, {})
        rows.append(
            {
                "source": data.name,
                "files": data.files,
                "rows_in": data.rows_in,
                "rows_used": counts.get("used", 0),
                "rows_quarantined": data.quarantined.height if data.quarantined is not None else 0,
                "duplicates_merged": counts.get("merged", 0),
                "match_rate": account_match_rate(data),
                # contacts: how many were linked to their account by each rule (tasks/account_links.py)
                **({"account_links": counts["links"]} if "links" in counts else {}),
                # accounts without a domain, keyed by their account_id (only when there are some)
                **({"keyed_by_account_id": counts["keyed_by_id"]} if counts.get("keyed_by_id") else {}),
                "expectations_total": len(outcomes),
                "expectations_passed": sum(o.success for o in outcomes),
                "failed": [
                    {
                        "label": o.label,
                        "severity": o.severity,
                        "unexpected_count": o.unexpected_count,
                        "why": o.explained_why,
                        "examples": data.examples.get(o.label, []),
                    }
                    for o in outcomes
                    if not o.success and not o.not_applicable
                ]
                + counts.get("set_aside", []),
                # checks that could not apply (only when there are some: other rows keep their shape)
                **(
                    {"not_applicable": [{"label": o.label, "note": o.not_applicable} for o in outcomes if o.not_applicable]}
                    if any(o.not_applicable for o in outcomes)
                    else {}
                ),
            }
        )
    absent = absent_sources(sources)
    return {"sources": rows, **({"absent_sources": absent} if absent else {})}
