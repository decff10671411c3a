"""Benchmark the qualification flow: wall time per stage and peak memory, per size.

    python benchmarks/run_benchmark.py --sizes M L --incremental L XL

Sizes (generated once into benchmarks/data/<size>/, reused on later runs):
  S   2k accounts, one events export            M   20k accounts, ~1M events, one export
  L   200k accounts, ~10M events, one export    XL  1M accounts, ~10M contacts, ~100M events
                                                    in daily files (events/YYYY-MM-DD.parquet)
`--sizes` runs each size once from an empty output folder. `--mapped L` measures what a mapping
(README, "Mappings") costs: the size's data rewritten as a CRM would export it (vendor headers,
country names, event times in epoch milliseconds, activity labels; benchmarks/data/L-mapped/)
and run with the mapping that reads it back, alternating with the contract-format data. `--incremental` times the daily
routine on daily files: a full run as of the day before (empty state store: every daily
file of the scoring window is validated), then the run as of the benchmark date, which
finds one new daily file. L's daily files are generated into benchmarks/data/L-daily/.
`--shuffled XL` does the same on the daily data with the contacts in no particular order, as
real CRM exports come (the generator writes them in id order; benchmarks/data/XL-shuffled/:
the contacts rewritten shuffled, every other file linked), and says whether the scores and
the target list are byte-identical to the run in id order (`--incremental XL`'s, if present).
`--changed XL`: the same pair, the second day's contacts export with one contact's title
changed (benchmarks/data/XL-changed/): the realistic CRM day, on which the contacts are
staged and validated again while the other exports are read back (tasks/remembered.py).
`--crm-day XL`: `--changed` with one account renamed and its employees doubled as well
(benchmarks/data/XL-crm-day/). `--new-account XL`: `--crm-day` with one account added too
(benchmarks/data/XL-new-account/): the accounts the contacts link to change, so the stored
contacts are linked to them again.

Every run is a fresh child process (peak memory = ru_maxrss of that run alone) with the
real Prefect flow; per-stage times are read back from its task runs through the Prefect
API, a temporary local one (prefect_test_harness) started before the clock starts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

AS_OF = dt.date(2026, 11, 25)
SEED = 11
SIZES = {
    "S": {"n_accounts": 2_000},
    "M": {"n_accounts": 20_000},
    "L": {"n_accounts": 200_000},
    "L-daily": {"n_accounts": 200_000, "events_layout": "daily"},
    "XL": {"n_accounts": 1_000_000, "contacts_scale": 1.65, "events_scale": 2.01, "events_layout": "daily"},
}
DAILY = {"L": "L-daily", "XL": "XL"}  # the daily-file data an incremental run of a size uses
# Task name prefix → stage of the DAG, in flow order.
STAGES = {
    "load-config": "config",
    "read-run-history": "config",
    "find-daily-event-files": "ingest",
    "read-source-state": "ingest",
    "stage-": "ingest",
    "read-event-state": "validate (GX)",
    "recall-event-files": "validate (GX)",
    "recall-": "ingest",  # an unchanged export read back (tasks/remembered.py)
    "validate-": "validate (GX)",
    "assemble-event-window": "validate (GX)",
    "data-quality-gate": "validate (GX)",
    "remember-sources": "validate (GX)",
    "normalise-sources": "normalise",
    "split-into-shards": "contact engagement, roll-up, scores",
    "score-shard": "contact engagement, roll-up, scores",
    "combine-shards": "contact engagement, roll-up, scores",
    "read-last-snapshot": "select targets",
    "select-targets": "select targets",
    "check-output-contract": "output contract (GX)",
    "compare-with-last-run": "report details",
    "gather-report-details": "report details",
    "render-outputs": "render + write outputs (incl. GX Data Docs)",
    "write-outputs": "render + write outputs (incl. GX Data Docs)",
    "publish-outputs": "publish",
    "publish-run-summary": "publish",
    "alert-new-sql-ready": "publish",
}


# What the `--mapped` copy renames (contract column -> the export's header), per source.
VENDOR_HEADERS = {
    "accounts": {"domain": "Company Domain Name", "name": "Company name", "employees": "Number of Employees", "country": "Country/Region"},
    "contacts": {"contact_id": "Record ID", "email": "Email", "first_name": "First Name", "last_name": "Last Name", "title": "Job Title"},
    "events": {"event_id": "Activity ID", "contact_id": "Contact ID", "event_type": "Activity Type", "occurred_at": "Activity Date"},
}


def activity_label(event_type: str) -> str:
    return event_type.replace("_", " ").title()  # "demo_request" -> "Demo Request"


def data_dir(size: str) -> Path:
    return ROOT / "benchmarks" / "data" / size


def ensure_data(size: str) -> float | None:
    """Generate the size's data unless present; return generation seconds (None if reused)."""
    from abmq.sample_data import generate

    folder = data_dir(size)
    if (folder / ".complete").exists():
        return None
    shutil.rmtree(folder, ignore_errors=True)
    parameters = dict(SIZES[size])
    started = time.perf_counter()
    generate(folder, parameters.pop("n_accounts"), seed=SEED, as_of=AS_OF, fmt="parquet", progress=True, **parameters)
    (folder / ".complete").write_text("ok\n")
    return time.perf_counter() - started


