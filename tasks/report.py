"""The HTML report and the Markdown run summary, rendered from the run's final tables."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import polars as pl
from jinja2 import Environment, FunctionLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from abmq import resources
from abmq.config import Config
from abmq.tasks import charts, conversion
from abmq.tasks.exports import POINT_LABELS, band_column
from abmq.tasks.scoring import POINT_COLUMNS
from abmq.tasks.sources import ID_KEY_PREFIX
from abmq.vocabulary import DECISIONS

SENIORITY_LABELS = {
    "c_level": "C-level",
    "vp": "VP",
    "director": "Director",
    "manager": "Manager",
    "individual_contributor": "Individual contributor",
}


def account_page(key: str) -> str:
    """Relative link from the report to an account's page, by its key (tasks/sources.py).
    Domains are canonical already; anything else is replaced so a page name can never leave its
    folder. An account keyed by its CRM id gets `id-<id, made safe>-<8 hex of its SHA-256>`: ids
    differ in case and punctuation ("0015g00000XyZ", "0015G00000xyz"), which the safe part loses,
    and a domain's page name always has a dot, which this never has."""
    if key.startswith(ID_KEY_PREFIX):
        account_id = key.removeprefix(ID_KEY_PREFIX)
        safe = re.sub(r"[^a-z0-9-]", "_", account_id.lower())[:40]
        return f"accounts/id-{safe}-{hashlib.sha256(account_id.encode()).hexdigest()[:8]}.html"
    return f"accounts/{re.sub(r'[^a-z0-9.-]', '_', key)}.html"


