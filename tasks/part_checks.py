"""GX's verdict on an export kept in parts (issue 13 part 2), made of its parts' verdicts: a
day the contacts export changes validates only the parts whose staged rows changed.

Each part (`tasks/export_parts.py`; its file names its staged rows) is validated by GX on its
own, and its result is kept with the export's record (`part_checks`, by file). A later run
takes a part's kept result when its file, the suite and the parameters its row checks read
are as they were (`holds`), and validates the other parts. The export's verdict is then
worked out from the parts' results as GX works it out from the rows (`merged`):
- a check of a column's values (GX's map expectations): the counts added up, the first 20
  unexpected values and their row numbers those of the parts in export order, the shares and
  the verdict (`mostly`) from the sums, as GX's `_format_map_output` does;
- the row count: the parts' added up; a column's newest value: the parts' newest;
- a column's presence: the parts' (they have the same columns).
The result equals GX's over the whole export (tests/test_part_checks.py, every field); where
it cannot be made so (a check GX could not evaluate, a kind not listed above, a part without
rows) the export is validated whole, as before.
"""

from __future__ import annotations

import copy
import dataclasses
from collections import Counter
from typing import Any

import polars as pl

from abmq.tasks import quarantine, remembered, validate
from abmq.tasks.event_partitions import suite_hash

PARTIAL = 20  # GX's SUMMARY result: the first 20 unexpected values and row numbers
ROW_COUNT = "expect_table_row_count_to_be_between"
COLUMN_MAX = "expect_column_max_to_be_between"
EXISTS = "expect_column_to_exist"
# a check of each row's values (GX's map expectations: the quarantine's rules) is made of its
# parts' counts and first values
MERGEABLE = {ROW_COUNT, COLUMN_MAX, EXISTS, *quarantine.ROW_LEVEL}


def mergeable(suite: dict[str, Any]) -> bool:
    return all(entry["type"] in MERGEABLE for entry in suite["expectations"])


# --- one part ---------------------------------------------------------------------------------


def part_check(validation: validate.SourceValidation, suite_key: str) -> dict[str, Any]:
    """A part's verdict as kept: GX's result (as JSON, its ids and clock made stable) and the
    outcomes, under the suite's hash."""
    return {
        "suite": suite_key,
        "positions": list(validation.gx_positions),
        "result": remembered.stable_gx_result(validation.gx_result.to_json_dict()),
        "outcomes": [dataclasses.asdict(outcome) for outcome in validation.outcomes],
    }


def holds(check: dict[str, Any] | None, suite_key: str, parameters: dict[str, Any]) -> bool:
    """Whether a part's kept verdict is this run's: the same suite, and its row checks that
    read a parameter (an intent week no later than the as-of date) judge every row as they
    did (`remembered.still_holds`); a row count or newest value is judged again when merged."""
    if check is None or check.get("suite") != suite_key:
        return False
    outcomes = remembered.recorded_outcomes(check)
    return not any(o.error for o in outcomes) and remembered.still_holds(outcomes, parameters)


def validated_parts(
    source: str,
    staged: pl.DataFrame,
    suite: dict[str, Any],
    parameters: dict[str, Any],
    files: list[str],
    unknown_columns: list[str],
    parts: list[dict[str, Any]],
    known: dict[str, dict[str, Any]],
) -> tuple[dict[str, dict[str, Any]], int]:
    """Each part's verdict ({file: check}): kept (`known`) where it `holds`, else GX run over
    the part's rows. Returns the checks and how many parts GX validated now."""
    suite_key = suite_hash(suite)
    checks, validated = {}, 0
    for part in parts:
        if part["file"] in checks:
            continue
        check = known.get(part["file"])
        if not holds(check, suite_key, parameters):
            rows = staged.slice(part["start"], part["rows"])
            check = part_check(validate.run_suite(source, rows, copy.deepcopy(suite), parameters, files, unknown_columns), suite_key)
            validated += 1
        checks[part["file"]] = check
    return checks, validated