def derived_data(size: str, variant: str, write: Callable[[Path, Path], None]) -> str:
    """`<size>-<variant>`: the size's data rewritten by `write(source folder, new folder)`,
    once (reused while its `.complete` marker is there)."""
    derived = f"{size}-{variant}"
    folder = data_dir(derived)
    if not (folder / ".complete").exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        write(data_dir(size), folder)
        (folder / ".complete").write_text("ok\n")
    return derived


SHUFFLE_SEED = 5


def one_file_rewritten(name: str, rewrite: Callable) -> Callable[[Path, Path], None]:
    """A `derived_data` writer: `name` (a Parquet file) read, `rewrite`-n and written; every
    other file and folder a link to the source's own."""
    import polars as pl

    def write(source: Path, folder: Path) -> None:
        for path in sorted(source.iterdir()):
            if path.name == name:
                rewrite(pl.read_parquet(path)).write_parquet(folder / path.name)
            elif not path.name.startswith("."):
                (folder / path.name).symlink_to(path.resolve())

    return write


def ensure_shuffled(size: str) -> str:
    """The size's data with the contacts' rows shuffled (seed SHUFFLE_SEED)."""
    return derived_data(
        size, "shuffled", one_file_rewritten("contacts.parquet", lambda c: c.sample(fraction=1.0, shuffle=True, seed=SHUFFLE_SEED))
    )


CHANGED_CONTACT = 12_345  # the row whose title `ensure_changed` changes
CHANGED_ACCOUNT = 4_321  # the row whose name and size `ensure_crm_day` changes


def ensure_changed(size: str) -> str:
    """The size's data with one contact's title changed, as the next day's CRM export would differ."""
    import polars as pl

    changed = pl.int_range(pl.len()) == CHANGED_CONTACT
    retitled = pl.when(changed).then(pl.lit("Chief Revenue Officer")).otherwise("title").alias("title")
    return derived_data(size, "changed", one_file_rewritten("contacts.parquet", lambda contacts: contacts.with_columns(retitled)))


def ensure_crm_day(size: str) -> str:
    """`ensure_changed`'s data with one account renamed and its employees doubled too: a CRM
    day on which both exports differ from the day before."""
    import polars as pl

    changed = pl.int_range(pl.len()) == CHANGED_ACCOUNT
    renamed = [
        pl.when(changed).then(pl.lit("Renamed Holdings")).otherwise("name").alias("name"),
        pl.when(changed).then(pl.col("employees") * 2).otherwise("employees").alias("employees"),
    ]
    contacts_changed = data_dir(ensure_changed(size))
    rewrite = one_file_rewritten("accounts.parquet", lambda accounts: accounts.with_columns(renamed))
    return derived_data(size, "crm-day", lambda _source, folder: rewrite(contacts_changed, folder))


def ensure_new_account(size: str) -> str:
    """`ensure_crm_day`'s data with one account added too (a new company with a domain of its
    own): the accounts the contacts link to change, so every contact is linked again."""
    import polars as pl

    def added(accounts: pl.DataFrame) -> pl.DataFrame:
        newcomer = accounts.slice(CHANGED_ACCOUNT, 1).with_columns(
            pl.lit("newcomer-analytics.example").alias("domain"), pl.lit("Newcomer Analytics").alias("name")
        )
        if "account_id" in accounts.columns:
            newcomer = newcomer.with_columns(pl.lit("NEWCOMER-1").alias("account_id"))
        return pl.concat([accounts, newcomer])

    crm_day = data_dir(ensure_crm_day(size))
    rewrite = one_file_rewritten("accounts.parquet", added)
    return derived_data(size, "new-account", lambda _source, folder: rewrite(crm_day, folder))


