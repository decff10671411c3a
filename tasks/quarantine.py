"""Quarantine: the rows a failed row-level (warning) expectation rejects, set aside with
their reasons, and a few example rows per rule for reports and artifacts. The rules are
polars predicates that must select exactly the rows GX counted (checked on every run)."""

from __future__ import annotations

from typing import Any

import polars as pl

from abmq.tasks.sources import compacted
from abmq.tasks.validate import (
    EXAMPLES_PER_RULE,
    PRIVATE_COLUMNS,
    DataQualityError,
    ExpectationOutcome,
    SourceValidation,
    as_validated,
    resolve_parameters,
)


def failing_rows(outcome: ExpectationOutcome, parameters: dict[str, Any]) -> pl.Expr:
    """The rows a row-level expectation rejects, as a polars predicate (nulls never fail,
    as in GX, except for the null checks themselves)."""
    kw = resolve_parameters(outcome.kwargs, parameters)
    kind = outcome.expectation
    if kind == "expect_column_values_to_not_be_null":
        return pl.col(kw["column"]).is_null()
    if kind == "expect_column_values_to_be_null":
        return pl.col(kw["column"]).is_not_null()
    column = pl.col(kw.get("column", ""))
    if kind == "expect_column_values_to_be_in_set":
        return column.is_not_null() & ~column.is_in(kw["value_set"])
    if kind == "expect_column_values_to_be_between":
        bad = pl.lit(False)
        if kw.get("min_value") is not None:
            bad = bad | (column <= kw["min_value"] if kw.get("strict_min") else column < kw["min_value"])
        if kw.get("max_value") is not None:
            bad = bad | (column >= kw["max_value"] if kw.get("strict_max") else column > kw["max_value"])
        return column.is_not_null() & bad
    if kind == "expect_column_values_to_match_regex":
        return column.is_not_null() & ~column.str.contains(kw["regex"])
    if kind == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = pl.col(kw["column_A"]), pl.col(kw["column_B"])
        bad = a < b if kw.get("or_equal") else a <= b
        # GX's default skips a row only when both are missing; one missing value fails
        ignored = kw.get("ignore_row_if", "both_values_are_missing")
        if ignored == "either_value_is_missing":
            return a.is_not_null() & b.is_not_null() & bad
        if ignored == "both_values_are_missing":
            return ~(a.is_null() & b.is_null()) & (a.is_null() | b.is_null() | bad)
        return a.is_null() | b.is_null() | bad
    raise ValueError(f"{outcome.source}: no quarantine rule for {kind}; make it blocking or add one")


ROW_LEVEL = {
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_null",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_be_between",
    "expect_column_values_to_match_regex",
    "expect_column_pair_values_a_to_be_greater_than_b",
}


def split_quarantine(
    frame: pl.DataFrame, validation: SourceValidation, parameters: dict[str, Any], take_over: bool = False
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows kept, rows quarantined with a `quarantine_reasons` column). `take_over`: `frame`
    is not read again, so when rows are set aside its columns are let go as the kept rows are
    taken from them (`_rows_kept`), and it is left with none."""
    failed = [o for o in validation.warnings if o.expectation in ROW_LEVEL and o.unexpected_count is not None]
    if not failed:
        return frame, frame.clear().with_columns(pl.lit(None, pl.String).alias("quarantine_reasons"))
    # Rules are evaluated on the same view GX saw; the rows kept aside are the originals.
    masks = as_validated(frame).select(failing_rows(o, parameters).fill_null(False).alias(str(i)) for i, o in enumerate(failed))
    for outcome, flagged_count in zip(failed, masks.sum().row(0), strict=True):
        if outcome.unexpected_count is not None and flagged_count != outcome.unexpected_count:
            raise DataQualityError(
                f"{validation.source}: {outcome.label}: GX counted {outcome.unexpected_count} failing rows "
                f"but the quarantine rule selects {flagged_count}; the rule and the suite disagree"
            )
    bad = masks.select(pl.any_horizontal(pl.all())).to_series()
    # Reasons are spelled out for the (few) quarantined rows only; a rule with advice names
    # the row's value beside it (the values under `_value_<column>`).
    advised = sorted({o.kwargs["column"] for o in failed if o.advice})
    flagged = masks.hstack(frame.select(pl.col(c).alias(f"_value_{c}") for c in advised).get_columns()).filter(bad)
    reasons = flagged.select(
        pl.concat_str(
            [pl.when(pl.col(str(i))).then(_reason(o)) for i, o in enumerate(failed)],
            separator="; ",
            ignore_nulls=True,
        ).alias("quarantine_reasons")
    )
    quarantined = compacted(pl.concat([frame.filter(bad), reasons], how="horizontal"))
    return _rows_kept(frame, ~bad, take_over), quarantined


def _rows_kept(frame: pl.DataFrame, keep: pl.Series, take_over: bool) -> pl.DataFrame:
    """`frame.filter(keep)`. A filter copies each text value's 16-byte view: with rows set aside
    all through the frame (a real export's order), the kept copy of 10M contacts' 11 text columns
    took 1.7 GiB beside the frame's own views. Taken over, the frame gives up each column once
    it is filtered, so only one column's copy is alive beside it."""
    if not take_over:
        return frame.filter(keep)
    kept = []
    for name in frame.columns:
        kept.append(frame.get_column(name).filter(keep))
        frame.drop_in_place(name)
    return pl.DataFrame(kept)


VALUE_CHARS = 60  # a value quoted in a reason is cut to this length


def _reason(outcome: ExpectationOutcome) -> pl.Expr:
    """The rule's label and why; for a rule with advice also the row's value and the advice:
    `...(event_type): unknown event_type 'call'; map it onto a known type under ...`."""
    if not outcome.advice:
        return pl.lit(f"{outcome.label}: {outcome.why}")
    value = pl.col(f"_value_{outcome.kwargs['column']}").cast(pl.String).str.head(VALUE_CHARS)
    return pl.concat_str([pl.lit(f"{outcome.label}: {outcome.why} '"), value, pl.lit(f"'; {outcome.advice}")])


def quarantine_examples(
    quarantined: pl.DataFrame, validation: SourceValidation, parameters: dict[str, Any]
) -> dict[str, list[dict[str, Any]]]:
    """A few example rows per failed rule, without private columns, for reports and artifacts."""
    examples: dict[str, list[dict[str, Any]]] = {}
    visible = [c for c in quarantined.columns if c not in PRIVATE_COLUMNS and c != "quarantine_reasons"]
    for outcome in validation.warnings:
        if outcome.expectation not in ROW_LEVEL or outcome.unexpected_count is None:
            continue
        matches = as_validated(quarantined).select(failing_rows(outcome, parameters).alias("match"))["match"]
        examples[outcome.label] = example_rows(quarantined.filter(matches).select(visible))
    return examples


def example_rows(rows: pl.DataFrame) -> list[dict[str, Any]]:
    """The first few rows as text, without private columns."""
    visible = [c for c in rows.columns if c not in PRIVATE_COLUMNS]
    return [{k: (None if v is None else str(v)) for k, v in row.items()} for row in rows.head(EXAMPLES_PER_RULE).select(visible).to_dicts()]