@functools.cache  # templates are compiled once per process, not once per run (~1 s)
def environment() -> Environment:
    env = Environment(
        loader=FunctionLoader(resources.template_text),
        autoescape=select_autoescape(enabled_extensions=("html", "j2"), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["account_page"] = account_page
    return env


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
    grouped: dict[str, list[dict[str, Any]]] = {}
    for person in people:
        role = SENIORITY_LABELS.get(person["seniority"], person["seniority"] or "unknown")
        last = person.get("last_activity_at")
        grouped.setdefault(person["department"] or "other", []).append(
            {
                "name": person["name"],
                "title": person["title"],
                "role": role,
                "points": person["points"],
                "account_points": person.get("account_points"),
                "by_type": person.get("by_type") or "",
                "last_active": last.date().isoformat() if last is not None else "never",
                "short": f"{person['name']} ({role}, {person['points']})",
            }
        )
    return [{"department": k, "people": v} for k, v in sorted(grouped.items())]


def _point_label(column: str, account: dict) -> str:
    """'company size', or 'company size (200-499)' for a banded value."""
    band = account.get(band_column(column))
    return f"{POINT_LABELS[column]} ({band})" if band else POINT_LABELS[column]


def _revenue_text(value: float | None) -> str:
    if value is None:
        return "revenue unknown"
    return f"USD {value / 1e9:.1f}B revenue" if value >= 1e9 else f"USD {value / 1e6:.0f}M revenue"


def target_rows(accounts: pl.DataFrame) -> list[dict[str, Any]]:
    """Ranked target accounts as plain dicts for the templates (a few thousand at most)."""
    targets = accounts.filter(pl.col("tier").is_not_null()).sort("target_rank")
    rows = []
    for account in targets.iter_rows(named=True):
        rows.append(
            {
                **{
                    k: account[k]
                    for k in (
                        "target_rank",
                        "tier",
                        "tier_label",
                        "name",
                        "account_id",
                        "owner",
                        "country",
                        "industry",
                        "employees",
                        "score",
                        "p_convert",
                        "fit_points",
                        "engagement_points",
                        "decision",
                        "decision_reason",
                        "trend",
                        "next_step",
                        "explanation",
                        "engaged_stakeholders",
                        "decision_makers_engaged",
                        "recent_points",
                        "previous_points",
                    )
                },
                # the key names the page; the domain shown is blank for an account keyed by its id
                "account_key": account["domain"],
                "domain": None if account["domain"].startswith(ID_KEY_PREFIX) else account["domain"],
                "intent_points": account["points_intent"],
                # a mapping's bands ("200-499", "$10M-$50M") are shown as given, not as their midpoints
                "employees_band": account.get("employees_band"),
                "revenue_text": f"{account['annual_revenue_band']} revenue"
                if account.get("annual_revenue_band")
                else _revenue_text(account["annual_revenue"]),
                "points": [{"label": _point_label(c, account), "value": account[c]} for c in POINT_COLUMNS if account[c] != 0],
                "people": _people_by_department(account["engaged_people"] or []),
                "departments": account["engaged_departments"] or [],
                "topics": account["surging_topics"] or [],
                "technologies": account["matched_technologies"] or [],
                "spellings": account["domain_spellings"] or [],
                "roles_covered": account["roles_covered"] or [],
                "roles_missing": account["roles_missing"] or [],
                "clusters": account["clusters_in_market"] or [],
                "competitor_technologies": account["competitor_technologies"] or [],
            }
        )
    return rows


def intent_grids(intent: pl.DataFrame, domains: list[str]) -> dict[str, dict[str, Any]]:
    """Topic × week scores of each of these accounts, newest week last. One pass over the
    intent rows: a filter per account page cost 3.3 s for L's 2,500 pages."""
    rows = (
        intent.filter(pl.col("domain").is_in(domains)).select("domain", "topic", "week", "score").sort("domain", "topic", "week", "score")
    )
    grids: dict[str, dict[str, dict[str, int | None]]] = {}
    for domain, topic, week, score in rows.iter_rows():
        grids.setdefault(domain, {}).setdefault(topic, {})[week.isoformat()] = None if score is None else int(score)
    shaped = {}
    for domain in domains:
        grid = grids.get(domain, {})
        ordered = sorted({week for scores in grid.values() for week in scores})
        shaped[domain] = {
            "weeks": ordered,
            "topics": [{"topic": t, "scores": [g.get(w) for w in ordered]} for t, g in sorted(grid.items())],
        }
    return shaped


def coverage_frame(accounts: pl.DataFrame, per_tier: int = 15) -> pl.DataFrame:
    """Engaged people per department of the top accounts of each tier (heat map data)."""
    top = (
        accounts.filter(pl.col("tier").is_not_null())
        .sort("target_rank")
        .group_by("tier", maintain_order=True)
        .head(per_tier)
        .select("tier", "target_rank", pl.col("name").alias("account"), "engaged_people")
    )
    counted = (
        top.explode("engaged_people")
        .with_columns(pl.col("engaged_people").struct.field("department").alias("role"))
        .filter(pl.col("role").is_not_null())
        .group_by("account", "role")
        .len("engaged")
    )
    roles = sorted(set(counted["role"])) or ["no one engaged"]
    return (
        top.select("tier", "target_rank", "account")
        .join(pl.DataFrame({"role": roles}), how="cross")
        .join(counted, on=["account", "role"], how="left")
        .with_columns(pl.col("engaged").fill_null(0).cast(pl.Int64))
        .sort("target_rank", "role")
        .select("account", "tier", "role", "engaged")
    )


def build_charts(accounts: pl.DataFrame, weekly: pl.DataFrame, threshold: int) -> list[dict[str, Any]]:
    """The overview's charts as inline SVG. vl-convert writes them and escapes every label,
    so they are marked safe here rather than escaped again."""
    names = accounts.select("domain", pl.col("name").alias("account"))
    trend = weekly.join(names, on="domain", how="left").select("account", "week", "points")
    made = [
        ("score-distribution", "Score distribution", charts.score_distribution(accounts.select("score", "decision"), threshold)),
        ("fit-vs-engagement", "Fit vs engagement", charts.fit_vs_engagement(accounts.select("fit_points", "engagement_points", "tier"))),
        ("buying-group-coverage", "Buying-group coverage", charts.buying_group_coverage(coverage_frame(accounts))),
        ("engagement-trend", "Engagement trend of the top accounts", charts.engagement_trend(trend)),
    ]
    return [{"id": key, "title": title, "svg": Markup(svg)} for key, title, svg in made]


def render_site(
    accounts: pl.DataFrame,
    quality: dict[str, Any],
    config: Config,
    as_of: dt.date,
    run: dict[str, Any],
    changes: dict[str, Any] | None = None,
    weekly: pl.DataFrame | None = None,
    intent: pl.DataFrame | None = None,
) -> dict[str, str]:
    """Every page of the report: {relative path: HTML}."""
    env = environment()
    run = {"p_convert": conversion.NONE.record(), **run}
    common = {"as_of": as_of.isoformat(), "run": run, "threshold": config.account_scoring.threshold}
    weekly = weekly if weekly is not None else pl.DataFrame(schema={"domain": pl.String, "week": pl.Date, "points": pl.Int64})
    intent = (
        intent
        if intent is not None
        else pl.DataFrame(schema={"domain": pl.String, "topic": pl.String, "week": pl.Date, "score": pl.Float64})
    )
    # The charts are made on a thread while the pages are: vl-convert runs in its own process
    # (tasks/chart_render.py), and at XL the wait for it (~0.9 s of the charts' 1.2 s, its
    # engine's start included) was time this process spent idle.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="charts") as pool:
        made_charts = pool.submit(build_charts, accounts, weekly, config.account_scoring.threshold)
        targets = target_rows(accounts)
        account_template = env.get_template("account.html.j2")
        grids = intent_grids(intent, [target["account_key"] for target in targets])
        account_pages = {
            account_page(target["account_key"]): account_template.render(
                **common,
                a={**target, "intent": grids[target["account_key"]]},
                surge=config.account_scoring.intent.surge_score,
                trend_days=config.account_scoring.trend.window_days,
            )
            for target in targets
        }
        charts_svg = made_charts.result()
    return {
        "report.html": env.get_template("report.html.j2").render(
            **common,
            headline=headline(accounts, config),
            targets=targets,
            quality=quality,
            changes=changes or {"previous_as_of": None},
            charts=charts_svg,
        ),
        "quality.html": env.get_template("quality.html.j2").render(**common, quality=quality),
        **account_pages,
    }


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
        *[
            f"\nContacts linked to their account: {n['account_id']:,} by account_id, {n['domain']:,} by domain, {n['email_domain']:,} by e-mail domain."
            for n in (s.get("account_links") for s in quality["sources"])
            if n
        ],
        *[f"\n{absent['note']}." for absent in quality.get("absent_sources", [])],
        *quality_failures_markdown(quality),
        "",
        f"## Top {top} targets",
        "",
        "| rank | account | domain | tier | score | reason |",
        "|---:|---|---|---|---:|---|",
    ]
    for row in target_rows(accounts.filter(pl.col("target_rank") <= top)):
        name = (row["name"] or "").replace("|", "\\|")
        domain = row["domain"] or f"account id {row['account_id']}"
        lines.append(f"| {row['target_rank']} | {name} | {domain} | {row['tier']} | {row['score']} | {row['decision_reason']} |")
    return "\n".join(lines) + "\n"


def quality_failures_markdown(quality: dict[str, Any]) -> list[str]:
    """Each failed rule with its count and a few example rows (private columns left out)."""
    lines: list[str] = []
    for source in quality["sources"]:
        for failure in source["failed"]:
            lines += [
                "",
                f"**{source['source']}** `{failure['label']}` ({failure['severity']}): {failure['unexpected_count'] or 0:,} rows — {failure['why']}",
            ]
            for example in failure["examples"]:
                shown = ", ".join(f"{k}={v}" for k, v in example.items() if v is not None and not k.startswith("_row"))
                lines.append(f"- `{shown[:300]}`")
    return lines