# --- the export's verdict from its parts' -----------------------------------------------------


def merged(
    source: str,
    suite: dict[str, Any],
    parameters: dict[str, Any],
    files: list[str],
    rows_in: int,
    unknown_columns: list[str],
    parts: list[dict[str, Any]],
    checks: dict[str, dict[str, Any]],
) -> validate.SourceValidation | None:
    """The export's validation made of its parts' (`checks`, by file; `parts` in export order,
    each with its first row `start`), as GX over all its rows gives it; None when it cannot be
    (see the module's text)."""
    in_order = [checks[part["file"]] for part in parts]
    starts = [part["start"] for part in parts]
    if not in_order or not mergeable(suite) or any(part["rows"] == 0 for part in parts):
        return None
    positions = in_order[0]["positions"]
    if any(check["positions"] != positions for check in in_order):
        return None
    outcomes_by_part = [remembered.recorded_outcomes(check) for check in in_order]
    outcomes = []
    for position, entry in enumerate(suite["expectations"]):
        outcome = _merged_outcome(entry, [part_outcomes[position] for part_outcomes in outcomes_by_part], parameters)
        if outcome is None:
            return None
        outcomes.append(outcome)
    items = []
    for number, at in enumerate(positions):
        item = _merged_item([check["result"]["results"][number] for check in in_order], starts, outcomes[at])
        if item is None:
            return None
        items.append(item)
    judged = [item["success"] for item in items]
    result = {
        **copy.deepcopy({k: v for k, v in in_order[0]["result"].items() if k != "results"}),
        "success": all(judged),
        "statistics": {
            "evaluated_expectations": len(judged),
            "successful_expectations": sum(judged),
            "unsuccessful_expectations": len(judged) - sum(judged),
            "success_percent": sum(judged) / len(judged) * 100 if judged else None,
        },
        "results": items,
    }
    return validate.SourceValidation(
        source=source,
        files=files,
        rows_in=rows_in,
        unknown_columns=unknown_columns,
        outcomes=outcomes,
        suite=suite,
        gx_result=result,
        gx_positions=list(positions),
    )


def _merged_outcome(
    entry: dict[str, Any], parts: list[validate.ExpectationOutcome], parameters: dict[str, Any]
) -> validate.ExpectationOutcome | None:
    kind = entry["type"]
    first = parts[0]
    if any(o.error or o.expectation != kind for o in parts):
        return None
    resolved = validate.resolve_parameters(entry["kwargs"], parameters)
    if kind == EXISTS:
        return first if all(o.success == first.success for o in parts) else None
    if kind == ROW_COUNT:
        if any(not isinstance(o.observed_value, int) for o in parts):
            return None
        rows = sum(o.observed_value for o in parts)
        return dataclasses.replace(first, observed_value=rows, success=remembered.within(rows, resolved), resolved=resolved)
    if kind == COLUMN_MAX:
        observed = [o.observed_value for o in parts]
        if any(value is None or value != value for value in observed):  # a part with no values (None, NaN, NaT)
            return None
        newest = max(observed)
        return dataclasses.replace(first, observed_value=newest, success=remembered.within(newest, resolved), resolved=resolved)
    if any(o.unexpected_count is None or o.element_count is None for o in parts):
        return None
    # the verdict is the merged GX item's (`_merged_item`), set there
    return dataclasses.replace(
        first,
        unexpected_count=sum(o.unexpected_count for o in parts),
        element_count=sum(o.element_count for o in parts),
        resolved=resolved,
    )


