"""Report charts: offline SVG, escaped labels, deterministic bytes, empty inputs, scale."""

import datetime as dt
import re

import altair as alt
import numpy as np
import polars as pl
import pytest

from abmq.tasks import charts

HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
MONDAY = dt.date(2024, 1, 1)


def accounts_frame(decisions=("sql_ready", "nurture", "disqualified", "suppressed", "needs_enrichment")) -> pl.DataFrame:
    rows = [
        (95, 45, 50, "Tier 1", decisions[0]),
        (72, 40, 32, "Tier 2", decisions[0]),
        (55, 30, 25, "Tier 3", decisions[1]),
        (55, 30, 25, None, decisions[1]),
        (20, 10, 10, None, decisions[2]),
        (0, 0, 0, None, decisions[3]),
        (100, 50, 50, "Tier 1", decisions[4]),
    ]
    return pl.DataFrame(
        rows,
        schema={"score": pl.Int64, "fit_points": pl.Int64, "engagement_points": pl.Int64, "tier": pl.String, "decision": pl.String},
        orient="row",
    )


def coverage_frame(first_name: str = "Acme") -> pl.DataFrame:
    rows = [
        (first_name, "Tier 2", "finance", 2),
        (first_name, "Tier 2", "it", 0),
        ("Zeta Corp", "Tier 1", "finance", 1),
        ("Zeta Corp", "Tier 1", "security", 3),
        ("Beta Ltd", "Tier 1", "it", 1),
        ("Gamma", None, "security", 0),
    ]
    return pl.DataFrame(rows, schema={"account": pl.String, "tier": pl.String, "role": pl.String, "engaged": pl.Int64}, orient="row")


def weekly_frame(first_name: str = "Acme") -> pl.DataFrame:
    rows = [
        (first_name, MONDAY, 10),
        (first_name, MONDAY + dt.timedelta(weeks=3), 30),
        ("Beta Ltd", MONDAY + dt.timedelta(weeks=1), 5),
        ("Beta Ltd", MONDAY + dt.timedelta(weeks=1), 7),  # duplicates are summed
    ]
    return pl.DataFrame(rows, schema={"account": pl.String, "week": pl.Date, "points": pl.Int64}, orient="row")


CHARTS = {
    "Score distribution": lambda: charts.score_distribution(accounts_frame(), 70),
    "Fit vs engagement": lambda: charts.fit_vs_engagement(accounts_frame()),
    "Buying-group coverage": lambda: charts.buying_group_coverage(coverage_frame()),
    "Engagement trend of the top accounts": lambda: charts.engagement_trend(weekly_frame()),
}


def texts(svg: str) -> list[str]:
    """The text drawn in the SVG, in document order."""
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def assert_offline_svg(svg: str) -> None:
    assert svg.startswith("<svg")
    assert svg.rstrip().endswith("</svg>")
    # Namespace declarations are identifiers, not fetches; anything else must be local.
    body = re.sub(r'\sxmlns(:\w+)?="[^"]*"', "", svg)
    assert "http://" not in body and "https://" not in body
    for external in ("<image", "@import", "@font-face", "<script", "<foreignObject"):
        assert external not in body


@pytest.mark.parametrize("title", CHARTS)
def test_chart_is_offline_svg_with_title_and_same_bytes_twice(title):
    svg = CHARTS[title]()
    assert_offline_svg(svg)
    assert title in texts(svg)
    assert "No data" not in texts(svg)
    assert CHARTS[title]() == svg


@pytest.mark.parametrize(
    ("title", "render", "schema"),
    [
        ("Score distribution", lambda f: charts.score_distribution(f, 70), {"score": pl.Int64, "decision": pl.String}),
        ("Fit vs engagement", charts.fit_vs_engagement, {"fit_points": pl.Int64, "engagement_points": pl.Int64, "tier": pl.String}),
        (
            "Buying-group coverage",
            charts.buying_group_coverage,
            {"account": pl.String, "tier": pl.String, "role": pl.String, "engaged": pl.Int64},
        ),
        ("Engagement trend of the top accounts", charts.engagement_trend, {"account": pl.String, "week": pl.Date, "points": pl.Int64}),
    ],
)
def test_empty_input_gives_a_no_data_chart(title, render, schema):
    svg = render(pl.DataFrame(schema=schema))
    assert_offline_svg(svg)
    assert {title, "No data"} <= set(texts(svg))
    assert len(svg) < 5_000


