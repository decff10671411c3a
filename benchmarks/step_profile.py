"""Time and peak memory of each pipeline step, without Prefect: where a size's time goes.

    python benchmarks/step_profile.py XL --out benchmarks/out/XL-incremental --as-of 2026-11-25

Runs `pipeline.check_inputs` and `pipeline.assess` (stage → validate → gate → normalise →
score → select; no report) with every step of `pipeline.PLAIN` wrapped by a timer and a
sampler of the process's resident memory, and prints one row per step call: seconds, cores
busy (CPU seconds of every thread per second: 2.0 is both cores busy), peak RSS during the
step, RSS after it; `--outputs` goes on to the report and the output files, as the flow does
(the flow process's peak was there). `--out` is the run folder whose state store holds the
daily event files already validated (the incremental benchmark's folder: as of its date
every file is remembered and none is written); a size with one events export needs none.
Run it alone on the machine: two cores shared with anything else change every figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import resource
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = os.sysconf("SC_PAGE_SIZE")
SOURCE_ARG = {"stage_source": 1, "validate_source": 0, "write_parquet": 0}  # where a step's source name is, to label its rows


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE / 2**20


class Sampler(threading.Thread):
    """Samples RSS every 20 ms; `peak_since(mark)` is the highest value since `mark()`."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = rss_mib()

    def run(self) -> None:
        while True:
            self.peak = max(self.peak, rss_mib())
            time.sleep(0.02)

    def mark(self) -> None:
        self.peak = rss_mib()


# The scoring step's parts, timed inside it with --inside (called through their modules).
INSIDE_SCORING = {
    "rollup": (
        "in_one_piece",
        "contacts_with_events",
        "engagement_of_coded",
        "contacts_with_engagement",
        "account_totals",
        "engaged_rows",
        "buying_groups",
        "intent_surges",
        "technology_matches",
    ),
    "scoring": ("score_contacts", "score_accounts"),
}


def cpu_seconds() -> float:
    """User and system time of the process (every thread) so far."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def timer(sampler: Sampler, rows: list[tuple[str, float, float, float, float]]):
    def wrap(name, function, indent=""):
        def step(*args, **kwargs):
            peak_before = sampler.peak
            sampler.mark()
            started, cpu_started = time.perf_counter(), cpu_seconds()
            result = function(*args, **kwargs)
            label = f"{name} {args[SOURCE_ARG[name]]}" if name in SOURCE_ARG else name
            seconds = time.perf_counter() - started
            cores = (cpu_seconds() - cpu_started) / seconds if seconds > 0 else 0.0
            rows.append((indent + label, seconds, cores, max(sampler.peak, rss_mib()), rss_mib()))
            sampler.peak = max(sampler.peak, peak_before)  # an enclosing step's peak includes this one's
            return result

        return step

    return wrap


def timed_steps(sampler: Sampler, rows: list[tuple[str, float, float, float, float]], inside: bool):
    from abmq.tasks import pipeline, rollup, scoring

    wrap = timer(sampler, rows)
    if inside:
        for module in (rollup, scoring):
            for name in INSIDE_SCORING[module.__name__.rsplit(".", 1)[1]]:
                setattr(module, name, wrap(name, getattr(module, name), indent="  "))
    return pipeline.Steps(**{f.name: wrap(f.name, getattr(pipeline.PLAIN, f.name)) for f in dataclasses.fields(pipeline.Steps)})


def render_and_write(assessment, config, as_of: dt.date, steps, wrap, details) -> None:
    """`pipeline.render_run` and the writing of its bundle, as the flow does them (the files go to
    a temporary folder, deleted after)."""
    import tempfile

    from abmq.tasks import catalog, pipeline, render

    with tempfile.TemporaryDirectory() as folder:
        outputs = catalog.RunOutputs(Path(folder))
        outputs.write_parquet = wrap("write_parquet", outputs.write_parquet, indent="  ")  # a row per Parquet file
        # as the flow: the score tables written while the contract is checked and the pages rendered
        outputs.write_early(render.score_tables(assessment.accounts, assessment.contacts))
        rendered = pipeline.render_run(assessment, [], config, as_of, steps, details)
        wrap("write_bundle", outputs.write_bundle)(rendered.bundle.files, rendered.bundle.gx_results, as_of)
        outputs.discard()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("size", help="a folder under benchmarks/data (S, M, L, XL, ...)")
    parser.add_argument("--out", help="run folder with the state store (daily event files)")
    parser.add_argument("--as-of", default="2026-11-25")
    parser.add_argument("--shards", type=int, default=1, help="account shards, scored one after another")
    parser.add_argument("--inside", action="store_true", help="also time the parts of the scoring step (indented, above it)")
    parser.add_argument(
        "--spill",
        action="store_true",
        help="part the scoring window on disk and keep the contact scores there until written, as the flow does",
    )
    parser.add_argument(
        "--outputs", action="store_true", help="also render the outputs and write them into a temporary folder (the flow's peak is there)"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from abmq.config import load_config
    from abmq.tasks import pipeline

    as_of = dt.date.fromisoformat(args.as_of)
    config = load_config()
    sampler = Sampler()
    sampler.start()
    rows: list[tuple[str, float, float, float, float]] = []
    steps = timed_steps(sampler, rows, args.inside)
    spill = None
    if args.spill:  # as the flow on threads: catalog.SpilledRows in a temporary folder
        import tempfile

        from abmq.tasks import catalog

        spill_folder = tempfile.TemporaryDirectory()
        spill = catalog.SpilledRows(Path(spill_folder.name))
        spill.keep = timer(sampler, rows)("keep", spill.keep, indent="  ")
        spill.parted = timer(sampler, rows)("parted", spill.parted, indent="  ")
    started, cpu_started = time.perf_counter(), cpu_seconds()
    checked = pipeline.check_inputs(str(ROOT / "benchmarks" / "data" / args.size), args.out, config, as_of, [], steps)
    assessment = pipeline.assess(
        checked.sources, config, as_of, steps, shard_count=args.shards, out_dir=None, release_rows=True, spill=spill
    )  # as the flow
    if args.outputs:  # as the flow does: the sources' rows let go once the report details are read
        details = pipeline.report_details(assessment, config, as_of, steps)
        assessment = assessment.without_rows()
        render_and_write(assessment, config, as_of, steps, timer(sampler, rows), details)
    total = time.perf_counter() - started
    print(f"{'step':40} {'seconds':>8} {'cores':>6} {'peak MiB':>9} {'RSS after':>9}")
    for name, seconds, cores, peak, after in rows:
        print(f"{name:40} {seconds:8.1f} {cores:6.2f} {peak:9,.0f} {after:9,.0f}")
    cores = (cpu_seconds() - cpu_started) / total
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'total':40} {total:8.1f} {cores:6.2f} {peak:9,.0f}  (peak of the process)")
    decisions = assessment.accounts.get_column("decision").value_counts(sort=True).rows()
    print(f"accounts {assessment.accounts.height:,}: " + ", ".join(f"{d} {n:,}" for d, n in decisions))


if __name__ == "__main__":
    main()
