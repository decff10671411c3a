"""Static SVG charts for the HTML report.

Each chart is an Altair (Vega-Lite) spec rendered to SVG by vl-convert, so the report
needs no JavaScript and no network: data are inlined, external URLs are refused at
render time and text uses the generic `sans-serif` family. vl-convert escapes every text
it writes (tested with a hostile account name), so the report marks the SVG as safe
markup (`markupsafe.Markup` in tasks/report.py) instead of escaping it twice.

All aggregation happens in polars first: Vega only ever sees a few thousand rows,
whatever the number of accounts.

vl-convert runs in a child process (tasks/chart_render.py): if it crashes (a Rust panic
aborts its process) or takes longer than `chart_render.TIMEOUT_SECONDS`, the report is
still published, with that chart replaced by a box that names the chart and says why it
is missing (`_not_drawn`), and a warning in the run's log. Text reaching a chart is clean
(staging removes control characters: tasks/text_safety.py) and bounded: labels longer than
`MAX_LABEL_CHARS` are cut with an ellipsis before Vega lays them out.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterable

import altair as alt
import polars as pl
import vl_convert as vlc

from abmq.tasks import chart_render

# Layout: a fixed plot size keeps the report's layout stable; legends sit below the plot
# so the SVG is about PLOT_WIDTH + the y-axis labels wide (~610 px).
PLOT_WIDTH = 560
PLOT_HEIGHT = 300
SCATTER_HEIGHT = 360
EMPTY_HEIGHT = 60
FONT = "sans-serif"  # generic family: nothing to download, available everywhere
TEXT_COLOR = "#222222"
MUTED_COLOR = "#777777"

# Score histogram.
SCORE_BIN = 5
SCORE_MAX = 100

# Colour-blind-safe (Okabe-Ito) colours that also stay apart when printed.
DECISION_COLORS = {
    "sql_ready": "#009E73",
    "nurture": "#0072B2",
    "needs_enrichment": "#E69F00",
    "disqualified": "#D55E00",
    "suppressed": "#999999",
}
DECISION_LABELS = {
    "sql_ready": "SQL-ready",
    "nurture": "nurture",
    "needs_enrichment": "needs enrichment",
    "disqualified": "disqualified",
    "suppressed": "suppressed",
}
NOT_A_TARGET = "not a target"
TIER_COLORS = {"Tier 1": "#0072B2", "Tier 2": "#009E73", "Tier 3": "#E69F00", NOT_A_TARGET: "#BBBBBB"}
FALLBACK_COLOR = "#666666"  # categories the palettes above do not know

# Fit vs engagement: points per axis and the most circles handed to Vega. Beyond that the
# SVG grows past ~350 KB and overlapping circles stop being readable anyway.
POINTS_MAX = 50
MAX_SCATTER_CELLS = 2000
GRID_STEPS = (1, 2, 5)  # coarser only when the exact grid has too many occupied cells

# Heat map: the column step is squeezed so ~45 accounts fit PLOT_WIDTH, but never below
# the step where 11 px labels still read; more accounts widen the chart instead.
HEAT_MIN_STEP = 13
HEAT_MAX_STEP = 36
HEAT_ROW_STEP = 22
HEAT_ZERO_COLOR = "#F2F2F2"
HEAT_LABEL_LIMIT = 140  # px; longer account names are cut with an ellipsis
HEAT_DARK_SHARE = 0.6  # cells above this share of the maximum get white numbers
MAX_COVERAGE_ACCOUNTS = 80  # the caller passes its top ~60; a guard against a whole-table call

# Trend: one colour per account from a 10-colour palette; more lines would repeat colours.
MAX_TREND_ACCOUNTS = 10

# Labels (account names, roles) are cut to this many characters before Vega sees them: a
# 2 MB name as an axis label kept vl-convert busy for minutes. The heat map shows ~25 of them.
MAX_LABEL_CHARS = 100

CONFIG = {
    "font": FONT,
    "background": "white",
    "view": {"stroke": None},
    "title": {"fontSize": 15, "anchor": "start", "offset": 12, "color": TEXT_COLOR},
    "axis": {
        "labelFontSize": 11,
        "titleFontSize": 12,
        "labelColor": "#333333",
        "titleColor": "#333333",
        "gridColor": "#E6E6E6",
        "domainColor": "#888888",
        "tickColor": "#888888",
    },
    "legend": {"labelFontSize": 11, "titleFontSize": 12, "orient": "bottom", "direction": "horizontal", "labelLimit": 200},
    "header": {"labelFontSize": 12, "labelFontWeight": "bold", "labelColor": TEXT_COLOR},
    "text": {"fontSize": 11},
}


# Counts are whole numbers. tickMinStep still lets Vega put a tick at 0.5 when the largest
# count is 1, so fractional ticks also get an empty label.
INTEGER_LABEL = "datum.value % 1 ? '' : format(datum.value, ',d')"
COUNT_AXIS = alt.Axis(tickMinStep=1, labelExpr=INTEGER_LABEL)
COUNT_LEGEND = alt.Legend(tickMinStep=1, labelExpr=INTEGER_LABEL)


def _vl_version() -> str | None:
    """The Vega-Lite version Altair writes specs for, if vl-convert ships it (else its latest)."""
    major_minor = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    return major_minor if major_minor in vlc.get_vegalite_versions() else None


VL_VERSION = _vl_version()
ROWS = alt.NamedData(name="rows")  # the chart's main data; _render attaches the values


class ChartError(RuntimeError):
    """vl-convert produced an SVG without the chart in it."""


def _render(chart: alt.TopLevelMixin, title: str, rows: pl.DataFrame | None = None) -> str:
    """Apply the report style and render to SVG; `allowed_base_urls=[]` forbids any fetch.

    `rows` are attached as the `ROWS` dataset after Altair has validated the spec: schema-
    validating thousands of inline values would cost more than rendering them."""
    spec = chart.configure(**CONFIG).to_dict()
    if rows is not None:
        spec["datasets"] = {ROWS.name: rows.to_dicts()}
    try:
        svg = chart_render.render_svg(spec, VL_VERSION)
    except chart_render.RenderFailed as exc:
        return _not_drawn(title, str(exc))
    # A Vega runtime error is only printed, and the SVG comes back empty: fail loudly instead.
    if f">{title}</text>" not in svg:
        raise ChartError(f"chart {title!r} did not render (see the Vega error printed above)")
    return svg


def _warn(message: str) -> None:
    """A warning in the run's log (Prefect's, inside a flow run) and in Python's."""
    try:
        from prefect import get_run_logger

        get_run_logger().warning(message)
    except Exception:  # outside a flow or task run
        logging.getLogger(__name__).warning(message)


