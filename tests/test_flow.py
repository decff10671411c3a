"""The real Prefect flow on generated data: outputs exist, agree, are reproducible, and a
blocking data-quality failure publishes nothing."""

import datetime as dt
import re
import shutil
from pathlib import Path

import polars as pl
import pytest
import steps

from abmq.flows.qualify import qualify
from abmq.sample_data import generate
from abmq.tasks.validate import DataQualityError

AS_OF = dt.date(2026, 11, 25)
OUTPUT_FILES = {
    "report.html",
    "quality.html",
    "accounts",
    "targets.csv",
    "exports",
    "account_scores.parquet",
    "contact_scores.parquet",
    "run.json",
    "run_history.json",
    "snapshots",
    "dq",
    "quarantine",
    "data_docs",
}


def tree_digest(folder: Path) -> dict[str, str]:
    return steps.tree_digest(folder, skip=("last_failure",))


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("generated") / "input"
    generate(folder, 400, seed=3, as_of=AS_OF, fmt="parquet", progress=False)
    return folder


@pytest.fixture(scope="module")
def first_run(generated, tmp_path_factory, prefect_harness):
    out = tmp_path_factory.mktemp("run") / "out"
    state = qualify(str(generated), str(out), None, AS_OF.isoformat(), return_state=True)
    return out, {**state.result(), "flow_run_id": state.state_details.flow_run_id}


def test_flow_writes_every_output(first_run):
    out, result = first_run
    assert OUTPUT_FILES <= {p.name for p in out.iterdir()}
    assert not [p for p in out.iterdir() if p.name.startswith(".staging")]
    assert Path(result["report"]) == out / "report.html"
    assert (out / "dq" / "accounts.json").exists() and (out / "dq" / "summary.json").exists()
    assert (out / "data_docs" / "index.html").exists()
    assert 'href="quality.html"' in (out / "report.html").read_text()
    assert 'href="data_docs/index.html"' in (out / "quality.html").read_text()
    assert len(list((out / "accounts").glob("*.html"))) == result["targets_count"]
    assert (out / "snapshots" / f"as_of={AS_OF.isoformat()}" / "account_scores.parquet").exists()


def test_outputs_agree_with_each_other(first_run):
    out, result = first_run
    accounts = pl.read_parquet(out / "account_scores.parquet")
    targets = pl.read_csv(out / "targets.csv")
    contacts = pl.read_parquet(out / "contact_scores.parquet")
    assert accounts["domain"].is_unique().all()
    assert set(accounts["decision"].unique()) <= {"sql_ready", "nurture", "disqualified", "suppressed", "needs_enrichment"}
    tiered = accounts.filter(pl.col("tier").is_not_null()).sort("target_rank")
    assert targets.height == tiered.height == result["targets_count"]
    assert targets["rank"].to_list() == list(range(1, targets.height + 1))
    assert targets["domain"].to_list() == tiered["domain"].to_list()
    assert (targets["score"].to_list()) == tiered["score"].to_list()
    assert targets["score"].to_list() == sorted(targets["score"].to_list(), reverse=True)
    assert set(contacts["domain"].unique()) <= set(accounts["domain"])
    assert (contacts["lead_score"] == contacts["fit_points"] + contacts["engagement_points"]).all()
    assert (contacts["sql_ready"] == (contacts["lead_score"] >= 70)).all()
    report = (out / "report.html").read_text()
    for domain in tiered["domain"].head(20):
        assert domain in report
    assert "@" not in targets.select(pl.col(pl.String)).to_pandas().to_string()  # no e-mail addresses
    # every contact with an account appears once; orphans are in quarantine
    quarantined_contacts = pl.read_parquet(out / "quarantine" / "contacts.parquet")
    assert contacts["contact_id"].is_unique().all()
    assert set(contacts["contact_id"]).isdisjoint(set(quarantined_contacts["contact_id"]))


def test_accounting_holds_for_every_source(first_run):
    import json

    out, _ = first_run
    summary = json.loads((out / "dq" / "summary.json").read_text())
    for source in summary["sources"]:
        assert source["rows_in"] == source["rows_used"] + source["rows_quarantined"] + source["duplicates_merged"], source
    by_name = {s["source"]: s for s in summary["sources"]}
    # the generator's dirt is caught: future events, orphan contacts, duplicate companies
    assert by_name["events"]["rows_quarantined"] > 0
    assert by_name["contacts"]["rows_quarantined"] > 0
    assert by_name["accounts"]["duplicates_merged"] > 0


def test_rerun_with_same_as_of_is_byte_identical(first_run, generated, tmp_path):
    out, _ = first_run
    second = tmp_path / "again"
    qualify(str(generated), str(second), None, AS_OF.isoformat())
    assert tree_digest(second) == tree_digest(out)
    before = tree_digest(out)
    qualify(str(generated), str(out), None, AS_OF.isoformat())  # rerun in place
    assert tree_digest(out) == before