def _merged_item(items: list[dict[str, Any]], starts: list[int], outcome: validate.ExpectationOutcome) -> dict[str, Any] | None:
    """GX's result item for the whole export from its parts' (JSON), in the same order and
    form; `outcome` (merged, its verdict set here for a column's values) gives the kwargs."""
    first = items[0]
    if any(item["exception_info"].get("raised_exception") for item in items):
        return None
    item = copy.deepcopy(first)
    item["expectation_config"]["kwargs"].update(_json(outcome.resolved))
    kind = outcome.expectation
    if kind == EXISTS:
        return item
    if kind in (ROW_COUNT, COLUMN_MAX):
        # the sum of the parts' rows, or the newest value as the part that has it reports it
        observed = _json(outcome.observed_value)
        if kind == COLUMN_MAX:
            observed = next((i["result"]["observed_value"] for i in items if i["result"].get("observed_value") == observed), None)
            if observed is None:
                return None
        item["success"] = outcome.success
        item["result"] = {**item["result"], "observed_value": observed}
        return item
    result = _merged_values([i["result"] for i in items], starts)
    if result is None:
        return None
    item["result"] = result
    mostly = item["expectation_config"]["kwargs"].get("mostly", 1.0)
    item["success"] = _map_success(result, mostly)
    outcome.success = item["success"]
    return item


def _json(value: Any) -> Any:
    from great_expectations.util import convert_to_json_serializable

    return convert_to_json_serializable(value)


def _merged_values(results: list[dict[str, Any]], starts: list[int]) -> dict[str, Any] | None:
    """A map expectation's SUMMARY result from its parts' (see GX's `_format_map_output`)."""
    keys = list(results[0])
    if any(list(result) != keys for result in results):
        return None
    total = sum(r["element_count"] for r in results)
    unexpected = sum(r["unexpected_count"] for r in results)
    missing = sum(r["missing_count"] for r in results) if "missing_count" in keys else None
    values = [v for r in results for v in r.get("partial_unexpected_list", [])][:PARTIAL]
    rows = [i + start for r, start in zip(results, starts, strict=True) for i in r.get("partial_unexpected_index_list", [])][:PARTIAL]
    share_total = unexpected / total * 100 if total > 0 else None
    if missing is None:
        share = share_total
    else:
        nonnull = total - missing
        share = unexpected / nonnull * 100 if total > 0 and nonnull > 0 else None
    merged = {}
    for key in keys:
        if key == "element_count":
            merged[key] = total
        elif key == "unexpected_count":
            merged[key] = unexpected
        elif key in ("unexpected_percent", "unexpected_percent_nonmissing"):
            merged[key] = share
        elif key == "unexpected_percent_total":
            merged[key] = share_total
        elif key == "missing_count":
            merged[key] = missing
        elif key == "missing_percent":
            merged[key] = missing / total * 100 if total > 0 else None
        elif key == "partial_unexpected_list":
            merged[key] = values
        elif key == "partial_unexpected_index_list":
            merged[key] = rows
        elif key == "partial_unexpected_counts":
            counts = _counts(values)
            if counts is None:
                return None
            merged[key] = counts
        else:
            return None
    return merged


def _counts(values: list[Any]) -> list[dict[str, Any]] | None:
    """GX's `partial_unexpected_counts` of the first unexpected values (the most common, then
    by value); a pair of columns' values are lists in JSON, tuples to GX."""
    hashable = [tuple(v) if isinstance(v, list) else v for v in values]
    try:
        ranked = sorted(Counter(hashable).most_common(PARTIAL), key=lambda x: (-x[1], x[0]))
    except TypeError:
        return None
    return [{"value": list(value) if isinstance(value, tuple) else value, "count": count} for value, count in ranked]


def _map_success(result: dict[str, Any], mostly: float) -> bool:
    """GX's verdict of a map expectation from its counts: the share of the rows it considers
    (those with a value, where GX counts the missing ones apart) that is expected, against `mostly`."""
    total, unexpected = result["element_count"], result["unexpected_count"]
    considered = total - result["missing_count"] if "missing_count" in result else total
    if total == 0 or considered == 0:
        return True
    return (float(considered) - float(unexpected)) / float(considered) >= mostly