def _not_drawn(title: str, reason: str) -> str:
    """A box in place of a chart that could not be rendered: its title and why it is missing.

    Built by hand (vl-convert is what failed), every text escaped."""
    _warn(f"chart {title!r} was not drawn: {reason}; the report is published without it")
    width = PLOT_WIDTH + 50
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{EMPTY_HEIGHT + 40}" '
        f'viewBox="0 0 {width} {EMPTY_HEIGHT + 40}" role="img" aria-label="{html.escape(title)}: not drawn">'
        f'<rect width="100%" height="100%" fill="white"/>'
        f'<text x="0" y="20" font-family="{FONT}" font-size="15" fill="{TEXT_COLOR}">{html.escape(title)}</text>'
        f'<text x="0" y="52" font-family="{FONT}" font-size="12" fill="{MUTED_COLOR}">'
        f"This chart could not be drawn: {html.escape(reason[:300])}.</text>"
        f'<text x="0" y="72" font-family="{FONT}" font-size="12" fill="{MUTED_COLOR}">'
        "The rest of the report is complete; the run log has the details.</text></svg>"
    )


def _label(column: str, fill: str) -> pl.Expr:
    """Text for an axis or legend label: missing ones named, long ones cut with an ellipsis."""
    text = pl.col(column).fill_null(fill)
    return pl.when(text.str.len_chars() > MAX_LABEL_CHARS).then(text.str.head(MAX_LABEL_CHARS - 1) + pl.lit("…")).otherwise(text)


def _no_data(title: str) -> str:
    """A small chart with the title and the text "No data", for empty inputs."""
    chart = (
        alt.Chart(alt.Data(values=[{"text": "No data"}]), title=title)
        .mark_text(fontSize=14, color=MUTED_COLOR)
        .encode(text="text:N")
        .properties(width=PLOT_WIDTH, height=EMPTY_HEIGHT)
    )
    return _render(chart, title)


def _color_scale(present: Iterable[str], colors: dict[str, str]) -> alt.Scale:
    """Fixed colours for the known categories (all listed, so legends match across reports);
    unknown ones are appended in sorted order with a neutral colour."""
    extra = sorted(set(present) - colors.keys())
    return alt.Scale(domain=[*colors, *extra], range=[*colors.values(), *[FALLBACK_COLOR] * len(extra)])


