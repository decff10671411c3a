"""The generated report in a real browser (headless Chromium): offline, no console errors,
charts drawn, sorting and filtering work, readable with scripts off; a screenshot is kept.

Needs Debian's `chromium` (installed by .ci/run) and the `playwright` package (dev extra),
which drives that browser; without either the test is skipped and says why.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest

from abmq.flows.qualify import qualify
from abmq.sample_data import generate

AS_OF = dt.date(2026, 11, 25)
ARTIFACTS = Path(os.environ.get("ABMQ_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium; .ci/run does this)")
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory, prefect_harness) -> Path:
    data = tmp_path_factory.mktemp("browser") / "input"
    generate(data, 600, seed=5, as_of=AS_OF, fmt="parquet", progress=False)
    out = data.parent / "out"
    qualify(str(data), str(out), None, AS_OF.isoformat())
    return out


def open_offline(browser, path: Path, scripts: bool = True):
    """A page where every request that is not a local file fails, and errors are recorded."""
    context = browser.new_context(java_script_enabled=scripts, viewport={"width": 1366, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    blocked: list[str] = []
    page.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith("file:") else (blocked.append(route.request.url), route.abort()),
    )
    page.goto(path.as_uri())
    return page, errors, blocked


def cell_values(page, column: int) -> list[str]:
    return page.eval_on_selector_all("#targets tbody tr:not([hidden])", f"rows => rows.map(r => r.cells[{column}].textContent.trim())")


def test_report_works_offline_with_charts_sorting_and_filtering(browser, report_dir):
    page, errors, blocked = open_offline(browser, report_dir / "report.html")
    assert errors == [] and blocked == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=False)
    page.locator("#charts").screenshot(path=str(ARTIFACTS / "report-charts.png"))
    # every chart is drawn
    charts = page.locator("figure.chart svg")
    assert charts.count() == 4
    for index in range(4):
        box = charts.nth(index).bounding_box()
        assert box and box["width"] > 200 and box["height"] > 100
    ranks = [int(v) for v in cell_values(page, 0)]
    assert ranks == sorted(ranks) and len(ranks) > 20
    # sort by score: ascending, then descending
    page.click("#targets th:nth-child(5)")
    scores = [int(v) for v in cell_values(page, 4)]
    assert scores == sorted(scores)
    page.click("#targets th:nth-child(5)")
    assert [int(v) for v in cell_values(page, 4)] == sorted(scores, reverse=True)
    # filter by one account's domain
    domain = page.eval_on_selector("#targets tbody tr td:nth-child(3) .muted", "e => e.textContent.split(' · ')[0]")
    page.fill("#target-filter", domain)
    visible = page.eval_on_selector_all("#targets tbody tr:not([hidden])", "rows => rows.map(r => r.textContent)")
    assert len(visible) >= 1 and all(domain in row for row in visible)
    page.screenshot(path=str(ARTIFACTS / "report-filtered.png"), full_page=False)
    page.fill("#target-filter", "")
    assert len(cell_values(page, 0)) == len(ranks)
    page.context.close()


def test_account_and_quality_pages_open_without_errors(browser, report_dir):
    first_account = sorted((report_dir / "accounts").glob("*.html"))[0]
    for path in (first_account, report_dir / "quality.html"):
        page, errors, blocked = open_offline(browser, path)
        assert errors == [] and blocked == [], path
        assert page.locator("h1").count() == 1
        page.context.close()
    page, _, _ = open_offline(browser, report_dir / "report.html")
    page.click("#targets tbody tr:first-child td:nth-child(3) a")
    assert "/accounts/" in page.url and page.locator("#explanation").count() == 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "account.png"), full_page=True)
    page.context.close()


def test_report_reads_with_scripts_off(browser, report_dir):
    page, errors, _ = open_offline(browser, report_dir / "report.html", scripts=False)
    assert errors == []
    assert page.locator("#targets tbody tr").count() > 20
    assert not page.locator("#target-filter").is_visible()  # a filter box that cannot work is not shown
    page.context.close()