def same_scores(out: Path, in_order: Path) -> str:
    """Which of the published scores and target list are byte-identical to the run in id order."""
    if not in_order.exists():
        return f"no run in id order in {in_order} to compare with"
    names = ("account_scores.parquet", "contact_scores.parquet", "targets.csv")
    same = [n for n in names if (out / n).read_bytes() == (in_order / n).read_bytes()]
    return f"byte-identical to {in_order.name}: {', '.join(same) or 'none'}" + (
        f"; differ: {', '.join(n for n in names if n not in same)}" if len(same) < len(names) else ""
    )


def mapping_file(size: str) -> Path:
    return ROOT / "benchmarks" / "data" / f"{size}-mapping.yaml"


def ensure_mapped(size: str) -> str:
    """The size's data as a CRM export (see VENDOR_HEADERS) and the mapping that reads it."""
    import polars as pl
    import pycountry
    import yaml

    from abmq.vocabulary import EVENT_TYPES

    def write(source: Path, folder: Path) -> None:
        country_names = {c.alpha_2: c.name for c in pycountry.countries}
        for path in sorted(source.glob("*.parquet")):
            frame = pl.scan_parquet(path)
            if path.stem == "accounts":
                frame = frame.with_columns(pl.col("country").replace(country_names))
            if path.stem == "events":
                frame = frame.with_columns(
                    pl.col("occurred_at").dt.epoch("ms"),
                    pl.col("event_type").replace({t: activity_label(t) for t in EVENT_TYPES}),
                )
            frame.rename(VENDOR_HEADERS.get(path.stem, {})).sink_parquet(folder / path.name)
        sources = {name: {"columns": {header: column for column, header in headers.items()}} for name, headers in VENDOR_HEADERS.items()}
        sources["accounts"]["formats"] = {"employees": "band", "country": "iso_country"}
        sources["events"]["values"] = {"event_type": {activity_label(t): t for t in EVENT_TYPES}}
        sources["events"]["formats"] = {"occurred_at": {"format": "epoch_ms"}}
        mapping_file(size).write_text(yaml.safe_dump({"sources": sources}, sort_keys=False))

    return derived_data(size, "mapped", write)


def run_one(size: str, out: Path, as_of: dt.date) -> None:
    """Child process: run the flow once under a temporary Prefect API, print JSON figures."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        import asyncio

        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        from abmq.flows.qualify import qualify

        mapping = {"mapping_path": str(mapping_file(size.removesuffix("-mapped")))} if size.endswith("-mapped") else {}
        started = time.perf_counter()
        state = qualify(str(data_dir(size)), str(out), None, as_of.isoformat(), return_state=True, **mapping)
        wall = time.perf_counter() - started
        result = state.result()
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        async def task_runs():
            runs, page = [], 200  # the API's largest page
            async with get_client() as client:
                while True:
                    batch = await client.read_task_runs(
                        flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id])),
                        limit=page,
                        offset=len(runs),
                    )
                    runs.extend(batch)
                    if len(batch) < page:
                        return runs

        stages: dict[str, float] = {}
        runs = asyncio.run(task_runs())
        for run in runs:
            stage = next((v for k, v in STAGES.items() if run.name.startswith(k)), run.name)
            stages[stage] = stages.get(stage, 0.0) + run.total_run_time.total_seconds()
        if os.environ.get("ABMQ_BENCH_TIMELINE"):  # each task's start (from the first's) and run time, to stderr
            timed = sorted((r for r in runs if r.start_time), key=lambda r: r.start_time)
            for run in timed:
                offset = (run.start_time - timed[0].start_time).total_seconds()
                print(f"{offset:7.2f} {run.total_run_time.total_seconds():7.2f}  {run.name}", file=sys.stderr)
    print(
        json.dumps(
            {
                "size": size,
                "wall_s": wall,
                "peak_mib": peak_mib,
                "stages": stages,
                "accounts": result["accounts"],
                "targets": result["targets_count"],
                "event_files": result.get("event_files"),
            }
        )
    )


def in_child(size: str, out: Path, as_of: dt.date) -> dict:
    child = subprocess.run(
        [sys.executable, __file__, "--one", size, "--out", str(out), "--as-of", as_of.isoformat()], capture_output=True, text=True
    )
    if child.returncode != 0:
        sys.stderr.write(child.stderr[-4000:])
        raise SystemExit(f"benchmark run for size {size} as of {as_of} failed")
    if os.environ.get("ABMQ_BENCH_TIMELINE"):
        sys.stderr.write(f"task timeline, {size} as of {as_of} (start, seconds, task):\n")
        sys.stderr.writelines(line + "\n" for line in child.stderr.splitlines() if line[:7].strip().replace(".", "").isdigit())
    return json.loads(child.stdout.strip().splitlines()[-1])


def input_rows(size: str) -> dict[str, int]:
    import polars as pl

    folder = data_dir(size)

    def rows(name: str) -> int:
        source = folder / f"{name}.parquet" if (folder / f"{name}.parquet").exists() else folder / name / "*.parquet"
        return pl.scan_parquet(source).select(pl.len()).collect().item()

    return {name: rows(name) for name in ("accounts", "contacts", "events", "intent", "technographics")}


# The pipeline's stages that do what the yardstick's one query does (read, clean, score).
YARDSTICK_STAGES = ("ingest", "normalise", "contact engagement, roll-up, scores")


def compare_with_yardstick(size: str, out: Path, figure: dict) -> None:
    """benchmarks/yardstick.py on the same files, in a child process like the flow's run."""
    child = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "yardstick.py"), str(data_dir(size)), "--as-of", AS_OF.isoformat(), "--check", str(out)],
        capture_output=True,
        text=True,
    )
    if child.returncode != 0:
        sys.stderr.write(child.stderr[-4000:])
        raise SystemExit(f"yardstick for size {size} failed")
    yardstick = json.loads(child.stdout.strip().splitlines()[-1])
    ours = sum(figure["stages"].get(stage, 0.0) for stage in YARDSTICK_STAGES)
    same = yardstick["agreement"]
    print(
        f"{size} yardstick (DuckDB SQL of the reference lead model + account roll-up): {yardstick['yardstick_s']:.1f} s; "
        f"pipeline ingest + normalise + scoring {ours:.1f} s = {ours / yardstick['yardstick_s']:.1f}x; "
        f"same lead score for {same['same_lead_score']:,} of {same['in_both']:,} contacts in both",
        flush=True,
    )
    # the same query in polars: how much of the distance is the engine's, how much the pipeline's own work
    same_rollup = "the same account roll-up" if yardstick["polars_same_rollup"] else "A DIFFERENT ACCOUNT ROLL-UP"
    print(f"{size} the yardstick's query written in polars: {yardstick['polars_s']:.1f} s ({same_rollup})", flush=True)


