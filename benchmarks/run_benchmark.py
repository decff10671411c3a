"""Benchmark the qualification flow at sizes S, M and L: wall time per stage and peak memory.

    python benchmarks/run_benchmark.py --sizes S M L

Each size's data is generated once into benchmarks/data/<size>/ (reused on later runs) and
the real Prefect flow runs in a fresh child process, so peak memory (ru_maxrss) is that
run's alone. Per-stage times are read back from the flow's task runs through the Prefect
API. The Prefect API is a temporary local one (prefect_test_harness), started before the
clock starts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = {"S": 2_000, "M": 20_000, "L": 200_000}
AS_OF = dt.date(2026, 11, 25)
SEED = 11
# Task name prefix → stage of the DAG, in flow order.
STAGES = {
    "load-config": "config",
    "read-run-history": "config",
    "stage-": "ingest",
    "validate-": "validate (GX)",
    "data-quality-gate": "validate (GX)",
    "normalise-sources": "normalise",
    "engagement-by-contact": "contact engagement",
    "score-contacts": "score contacts",
    "roll-up-accounts": "roll up accounts",
    "score-accounts": "score accounts",
    "read-last-snapshot": "select targets",
    "select-targets": "select targets",
    "compare-with-last-run": "report details",
    "gather-report-details": "report details",
    "write-outputs": "write outputs (incl. GX Data Docs)",
    "publish-outputs": "publish",
    "publish-run-summary": "publish",
    "alert-new-sql-ready": "publish",
}


def data_dir(size: str) -> Path:
    return ROOT / "benchmarks" / "data" / size


def ensure_data(size: str) -> float | None:
    """Generate the size's data unless present; return generation seconds (None if reused)."""
    from abmq.sample_data import generate

    folder = data_dir(size)
    if (folder / ".complete").exists():
        return None
    started = time.perf_counter()
    generate(folder, SIZES[size], seed=SEED, as_of=AS_OF, fmt="parquet", progress=True)
    (folder / ".complete").write_text("ok\n")
    return time.perf_counter() - started


def run_one(size: str) -> None:
    """Child process: run the flow once under a temporary Prefect API, print JSON figures."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        import asyncio

        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        from flows.qualify import qualify

        out = ROOT / "benchmarks" / "out" / size
        started = time.perf_counter()
        state = qualify(str(data_dir(size)), str(out), None, AS_OF.isoformat(), return_state=True)
        wall = time.perf_counter() - started
        result = state.result()
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        async def task_runs():
            async with get_client() as client:
                return await client.read_task_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
                )

        stages: dict[str, float] = {}
        for run in asyncio.run(task_runs()):
            stage = next((v for k, v in STAGES.items() if run.name.startswith(k)), run.name)
            stages[stage] = stages.get(stage, 0.0) + run.total_run_time.total_seconds()
    print(json.dumps({"size": size, "wall_s": wall, "peak_mib": peak_mib, "stages": stages, "accounts": result["accounts"], "targets": result["targets_count"]}))


def input_rows(size: str) -> dict[str, int]:
    import polars as pl

    return {
        name: pl.scan_parquet(data_dir(size) / f"{name}.parquet").select(pl.len()).collect().item()
        for name in ("accounts", "contacts", "events", "intent", "technographics")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["S", "M", "L"], choices=list(SIZES))
    parser.add_argument("--one", choices=list(SIZES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run_one(args.one)
        return
    figures = []
    for size in args.sizes:
        generated = ensure_data(size)
        rows = input_rows(size)
        child = subprocess.run([sys.executable, __file__, "--one", size], capture_output=True, text=True)
        if child.returncode != 0:
            sys.stderr.write(child.stderr[-4000:])
            raise SystemExit(f"benchmark run for size {size} failed")
        figure = json.loads(child.stdout.strip().splitlines()[-1])
        figure.update(rows=rows, generate_s=generated)
        figures.append(figure)
        print(
            f"{size}: {rows['accounts']:,} accounts, {rows['contacts']:,} contacts, {rows['events']:,} events"
            + (f" (generated in {generated:.1f} s)" if generated else "")
            + f" → flow {figure['wall_s']:.1f} s, peak {figure['peak_mib']:,.0f} MiB"
        )
    stage_names = list(dict.fromkeys(v for v in STAGES.values()))
    print()
    print("| stage | " + " | ".join(f["size"] for f in figures) + " |")
    print("|---|" + "---:|" * len(figures))
    for stage in stage_names:
        print(f"| {stage} | " + " | ".join(f"{f['stages'].get(stage, 0.0):.2f} s" for f in figures) + " |")
    print("| **flow wall time** | " + " | ".join(f"**{f['wall_s']:.1f} s**" for f in figures) + " |")
    print("| **peak memory** | " + " | ".join(f"**{f['peak_mib']:,.0f} MiB**" for f in figures) + " |")
    print("| GX share of wall time | " + " | ".join(f"{100 * f['stages'].get('validate (GX)', 0) / f['wall_s']:.0f}%" for f in figures) + " |")


if __name__ == "__main__":
    main()