def test_score_distribution_marks_the_threshold_and_names_decisions():
    drawn = texts(charts.score_distribution(accounts_frame(), 70))
    assert "SQL-ready ≥ 70" in drawn
    assert {"SQL-ready", "nurture", "needs enrichment", "disqualified", "suppressed"} <= set(drawn)
    assert "SQL-ready ≥ 65" in texts(charts.score_distribution(accounts_frame(), 65))


def test_fit_vs_engagement_lists_tiers_in_fixed_order():
    drawn = texts(charts.fit_vs_engagement(accounts_frame()))
    legend = [t for t in drawn if t in charts.TIER_COLORS]
    assert legend == ["Tier 1", "Tier 2", "Tier 3", "not a target"]
    assert "Fit points" in drawn  # exact points: no binning for a small input


def test_coverage_groups_accounts_by_tier_in_input_order_and_fills_missing_cells():
    grid = charts._coverage_grid(coverage_frame())
    assert grid.height == 4 * 3  # every account x every role
    assert grid.filter(pl.col("account") == "Beta Ltd", pl.col("role") == "finance")["engaged"].item() == 0
    strategic = pl.DataFrame({"account": ["Delta"], "tier": ["Strategic"], "role": ["it"], "engaged": [1]})
    drawn = texts(charts.buying_group_coverage(pl.concat([strategic, coverage_frame()])))
    # Known tiers in tier order, then others; not alphabetical, not first-seen.
    headers = [t for t in drawn if t in ("Tier 1", "Tier 2", "not a target", "Strategic")]
    assert headers == ["Tier 1", "Tier 2", "not a target", "Strategic"]
    labels = [t for t in drawn if t in ("Acme", "Zeta Corp", "Beta Ltd", "Gamma", "Delta")]
    assert labels == ["Zeta Corp", "Beta Ltd", "Acme", "Gamma", "Delta"]
    assert {"finance", "it", "security"} <= set(drawn)


def test_coverage_keeps_the_first_accounts_only():
    many = pl.DataFrame(
        {"account": [f"A{i:03d}" for i in range(200)], "tier": ["Tier 3"] * 200, "role": ["it"] * 200, "engaged": [1] * 200}
    )
    kept = charts._coverage_grid(many)["account"].to_list()
    assert kept == [f"A{i:03d}" for i in range(charts.MAX_COVERAGE_ACCOUNTS)]


def test_trend_fills_missing_weeks_with_zero():
    grid = charts._week_grid(weekly_frame())
    assert grid.height == 2 * 4  # two accounts x four weeks
    beta = grid.filter(pl.col("account") == "Beta Ltd").sort("week")
    assert beta["points"].to_list() == [0, 12, 0, 0]
    assert beta["week"].to_list() == ["2024-01-01", "2024-01-08", "2024-01-15", "2024-01-22"]


def test_trend_keeps_only_the_accounts_with_most_points():
    weekly = pl.DataFrame(
        {"account": [f"A{i:02d}" for i in range(15)], "week": [MONDAY] * 15, "points": list(range(15))},
        schema={"account": pl.String, "week": pl.Date, "points": pl.Int64},
    )
    kept = charts._week_grid(weekly)["account"].unique().sort().to_list()
    assert kept == [f"A{i:02d}" for i in range(5, 15)]


@pytest.mark.parametrize(
    "render",
    [
        lambda: charts.score_distribution(accounts_frame(decisions=(HOSTILE, "nurture", "x", "y", "z")), 70),
        lambda: charts.fit_vs_engagement(accounts_frame().with_columns(pl.lit(HOSTILE).alias("tier"))),
        lambda: charts.buying_group_coverage(coverage_frame(HOSTILE)),
        lambda: charts.engagement_trend(weekly_frame(HOSTILE)),
    ],
    ids=["decision", "tier", "coverage-account", "trend-account"],
)
def test_labels_are_escaped(render):
    svg = render()
    assert "<script" not in svg
    assert ESCAPED in svg


def test_a_chart_that_did_not_render_raises():
    # vl-convert only prints Vega runtime errors and returns an empty SVG; _render checks for the title.
    chart = alt.Chart(alt.Data(values=[{"a": 1}]), title="Shown").mark_point().encode(x="a:Q")
    assert charts._render(chart, "Shown").startswith("<svg")
    with pytest.raises(charts.ChartError):
        charts._render(chart, "Not shown")