def machine_reference() -> float:
    """Seconds of a fixed workload (a sort and a group-by of 20M numbers, a pure-Python loop),
    printed before and after the runs: on these shared machines the same code's times move by
    a third from hour to hour (the XL incremental run took 54–56 s in one session and 74–81 s
    in the next), and this says which kind of hour a figure came from."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(SEED)
    values = pl.Series("value", rng.integers(0, 2**62, 20_000_000))
    keys = pl.Series("key", rng.integers(0, 1_000_000, 20_000_000))
    started = time.perf_counter()
    values.sort()
    pl.DataFrame([keys, values]).group_by("key").agg(pl.col("value").sum())
    total = 0
    for number in range(5_000_000):
        total += number
    return time.perf_counter() - started


def describe(label: str, size: str, figure: dict, generated: float | None) -> None:
    rows = input_rows(size)
    files = figure.get("event_files")
    print(
        f"{label}: {rows['accounts']:,} accounts, {rows['contacts']:,} contacts, {rows['events']:,} events"
        + (f" (generated in {generated:.1f} s)" if generated else "")
        + (f", daily files validated {files['validated']}, remembered {files['remembered']}" if files else "")
        + f" → flow {figure['wall_s']:.1f} s, peak {figure['peak_mib']:,.0f} MiB",
        flush=True,
    )


def table(figures: list[dict]) -> None:
    stage_names = list(dict.fromkeys(STAGES.values()))
    print()
    print("| stage | " + " | ".join(f["label"] for f in figures) + " |")
    print("|---|" + "---:|" * len(figures))
    for stage in stage_names:
        print(f"| {stage} | " + " | ".join(f"{f['stages'].get(stage, 0.0):.2f} s" for f in figures) + " |")
    print("| **flow wall time** | " + " | ".join(f"**{f['wall_s']:.1f} s**" for f in figures) + " |")
    print("| **peak memory** | " + " | ".join(f"**{f['peak_mib']:,.0f} MiB**" for f in figures) + " |")
    print(
        "| GX share of wall time | " + " | ".join(f"{100 * f['stages'].get('validate (GX)', 0) / f['wall_s']:.0f}%" for f in figures) + " |"
    )
    print(
        "\nStage times are the task runs' own durations; the wall time also counts the flow's "
        "start, the Prefect API calls between tasks and the output lock."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="*", default=["S", "M", "L"], choices=[s for s in SIZES if s != "L-daily"])
    parser.add_argument("--incremental", nargs="*", default=[], choices=list(DAILY), help="daily run with one new file, per size")
    parser.add_argument("--yardstick", action="store_true", help="also time benchmarks/yardstick.py on each of --sizes")
    parser.add_argument("--shuffled", nargs="*", default=[], choices=list(DAILY), help="--incremental with the contacts shuffled")
    parser.add_argument(
        "--changed", nargs="*", default=[], choices=list(DAILY), help="--incremental with one contact changed on the second day"
    )
    parser.add_argument("--crm-day", nargs="*", default=[], choices=list(DAILY), help="--changed with one account renamed and re-sized too")
    parser.add_argument("--new-account", nargs="*", default=[], choices=list(DAILY), help="--crm-day with one account added too")
    parser.add_argument("--mapped", nargs="*", default=[], choices=["S", "M", "L"], help="the cost of a mapping, per size")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each variant with --mapped (alternating)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--as-of", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run_one(args.one, Path(args.out), dt.date.fromisoformat(args.as_of))
        return
    reference = machine_reference()
    print(f"machine reference workload (benchmarks/run_benchmark.py, machine_reference): {reference:.2f} s", flush=True)
    figures = []
    for size in args.sizes:
        generated = ensure_data(size)
        out = ROOT / "benchmarks" / "out" / size
        shutil.rmtree(out, ignore_errors=True)
        figure = {**in_child(size, out, AS_OF), "label": size}
        describe(size, size, figure, generated)
        figures.append(figure)
        if args.yardstick:
            compare_with_yardstick(size, out, figure)
    runs = [(size, "") for size in args.incremental] + [(size, "shuffled") for size in args.shuffled]
    runs += [(size, "changed") for size in args.changed] + [(size, "crm-day") for size in args.crm_day]
    runs += [(size, "new-account") for size in args.new_account]
    for size, variant in runs:
        daily = DAILY[size]
        generated = ensure_data(daily)
        first_day = daily
        if variant == "shuffled":
            first_day = daily = ensure_shuffled(daily)
        elif variant == "changed":  # the first day's export as generated, the second's changed
            daily = ensure_changed(daily)
        elif variant == "crm-day":
            daily = ensure_crm_day(daily)
        elif variant == "new-account":
            daily = ensure_new_account(daily)
        label = f"{size} {variant}" if variant else size
        out = ROOT / "benchmarks" / "out" / f"{size}{f'-{variant}' if variant else ''}-incremental"
        shutil.rmtree(out, ignore_errors=True)
        yesterday = {**in_child(first_day, out, AS_OF - dt.timedelta(days=1)), "label": f"{label} daily, full"}
        describe(f"{label} daily files, full run as of {AS_OF - dt.timedelta(days=1)} (empty state store)", first_day, yesterday, generated)
        figures.append(yesterday)
        figure = {**in_child(daily, out, AS_OF), "label": f"{label} daily, incremental"}
        what = "one new daily file" + {
            "changed": ", one contact changed",
            "crm-day": ", one contact and one account changed",
            "new-account": ", one contact and one account changed, one account added",
        }.get(variant, "")
        describe(f"{label} incremental, as of {AS_OF} ({what})", daily, figure, None)
        figures.append(figure)
        if variant == "shuffled":
            print(f"{label}: {same_scores(out, ROOT / 'benchmarks' / 'out' / f'{size}-incremental')}")
    for size in args.mapped:
        ensure_data(size)
        mapped = ensure_mapped(size)
        walls: dict[str, list[float]] = {size: [], mapped: []}
        for attempt in range(args.repeat):
            for variant in (size, mapped):
                out = ROOT / "benchmarks" / "out" / variant
                shutil.rmtree(out, ignore_errors=True)
                figure = {**in_child(variant, out, AS_OF), "label": f"{variant} #{attempt + 1}"}
                describe(f"{variant} run {attempt + 1}", variant, figure, None)
                figures.append(figure)
                walls[variant].append(figure["wall_s"])
        plain, with_mapping = (sum(w) / len(w) for w in walls.values())
        print(
            f"{size}: mean flow wall time {plain:.1f} s as contract files, {with_mapping:.1f} s as mapped exports ({100 * (with_mapping / plain - 1):+.1f}%)"
        )
    table(figures)
    print(f"\nmachine reference workload: {reference:.2f} s before the runs, {machine_reference():.2f} s after")


if __name__ == "__main__":
    main()