@pytest.mark.parametrize(
    "breakage, expected",
    [
        (lambda f: f.drop("country"), "required column 'country' is missing"),
        (
            # neither key (an account without a domain is keyed by its account_id): quarantined,
            # and blocking when it is most rows
            lambda f: f.with_columns(
                pl.when(pl.int_range(pl.len()) < 300).then(None).otherwise(pl.col(c)).alias(c) for c in ("domain", "account_id")
            ),
            "expect_column_values_to_not_be_null(account_key) failed on 300 of",
        ),
    ],
    ids=["missing-column", "null-keys"],
)
def test_blocking_failure_leaves_previous_outputs_untouched(first_run, generated, tmp_path, breakage, expected):
    out, _ = first_run
    broken = tmp_path / "broken"
    shutil.copytree(generated, broken)
    accounts = pl.read_parquet(broken / "accounts.parquet")
    breakage(accounts).write_parquet(broken / "accounts.parquet")
    before = tree_digest(out)
    with pytest.raises(DataQualityError) as failure:
        qualify(str(broken), str(out), None, AS_OF.isoformat())
    message = str(failure.value)
    assert "accounts (accounts.parquet)" in message and expected in message
    assert tree_digest(out) == before
    assert expected in (out / "last_failure" / "error.txt").read_text()
    assert (out / "last_failure" / "dq" / "accounts.json").exists()
    assert (out / "last_failure" / "data_docs" / "index.html").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".staging")]


def test_run_summary_artifacts_are_published_without_contacts(first_run):
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    out, result = first_run

    async def latest(key):
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=[key]), flow_run_id=ArtifactFilterFlowRunId(any_=[result["flow_run_id"]])
                )
            )
            assert len(found) == 1
            return found[0]

    summary = asyncio.run(latest("abm-qualification-summary"))
    assert "Accounts scored" in summary.data and "| events |" in summary.data
    table = asyncio.run(latest("abm-top-targets"))
    assert "@" not in summary.data and "@" not in str(table.data)
    top = pl.read_csv(out / "targets.csv").head(1)
    assert top["domain"][0] in str(table.data)


def test_flow_run_links_each_task_to_the_tasks_it_reads(first_run):
    """The Prefect UI draws the run as a graph of which task read which task's results. Tasks
    take their arguments `opaque` (tasks/flow_tasks.py: Prefect does not walk into the
    sources), and still link to a task whose result they get, whole or in a list or dict.
    Prefect finds results by `id()`, so an object made where a freed result was may add a
    link that is not there: the links are checked as subsets."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async def task_runs():
        async with get_client() as client:
            return await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[first_run[1]["flow_run_id"]])))

    runs = asyncio.run(task_runs())
    names = {run.id: run.name for run in runs}

    def reads(name_start: str) -> set[str]:
        (run,) = [run for run in runs if run.name.startswith(name_start)]
        return {
            re.sub(r"-[0-9a-f]{3}$", "", names[i.id]) for inputs in run.task_inputs.values() for i in inputs if i.input_type == "task_run"
        }

    sources = {"accounts", "technographics", "intent", "contacts", "events", "crm_customers"}
    assert {f"validate-{s}" for s in sources} <= reads("data-quality-gate")  # a dict of the validations
    assert "stage-contacts" in reads("validate-contacts")  # a result passed whole
    assert "score-shard-0" in reads("combine-shards")  # a list of the shards' results
    assert {"select-targets", "render-outputs"} <= reads("publish-run-summary")
    assert "render-outputs" in reads("write-outputs")


def test_volume_is_checked_against_the_last_earlier_run(generated, tmp_path, prefect_harness):
    import json

    out = tmp_path / "out"
    qualify(str(generated), str(out), None, AS_OF.isoformat())
    qualify(str(generated), str(out), None, AS_OF.isoformat())  # a rerun replaces its entry
    history = json.loads((out / "run_history.json").read_text())
    assert [entry["as_of"] for entry in history] == [AS_OF.isoformat()]
    snapshots = json.loads((out / "snapshots" / "_manifest.json").read_text())["as_of"]
    assert snapshots == [AS_OF.isoformat()]  # the rerun replaced its snapshot, no duplicate
    assert [p.name for p in (out / "snapshots").glob("as_of=*")] == [f"as_of={AS_OF.isoformat()}"]
    shrunk = tmp_path / "shrunk"
    shutil.copytree(generated, shrunk)
    events = pl.read_parquet(shrunk / "events.parquet")
    events.filter(pl.int_range(pl.len()) % 3 == 0).write_parquet(shrunk / "events.parquet")
    next_day = (AS_OF + dt.timedelta(days=1)).isoformat()
    with pytest.raises(DataQualityError, match=r"events \(events.parquet\): expect_table_row_count_to_be_between\(volume_floor\) failed"):
        qualify(str(shrunk), str(out), None, next_day)
    # the same drop, rerun as of the first date, compares with nothing earlier and passes
    qualify(str(shrunk), str(tmp_path / "fresh"), None, AS_OF.isoformat())


def result_accounts(out: Path) -> int:
    return pl.read_parquet(out / "account_scores.parquet").height


def test_next_run_reports_what_changed(first_run, generated, tmp_path):
    import json

    out, _ = first_run
    later = tmp_path / "later"
    shutil.copytree(out, later)
    next_week = (AS_OF + dt.timedelta(days=7)).isoformat()
    qualify(str(generated), str(later), None, next_week)
    report = (later / "report.html").read_text()
    assert f"Compared with the run as of <strong>{AS_OF.isoformat()}</strong>" in report
    manifest = json.loads((later / "snapshots" / "_manifest.json").read_text())
    assert manifest["as_of"] == [AS_OF.isoformat(), next_week]
    # one table, partitioned by as-of date, for polars (and DuckDB or Spark) alike
    table = pl.read_parquet(later / "snapshots" / "as_of=*" / "*.parquet", hive_partitioning=True)
    assert table.group_by("as_of").len().height == 2 and table.height == 2 * result_accounts(later)
    history = json.loads((later / "run_history.json").read_text())
    assert [entry["as_of"] for entry in history] == [AS_OF.isoformat(), next_week]
