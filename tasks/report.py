"""The HTML report and the Markdown run summary, rendered from the run's final tables."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from abmq.config import Config
from abmq.resources import REPORTS_DIR
from tasks.exports import POINT_LABELS
from tasks.scoring import POINT_COLUMNS
from tasks.selection import DECISIONS

SENIORITY_LABELS = {
    "c_level": "C-level",
    "vp": "VP",
    "director": "Director",
    "manager": "Manager",
    "individual_contributor": "Individual contributor",
}


def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(REPORTS_DIR),
        autoescape=select_autoescape(enabled_extensions=("html", "j2"), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def headline(accounts: pl.DataFrame, config: Config) -> dict[str, Any]:
    counts = dict(accounts.group_by("decision").len().iter_rows())
    tiers = dict(accounts.filter(pl.col("tier").is_not_null()).group_by("tier").len().iter_rows())
    return {
        "accounts_scored": accounts.height,
        "decisions": {d: int(counts.get(d, 0)) for d in DECISIONS},
        "targets": int(sum(tiers.values())),
        "tiers": [
            {"name": t.name, "label": t.label, "filled": int(tiers.get(t.name, 0)), "capacity": t.capacity, "min_score": t.min_score}
            for t in config.selection.tiers
        ],
    }


def _people_by_department(people: list[dict[str, Any]]) -> list[dict[str, Any]]:
    grouped: dict[str, list[str]] = {}
    for person in people:
        role = SENIORITY_LABELS.get(person["seniority"], person["seniority"] or "unknown")
        grouped.setdefault(person["department"] or "other", []).append(
            f"{person['name']} — {person['title'] or role} ({role}, {person['points']} pts)"
        )
    return [{"department": k, "people": v} for k, v in sorted(grouped.items())]


def target_rows(accounts: pl.DataFrame) -> list[dict[str, Any]]:
    """Ranked target accounts as plain dicts for the template (a few thousand at most)."""
    targets = accounts.filter(pl.col("tier").is_not_null()).sort("target_rank")
    rows = []
    for account in targets.iter_rows(named=True):
        rows.append(
            {
                **{k: account[k] for k in ("target_rank", "tier", "tier_label", "name", "domain", "owner", "country", "industry", "score", "fit_points", "engagement_points", "decision", "decision_reason", "trend", "next_step", "explanation", "engaged_stakeholders", "decision_makers_engaged")},
                "intent_points": account["points_intent"],
                "points": [
                    {"label": POINT_LABELS[c], "value": account[c]} for c in POINT_COLUMNS if account[c] != 0
                ],
                "people": _people_by_department(account["engaged_people"] or []),
                "departments": account["engaged_departments"] or [],
                "topics": account["surging_topics"] or [],
                "technologies": account["matched_technologies"] or [],
            }
        )
    return rows


def render_report(
    accounts: pl.DataFrame,
    quality: dict[str, Any],
    config: Config,
    as_of: dt.date,
    run: dict[str, Any],
) -> str:
    template = environment().get_template("report.html.j2")
    return template.render(
        as_of=as_of.isoformat(),
        headline=headline(accounts, config),
        targets=target_rows(accounts),
        quality=quality,
        run=run,
        threshold=config.account_scoring.threshold,
        nurture_min_fit=config.selection.nurture_min_fit,
    )


def markdown_summary(accounts: pl.DataFrame, quality: dict[str, Any], config: Config, as_of: dt.date, top: int = 10) -> str:
    """The run summary published as a Prefect artifact: counts and top targets, no contacts."""
    head = headline(accounts, config)
    lines = [
        f"# ABM qualification as of {as_of.isoformat()}",
        "",
        f"Accounts scored: **{head['accounts_scored']:,}**, targets: **{head['targets']:,}**",
        "",
        "| decision | accounts |",
        "|---|---:|",
        *[f"| {d} | {n:,} |" for d, n in head["decisions"].items()],
        "",
        "| tier | filled | capacity |",
        "|---|---:|---:|",
        *[f"| {t['name']} ({t['label']}) | {t['filled']:,} | {t['capacity']:,} |" for t in head["tiers"]],
        "",
        "## Data quality",
        "",
        "| source | rows in | used | quarantined | duplicates merged |",
        "|---|---:|---:|---:|---:|",
        *[
            f"| {s['source']} | {s['rows_in']:,} | {s['rows_used']:,} | {s['rows_quarantined']:,} | {s['duplicates_merged']:,} |"
            for s in quality["sources"]
        ],
        *quality_failures_markdown(quality),
        "",
        f"## Top {top} targets",
        "",
        "| rank | account | domain | tier | score | reason |",
        "|---:|---|---|---|---:|---|",
    ]
    for row in target_rows(accounts.filter(pl.col("target_rank") <= top)):
        name = (row["name"] or "").replace("|", "\\|")
        lines.append(f"| {row['target_rank']} | {name} | {row['domain']} | {row['tier']} | {row['score']} | {row['decision_reason']} |")
    return "\n".join(lines) + "\n"


def quality_failures_markdown(quality: dict[str, Any]) -> list[str]:
    """Each failed rule with its count and a few example rows (private columns left out)."""
    lines: list[str] = []
    for source in quality["sources"]:
        for failure in source["failed"]:
            lines += ["", f"**{source['source']}** `{failure['label']}` ({failure['severity']}): {failure['unexpected_count'] or 0:,} rows — {failure['why']}"]
            for example in failure["examples"]:
                shown = ", ".join(f"{k}={v}" for k, v in example.items() if v is not None and not k.startswith("_row"))
                lines.append(f"- `{shown[:300]}`")
    return lines