def random_accounts(n: int) -> pl.DataFrame:
    rng = np.random.default_rng(7)
    score = rng.integers(0, 101, n)
    decision = np.where(score >= 70, "sql_ready", rng.choice(["nurture", "disqualified", "suppressed", "needs_enrichment"], n))
    return pl.DataFrame(
        {
            "score": score,
            "decision": decision,
            "fit_points": rng.integers(0, 51, n),
            "engagement_points": rng.integers(0, 51, n),
            "tier": rng.choice(["Tier 1", "Tier 2", "Tier 3", ""], n, p=[0.01, 0.04, 0.15, 0.8]),
        }
    ).with_columns(pl.when(pl.col("tier") != "").then(pl.col("tier")).alias("tier"))  # "" -> null: not a target


def test_charts_at_scale_render():
    accounts = random_accounts(200_000)
    assert charts.score_distribution(accounts, 70).startswith("<svg")
    svg = charts.fit_vs_engagement(accounts)
    assert svg.startswith("<svg")
    assert "Fit points (bins of" in svg  # 200k uniform points occupy too many exact cells


# --- a crash in native code is a missing chart, not a dead run (issue 14) -----------------


def test_a_renderer_crash_leaves_a_box_that_says_why(monkeypatch):
    warnings = []
    monkeypatch.setattr(charts, "_warn", warnings.append)
    # A NUL in chart text makes vl-convert panic and abort its process (staging removes
    # control characters, so only a direct call can still send one).
    svg = charts.buying_group_coverage(coverage_frame("Ac\x00me"))
    assert_offline_svg(svg)
    drawn = texts(svg)
    assert drawn[0] == "Buying-group coverage"
    assert "This chart could not be drawn: vl-convert crashed with SIGABRT (a panic in native code)" in drawn[1]
    assert "\x00" not in svg
    assert len(warnings) == 1 and "chart 'Buying-group coverage' was not drawn: vl-convert crashed with SIGABRT" in warnings[0]
    assert "NonXmlChar" in warnings[0]  # the panic's own message
    # the next chart gets a new renderer
    assert "Zeta Corp" in texts(charts.buying_group_coverage(coverage_frame()))


def test_a_renderer_that_takes_too_long_is_stopped(monkeypatch):
    from abmq.tasks import chart_render

    monkeypatch.setattr(chart_render, "TIMEOUT_SECONDS", 0.001)
    svg = charts.score_distribution(accounts_frame(), 70)
    assert "vl-convert took longer than 0 s and was stopped" in texts(svg)[1]
    monkeypatch.undo()
    assert "SQL-ready ≥ 70" in texts(charts.score_distribution(accounts_frame(), 70))


def test_long_labels_are_cut_before_vega_lays_them_out():
    import time

    started = time.perf_counter()
    svg = charts.buying_group_coverage(coverage_frame("A" * 2_000_000))
    assert time.perf_counter() - started < 30  # was minutes at full CPU
    labels = [t for t in texts(svg) if t.startswith("AAA")]
    assert labels and all(len(t) <= charts.MAX_LABEL_CHARS for t in labels)
    assert "B" * (charts.MAX_LABEL_CHARS - 1) + "…" in charts._week_grid(weekly_frame("B" * 5000))["account"].to_list()
    assert "Engagement trend of the top accounts" in texts(charts.engagement_trend(weekly_frame("B" * 5000)))


def test_the_renderer_imports_the_installed_package_whatever_folder_the_run_starts_in(tmp_path, monkeypatch):
    """Started in a folder that holds an `abmq` folder (a checkout of this repository, with the
    package installed from its wheel), the renderer still imports the installed package: the
    folder a run starts in is not put on the worker's import path."""
    from abmq.tasks import chart_render

    shadow = tmp_path / "abmq" / "tasks"
    shadow.mkdir(parents=True)
    for package in (shadow.parent, shadow):
        (package / "__init__.py").write_text("")
    (shadow / "chart_render.py").write_text("raise SystemExit(3)\n")  # not the renderer
    monkeypatch.chdir(tmp_path)
    chart_render.shutdown()  # the next chart starts a worker here
    try:
        assert "SQL-ready ≥ 70" in texts(charts.score_distribution(accounts_frame(), 70))
    finally:
        chart_render.shutdown()