def _rank(column: str, order: list[str], name: str, reverse: bool = False) -> pl.Expr:
    """Position of each value in `order` (for stack and drawing order)."""
    positions = range(len(order), 0, -1) if reverse else range(len(order))
    return pl.col(column).replace_strict(order, list(positions), return_dtype=pl.Int64).alias(name)


# --- score distribution ---------------------------------------------------------------


def _score_bins(accounts: pl.DataFrame) -> pl.DataFrame:
    """Accounts per (5-point score bin, decision label): at most 21 x 5 rows."""
    label = pl.col("decision").fill_null("unknown").replace(DECISION_LABELS)
    return (
        accounts.lazy()
        .filter(pl.col("score").is_not_null())
        .select((pl.col("score").clip(0, SCORE_MAX) // SCORE_BIN * SCORE_BIN).alias("bin_start"), label.alias("decision"))
        .group_by("bin_start", "decision")
        .agg(pl.len().alias("accounts"))
        .with_columns((pl.col("bin_start") + SCORE_BIN).alias("bin_end"))
        .sort("bin_start", "decision")
        .collect()
    )


def _threshold_marker(threshold: int, x_scale: alt.Scale) -> alt.LayerChart:
    """Dashed vertical rule at the threshold with the label "SQL-ready ≥ <threshold>"."""
    marker = alt.Data(values=[{"threshold": threshold, "label": f"SQL-ready ≥ {threshold}"}])
    x = alt.X("threshold:Q", scale=x_scale)
    rule = alt.Chart(marker).mark_rule(color=TEXT_COLOR, strokeDash=[5, 3], strokeWidth=1.5).encode(x=x)
    label = (
        alt.Chart(marker)
        .mark_text(align="left", baseline="top", dx=5, y=2, fontSize=12, fontWeight="bold", color=TEXT_COLOR)
        .encode(x=x, text="label:N")
    )
    return rule + label


def score_distribution(accounts: pl.DataFrame, threshold: int) -> str:
    """Stacked histogram of scores in bins of 5 (0-4, ..., 100), coloured by decision, with
    a dashed rule and label at the SQL-ready threshold. Unscored rows are left out."""
    title = "Score distribution"
    bins = _score_bins(accounts)
    if bins.is_empty():
        return _no_data(title)
    colors = {DECISION_LABELS[key]: color for key, color in DECISION_COLORS.items()}
    scale = _color_scale(bins["decision"], colors)
    # Stack in legend order, SQL-ready at the bottom next to the axis.
    rows = bins.with_columns(_rank("decision", scale.domain, "stack"))
    x_scale = alt.Scale(domain=[0, SCORE_MAX + SCORE_BIN], nice=False)
    ticks = alt.Axis(values=list(range(0, SCORE_MAX + 1, 10)))
    bars = (
        alt.Chart(ROWS)
        .mark_bar(stroke="white", strokeWidth=0.5)
        .encode(
            # "binned": the bins come from polars; it also makes Vega-Lite stack vertically.
            x=alt.X("bin_start:Q", bin="binned", scale=x_scale, axis=ticks, title="Score (bins of 5)"),
            x2="bin_end:Q",
            y=alt.Y("accounts:Q", stack="zero", axis=COUNT_AXIS, title="Accounts"),
            color=alt.Color("decision:N", scale=scale, title="Decision"),
            order=alt.Order("stack:Q"),
        )
    )
    chart = alt.layer(bars, _threshold_marker(threshold, x_scale), title=title)
    return _render(chart.properties(width=PLOT_WIDTH, height=PLOT_HEIGHT), title, rows)


# --- fit vs engagement ------------------------------------------------------------------


def _scatter_cells(accounts: pl.DataFrame, step: int) -> pl.DataFrame:
    """Accounts per (fit cell, engagement cell, tier), each cell plotted at its centre."""

    def centre(column: str) -> pl.Expr:
        start = pl.col(column).clip(0, POINTS_MAX) // step * step
        end = pl.min_horizontal(start + step - 1, pl.lit(POINTS_MAX))  # the top bin holds 50 alone
        return ((start + end) / 2).alias(column)

    return (
        accounts.lazy()
        .filter(pl.col("fit_points").is_not_null() & pl.col("engagement_points").is_not_null())
        .select(centre("fit_points"), centre("engagement_points"), pl.col("tier").fill_null(NOT_A_TARGET))
        .group_by("fit_points", "engagement_points", "tier")
        .agg(pl.len().alias("accounts"))
        .sort("fit_points", "engagement_points", "tier")
        .collect()
    )


def _finest_grid(accounts: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Cells on the finest grid (exact points when possible) that stays within MAX_SCATTER_CELLS."""
    for step in GRID_STEPS:
        cells = _scatter_cells(accounts, step)
        if cells.height <= MAX_SCATTER_CELLS:
            break
    return cells, step


def fit_vs_engagement(accounts: pl.DataFrame) -> str:
    """Fit (x) vs engagement (y): one circle per (fit, engagement, tier), its area the number
    of accounts, coloured by tier; untiered accounts are grey and drawn underneath. When the
    exact 51 x 51 grid has too many occupied cells, points are binned and the axes say so."""
    title = "Fit vs engagement"
    cells, step = _finest_grid(accounts)
    if cells.is_empty():
        return _no_data(title)
    scale = _color_scale(cells["tier"], TIER_COLORS)
    rows = cells.with_columns(_rank("tier", scale.domain, "z", reverse=True))  # Tier 1 on top
    binned = "" if step == 1 else f" (bins of {step})"
    axis_scale = alt.Scale(domain=[0, POINTS_MAX], nice=False)
    chart = (
        alt.Chart(ROWS, title=title)
        # aria off: a label per circle would double the SVG and help no screen-reader user.
        .mark_circle(opacity=0.75, stroke="white", strokeWidth=0.5, aria=False)
        .encode(
            x=alt.X("fit_points:Q", scale=axis_scale, title=f"Fit points{binned}"),
            y=alt.Y("engagement_points:Q", scale=axis_scale, title=f"Engagement points{binned}"),
            size=alt.Size("accounts:Q", scale=alt.Scale(range=[25, 500]), legend=COUNT_LEGEND, title="Accounts"),
            color=alt.Color("tier:N", scale=scale, title="Tier"),
            order=alt.Order("z:Q"),
        )
        .properties(width=PLOT_WIDTH, height=SCATTER_HEIGHT)
    )
    return _render(chart, title, rows)


# --- buying-group coverage ----------------------------------------------------------------


def _coverage_grid(coverage: pl.DataFrame) -> pl.DataFrame:
    """Every (account, role) cell with its engaged count (missing cells are 0); accounts keep
    their first tier and their input order, roles their first-seen order. Only the first
    MAX_COVERAGE_ACCOUNTS accounts are kept (the caller passes them best first)."""
    rows = coverage.with_columns(
        _label("account", "(no name)"),
        _label("tier", NOT_A_TARGET),
        _label("role", "(no role)"),
        pl.col("engaged").fill_null(0),
    )
    accounts = rows.group_by("account", maintain_order=True).agg(pl.col("tier").first()).head(MAX_COVERAGE_ACCOUNTS)
    roles = rows.select(pl.col("role").unique(maintain_order=True))
    engaged = rows.group_by("account", "role").agg(pl.col("engaged").sum())  # duplicate rows add up
    return (
        accounts.join(roles, how="cross")
        .join(engaged, on=["account", "role"], how="left", maintain_order="left")
        .with_columns(pl.col("engaged").fill_null(0))
    )


def _tier_order(tiers: Iterable[str]) -> list[str]:
    """Known tiers first (Tier 1..3, not a target), then unknown ones in first-seen order."""
    seen = list(dict.fromkeys(tiers))
    return [t for t in TIER_COLORS if t in seen] + [t for t in seen if t not in TIER_COLORS]


def _heat_cells(grid: pl.DataFrame) -> alt.LayerChart:
    """Coloured cells with the count written in each non-zero cell.

    The numbers replace a colour legend: exact, readable in print, and a bottom legend
    breaks Vega's layout of facets with independent scales."""
    accounts = grid["account"].unique(maintain_order=True).to_list()
    roles = grid["role"].unique(maintain_order=True).to_list()
    x = alt.X(
        "account:N",
        sort=accounts,
        title=None,
        axis=alt.Axis(labelAngle=-90, labelLimit=HEAT_LABEL_LIMIT, labelOverlap=False, ticks=False, domain=False),
    )
    y = alt.Y("role:N", sort=roles, title=None, axis=alt.Axis(ticks=False, domain=False))
    fill = (
        alt.when(alt.datum.engaged > 0)
        .then(alt.Color("engaged:Q", scale=alt.Scale(scheme="blues", domainMin=0), legend=None))
        .otherwise(alt.value(HEAT_ZERO_COLOR))
    )
    dark = alt.datum.engaged > HEAT_DARK_SHARE * grid["engaged"].max()
    base = alt.Chart().encode(x=x, y=y)
    cells = base.mark_rect(stroke="white", strokeWidth=1, aria=False).encode(color=fill)
    numbers = (
        base.transform_filter(alt.datum.engaged > 0)
        .mark_text(aria=False)
        .encode(text="engaged:Q", color=alt.when(dark).then(alt.value("white")).otherwise(alt.value(TEXT_COLOR)))
    )
    return alt.layer(cells, numbers)


def buying_group_coverage(coverage: pl.DataFrame) -> str:
    """Heat map of engaged people per role (rows) and account (columns), one column block
    per tier (Tier 1 first); accounts keep their input order within a tier. Zero cells are
    light grey, so gaps in the buying group stand out."""
    title = "Buying-group coverage"
    if coverage.is_empty():
        return _no_data(title)
    grid = _coverage_grid(coverage)
    step = max(HEAT_MIN_STEP, min(HEAT_MAX_STEP, PLOT_WIDTH // grid["account"].n_unique()))
    spec = _heat_cells(grid).properties(width=alt.Step(step), height=alt.Step(HEAT_ROW_STEP))
    facet = alt.Facet("tier:N", sort=_tier_order(grid["tier"]), title=None, header=alt.Header(labelAnchor="start"))
    # Independent x: each tier block is as wide as its own accounts.
    chart = alt.FacetChart(data=ROWS, spec=spec, facet=facet, title=title, spacing=10).resolve_scale(x="independent")
    return _render(chart, title, grid)


# --- engagement trend ------------------------------------------------------------------------


def _week_grid(weekly: pl.DataFrame) -> pl.DataFrame:
    """Points per (account, week) over every week from the first to the last, 0 where an
    account has no row; only the MAX_TREND_ACCOUNTS accounts with most points are kept."""
    summed = (
        weekly.drop_nulls(["account", "week"])
        .with_columns(_label("account", ""))
        .group_by("account", "week")
        .agg(pl.col("points").fill_null(0).sum())
    )
    totals = summed.group_by("account").agg(pl.col("points").sum().alias("total"))
    top = totals.sort(["total", "account"], descending=[True, False]).head(MAX_TREND_ACCOUNTS).select("account")
    first, last = summed["week"].min(), summed["week"].max()
    # Observed weeks are kept too, in case the caller's weeks are not exactly 7 days apart.
    weeks = pl.concat([pl.date_range(first, last, "1w", eager=True), summed["week"]]).unique().sort().to_frame("week")
    return (
        top.join(weeks, how="cross")
        .join(summed, on=["account", "week"], how="left", maintain_order="left")
        .with_columns(pl.col("points").fill_null(0), pl.col("week").dt.strftime("%Y-%m-%d"))
    )


def engagement_trend(weekly: pl.DataFrame) -> str:
    """Points per week, one line per account, legend ordered by total points. Missing weeks
    count as 0; beyond MAX_TREND_ACCOUNTS only the accounts with most points are drawn."""
    title = "Engagement trend of the top accounts"
    if weekly.drop_nulls(["account", "week"]).is_empty():
        return _no_data(title)
    grid = _week_grid(weekly)
    accounts = grid["account"].unique(maintain_order=True).to_list()
    # ISO dates parse as UTC midnight; UTC scale and labels keep each point on its own day
    # whatever the timezone of the machine rendering the report.
    week_axis = alt.Axis(format="%d %b", formatType="utc", labelOverlap=True)
    chart = (
        alt.Chart(ROWS, title=title)
        .mark_line(point=alt.OverlayMarkDef(size=30), strokeWidth=2)
        .encode(
            x=alt.X("week:T", scale=alt.Scale(type="utc"), axis=week_axis, title="Week"),
            y=alt.Y("points:Q", axis=COUNT_AXIS, title="Engagement points"),
            color=alt.Color(
                "account:N",
                sort=accounts,
                scale=alt.Scale(scheme="tableau10"),
                title="Account",
                legend=alt.Legend(columns=3, symbolType="stroke"),
            ),
        )
        .properties(width=PLOT_WIDTH, height=PLOT_HEIGHT)
    )
    return _render(chart, title, grid)
