"""`abmq`: generate sample data, run the qualification flow, or both (`demo`)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


def _parse_date(value: Optional[str]) -> dt.date:
    if value is None:
        return dt.datetime.now(dt.timezone.utc).date()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD") from None


AsOf = Annotated[Optional[str], typer.Option("--as-of", help="Scoring date YYYY-MM-DD (default: today, UTC).")]
Mapping = Annotated[
    Optional[Path],
    typer.Option(
        "--mapping",
        help="YAML file with a `sources:` section: how your exports' headers, values and formats map onto the input contract (README, 'Mappings'). Replaces the config's.",
    ),
]
Presets = Annotated[
    Optional[list[str]],
    typer.Option(
        "--preset",
        help="Ready-made mapping for a vendor's export, e.g. hubspot, salesforce, bombora; repeat to mix; SOURCE=NAME takes one source from a preset (intent=bombora). Your config's or --mapping's sources: entries win key by key (README, 'Presets').",
    ),
]
WorkDir = Annotated[
    Optional[Path],
    typer.Option(
        "--work-dir",
        help="Where local copies of s3:// inputs and outputs are kept between runs (default: $ABMQ_WORK_DIR, else ~/.cache/abmq).",
    ),
]
# --input / --out: a folder, or an object-storage URL (s3://bucket/prefix; README, 'Object storage')
InputLocation = Annotated[
    str, typer.Option("--input", help="Folder (or s3://bucket/prefix) with the source exports (see README, 'Input contract').")
]
PConvertModel = Annotated[
    Optional[Path],
    typer.Option(
        "--p-convert-model",
        help="p_convert_model.json written by `abmq calibrate`: adds the likelihood to convert (p_convert), which orders equal scores.",
    ),
]


@app.command()
def generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the sample sources into.")],
    accounts: Annotated[int, typer.Option("--accounts", min=10, help="Number of companies.")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same data.")] = 7,
    as_of: AsOf = None,
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    events_layout: Annotated[
        Literal["single", "daily"],
        typer.Option(
            "--events-layout",
            help="single: events.<format>; daily: one file per UTC day, events/YYYY-MM-DD.<format>.",
        ),
    ] = "single",
    contacts_scale: Annotated[
        float,
        typer.Option(
            "--contacts-scale",
            min=0.01,
            help="Multiplies contacts per account (XL: 1.65, ~10 per account).",
        ),
    ] = 1.0,
    events_scale: Annotated[
        float,
        typer.Option(
            "--events-scale",
            min=0.01,
            help="Multiplies events per account (XL: 2.01, ~100 per account).",
        ),
    ] = 1.0,
) -> None:
    """Generate realistic, deterministic sample data (with a little dirt, as real exports have).

    XL (1M accounts, ~10M contacts, ~100M events): --accounts 1000000 --contacts-scale 1.65 --events-scale 2.01 --events-layout daily
    """
    from abmq.sample_data import generate as generate_data

    as_of_date = _parse_date(as_of)
    started = time.perf_counter()
    counts = generate_data(
        out_dir,
        accounts,
        seed=seed,
        as_of=as_of_date,
        fmt=fmt,
        progress=True,
        events_layout=events_layout,
        contacts_scale=contacts_scale,
        events_scale=events_scale,
    )
    console.print(
        f"generated in {time.perf_counter() - started:.1f} s as of {as_of_date}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items())
    )
    out.print(str(out_dir))


def _error(message: object) -> None:
    """The one `error:` line of a failed command (control characters escaped)."""
    from abmq.tasks.text_safety import printable

    console.print(f"[red]error:[/red] {escape(printable(str(message)))}")


def _inputs_and_config(input_dir: str | Path, config: Optional[Path], mapping_file: Optional[Path], presets: Optional[list[str]] = None):
    """The config with its mappings checked, once the input folder (or remote prefix) is known
    to exist; exit 2 (usage) otherwise, before anything starts."""
    from abmq.config import ConfigError, load_config
    from abmq.tasks import mapping, object_store

    if object_store.is_remote(input_dir):
        _check_remote(object_store.check_input, str(input_dir))
    elif not object_store.local_path(input_dir).is_dir():
        _error(f"input folder {input_dir} does not exist")
        raise typer.Exit(2)
    try:
        loaded = load_config(config, mapping_file, presets)
        mapping.check_mappings(loaded.sources)
    except ConfigError as exc:
        _error(exc)
        raise typer.Exit(2) from None
    return loaded


def _check_remote(check, location: str) -> None:
    """A remote location that cannot be used: one line, exit 2, before anything starts."""
    from abmq.config import ConfigError
    from abmq.tasks.catalog import SourceError

    try:
        check(location)
    except (SourceError, ConfigError) as exc:
        _error(exc)
        raise typer.Exit(2) from None


@contextlib.contextmanager
def _local_inputs(input_dir: str, work_dir: Optional[Path]):
    """The inputs as a local folder: remote ones mirrored into the local cache first (for the
    commands that run no flow: check, inspect)."""
    from abmq.tasks import object_store
    from abmq.tasks.catalog import OutputLockedError, SourceError

    if not object_store.is_remote(input_dir):
        yield object_store.local_path(input_dir)
        return
    try:
        with object_store.local_view(input_dir, None, str(work_dir) if work_dir else None, holder="abmq") as view:
            fetched = view.fetch()
            console.print(f"[dim]{_fetched_line(input_dir, fetched)}; local copy {view.input_dir}[/dim]")
            yield Path(view.input_dir)
    except (SourceError, OutputLockedError) as exc:
        _error(exc)
        raise typer.Exit(1) from None


def _fetched_line(location: str, fetched: dict) -> str:
    from abmq.tasks import object_store

    return (
        f"inputs from {object_store.display(location)}: {fetched['fetched']} objects fetched, {fetched['unchanged']} unchanged, "
        f"{fetched['removed']} removed locally"
    )


def _preflight(
    input_dir: str | Path,
    config: Optional[Path],
    p_convert_model: Optional[Path] = None,
    mapping_file: Optional[Path] = None,
    presets: Optional[list[str]] = None,
    out_dir: str | Path | None = None,
):
    """Fail fast, before Prefect starts, on a missing input folder, a bad config or mapping,
    an unreadable p_convert model or an output bucket that cannot be published to; the config."""
    from abmq.config import ConfigError
    from abmq.tasks import catalog, conversion, object_store

    loaded = _inputs_and_config(input_dir, config, mapping_file, presets)
    if object_store.is_remote(out_dir):
        _check_remote(object_store.check_output, str(out_dir))
    try:
        model = catalog.read_p_convert_model(p_convert_model) if p_convert_model else None
    except ConfigError as exc:
        _error(exc)
        raise typer.Exit(2) from None
    if p_convert_model and (usable := conversion.usable_model(model, loaded, str(p_convert_model))).model is None:
        console.print(f"[yellow]p_convert will be empty:[/yellow] {usable.why_not}")
    if not os.environ.get("PREFECT_API_URL"):
        console.print("[dim]No PREFECT_API_URL set: Prefect starts a temporary local server for this run (about 10 s).[/dim]")
        # The temporary server's usage telemetry fails with error lines on an offline machine.
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        # Prefect gives it 20 s, which a busy 2-core machine can miss; waiting longer costs nothing.
        os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    return loaded


@dataclass(frozen=True)
class Scale:
    """Where shards are scored (see flows/task_runners.py)."""

    shards: int = 1
    task_runner: str = "thread"
    dask_address: Optional[str] = None
    dask_workers: int = 2


def _keep_traceback(out_dir: str | Path, exc: BaseException) -> Path | None:
    """The full traceback beside the flow's error.txt (OUT/last_failure/traceback.txt)."""
    from abmq.tasks.catalog import write_traceback

    return write_traceback(out_dir, exc)


def _server_did_not_start(exc: BaseException) -> bool:
    return isinstance(exc, RuntimeError) and "ephemeral Prefect API server" in str(exc)


def _server_log_path() -> Path:
    """Where a temporary Prefect server started by `abmq run` writes its own (error) output."""
    from prefect.settings import get_current_settings

    return Path(get_current_settings().home) / "abmq-temporary-server.log"


def _startup_timeout() -> int:
    from prefect.settings import get_current_settings

    return int(get_current_settings().server.ephemeral.startup_timeout_seconds)


def _run_flow(
    input_dir: str | Path,
    out_dir: str | Path,
    config: Optional[Path],
    as_of_date: dt.date,
    scale: Scale = Scale(),
    verbose: bool = False,
    p_convert_model: Optional[Path] = None,
    mapping_file: Optional[Path] = None,
    presets: Optional[list[str]] = None,
    work_dir: Optional[Path] = None,
) -> dict:
    """Run the flow; every way it can end is one clear line and exit code 0, 1 (failed),
    2 (usage) or 128 + signal (stopped), and nothing it started keeps running (abmq/run_guard.py)."""
    from abmq import run_guard
    from abmq.config import ConfigError
    from abmq.tasks import object_store
    from abmq.tasks.catalog import OutputLockedError, SourceError
    from abmq.tasks.validate import DataQualityError

    _preflight(input_dir, config, p_convert_model, mapping_file, presets, out_dir)
    work = str(work_dir) if work_dir else None
    local_out = object_store.local_output(out_dir, work)  # where last_failure/ is written
    shown_out = object_store.display(out_dir) if object_store.is_remote(out_dir) else out_dir
    run_guard.watchdog()  # before Prefect starts its temporary server
    with run_guard.signals_raise():
        try:
            from abmq.flows.qualify import qualify
            from abmq.flows.task_runners import with_task_runner
        except run_guard.Stopped as stop:
            _error(f"stopped by {stop} before the run started; nothing was published")
            raise typer.Exit(128 + stop.signum) from None
        expected = (SourceError, DataQualityError, ConfigError, OutputLockedError)
        flow = with_task_runner(qualify, scale.task_runner, scale.dask_address, scale.dask_workers)
        if scale.task_runner == "dask":
            where = scale.dask_address or f"a local cluster of {scale.dask_workers} workers"
            console.print(f"[dim]scoring {scale.shards} shards on Dask ({where})[/dim]")
        started = time.perf_counter()
        quiet = contextlib.nullcontext() if verbose else run_guard.quiet_tracebacks(expected)
        from abmq.tasks.catalog import append_handle

        log_path = _server_log_path()
        server_log = contextlib.nullcontext() if verbose else run_guard.temporary_server_log(lambda: append_handle(log_path))
        try:
            with quiet, server_log:
                result = flow(
                    str(input_dir),
                    str(out_dir),
                    str(config) if config else None,
                    as_of_date.isoformat(),
                    shards=scale.shards,
                    p_convert_model=str(p_convert_model) if p_convert_model else None,
                    **({"mapping_path": str(mapping_file)} if mapping_file else {}),
                    **({"presets": list(presets)} if presets else {}),
                    **({"work_dir": work} if work else {}),
                )
        except run_guard.Stopped as stop:
            _error(f"stopped by {stop}; {shown_out} keeps the outputs of the last run that published")
            raise typer.Exit(128 + stop.signum) from None
        except OutputLockedError as exc:
            _error(exc)
            raise typer.Exit(1) from None
        except (SourceError, DataQualityError, ConfigError) as exc:
            _error(object_store.in_remote_terms(str(exc), input_dir, work))
            failure = local_out / "last_failure"
            _keep_traceback(local_out, exc)
            console.print(
                f"Nothing was published; the previous outputs in {shown_out} are unchanged. Details: {failure / 'error.txt'}, GX Data Docs: {failure / 'data_docs' / 'index.html'}"
            )
            raise typer.Exit(1) from None
        except Exception as exc:  # a bug: one line here, the traceback in the log above and in a file
            if (signum := run_guard.stopped_by()) is not None:  # the signal's `Stopped`, changed on its way out
                _error(f"stopped by {signal.Signals(signum).name}; {shown_out} keeps the outputs of the last run that published")
                raise typer.Exit(128 + signum) from None
            if _server_did_not_start(exc):
                _error(
                    "Prefect's temporary server did not start in time (a busy machine?); nothing ran. Start a server "
                    "(`prefect server start`) and set PREFECT_API_URL=http://127.0.0.1:4200/api, or give the temporary one "
                    f"longer: PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS (now {_startup_timeout()} s); its log: {_server_log_path()}"
                )
                raise typer.Exit(1) from None
            kept = _keep_traceback(local_out, exc)
            _error(f"unexpected {type(exc).__name__}: {exc}" + (f" (a bug; the traceback is in {kept})" if kept else ""))
            raise typer.Exit(1) from None
    console.print(
        f"flow finished in {time.perf_counter() - started:.1f} s: {result['accounts']:,} accounts scored, {result['targets_count']:,} targets"
    )
    if "event_files" in result:
        files = result["event_files"]
        console.print(f"daily event files: {files['validated']} validated now, {files['remembered']} remembered from earlier runs")
    if "exports_remembered" in result:
        console.print(f"unchanged since the last published run, not staged or validated again: {', '.join(result['exports_remembered'])}")
    if "inputs_fetched" in result:
        console.print(_fetched_line(str(input_dir), result["inputs_fetched"]))
    if "published" in result:
        published = result["published"]
        console.print(
            f"published run {published['run_id']} to {published['location']}: {published['uploaded']} files uploaded, "
            f"{published['unchanged']} unchanged, {published['removed']} unlisted objects removed; readers trust {published['manifest']}"
        )
    return result


def _print_outputs(result: dict) -> None:
    """Where the report and the target list are: the local file and, for an s3:// output, the
    published object beside it."""
    remote = result.get("published", {}).get("files", {})
    for label, key, name in (("report:     ", "report", "report.html"), ("target list:", "targets", "targets.csv")):
        out.print(f"{label} {result[key]}" + (f"  (published: {remote[name]})" if name in remote else ""))


@app.command()
def run(
    input_dir: InputLocation,
    out_dir: Annotated[
        str,
        typer.Option(
            "--out",
            help="Output folder (or s3://bucket/prefix); outputs are replaced only when the run succeeds (README, 'Object storage').",
        ),
    ],
    config: Annotated[Optional[Path], typer.Option("--config", help="Scoring config YAML (default: config/default.yaml).")] = None,
    as_of: AsOf = None,
    shards: Annotated[
        Optional[int],
        typer.Option(
            "--shards",
            min=1,
            help="Score contacts in this many shards (ranges of contact ids) as parallel tasks. Default: 1, or 2 per Dask worker.",
        ),
    ] = None,
    task_runner: Annotated[
        Literal["thread", "dask"], typer.Option("--task-runner", help="Where shards run: threads in this process, or Dask.")
    ] = "thread",
    dask_address: Annotated[
        Optional[str],
        typer.Option(
            "--dask-address", help="Scheduler of a running Dask cluster, e.g. tcp://10.0.0.5:8786 (default: start a local cluster)."
        ),
    ] = None,
    dask_workers: Annotated[int, typer.Option("--dask-workers", min=1, help="Workers of the local Dask cluster.")] = 2,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Prefect's tracebacks of input and data-quality errors too.")] = False,
    p_convert_model: PConvertModel = None,
    mapping_file: Mapping = None,
    presets: Presets = None,
    work_dir: WorkDir = None,
) -> None:
    """Run the qualification flow on your own data."""
    if dask_address and task_runner != "dask":
        console.print("[red]error:[/red] --dask-address needs --task-runner dask")
        raise typer.Exit(2)
    scale = Scale(shards or (2 * dask_workers if task_runner == "dask" else 1), task_runner, dask_address, dask_workers)
    _print_outputs(
        _run_flow(input_dir, out_dir, config, _parse_date(as_of), scale, verbose, p_convert_model, mapping_file, presets, work_dir)
    )


@app.command()
def check(
    input_dir: InputLocation,
    config: Annotated[Optional[Path], typer.Option("--config", help="Scoring config YAML (default: config/default.yaml).")] = None,
    as_of: AsOf = None,
    history_from: Annotated[
        Optional[str],
        typer.Option("--history-from", help="A run's output folder or s3:// location: compare volumes with its run history (read only)."),
    ] = None,
    mapping_file: Mapping = None,
    presets: Presets = None,
    work_dir: WorkDir = None,
) -> None:
    """Ingest and the data-quality gate only: publishes nothing, needs no Prefect server.
    Exit 0 when the inputs would pass the gate, 1 when a run would stop (each reason printed)."""
    import tempfile

    from abmq.config import ConfigError
    from abmq.tasks import gate, object_store, pipeline
    from abmq.tasks.catalog import SourceError

    as_of_date = _parse_date(as_of)
    loaded = _inputs_and_config(input_dir, config, mapping_file, presets)
    with _local_inputs(input_dir, work_dir) as local_in:
        try:
            history = _history(history_from) if history_from else []
            with tempfile.TemporaryDirectory(prefix="abmq-check-") as state:  # daily event files' state: thrown away
                checked = pipeline.check_inputs(str(local_in), state, loaded, as_of_date, history, remember_exports=False)
        except ConfigError as exc:
            _error(exc)
            raise typer.Exit(2) from None
        except SourceError as exc:
            _error(object_store.in_remote_terms(str(exc), input_dir, str(work_dir) if work_dir else None))
            raise typer.Exit(1) from None
    summary = gate.quality_summary(checked.sources)
    for row in summary["sources"]:
        if not row["files"]:
            out.print(f"{row['source']:<24} not supplied")
            continue
        failed = ", ".join(f"{f['label']} ({f['severity']})" for f in row["failed"]) or "all checks pass"
        out.print(f"{row['source']:<24} {row['rows_in']:>12,} rows, {row['rows_quarantined']:>10,} to quarantine; {failed}")
    for absent in summary.get("absent_sources", []):
        out.print(absent["note"])
    blocking = gate.blocking_messages(checked.sources)
    for message in blocking:
        _error(message)
    if blocking:
        raise typer.Exit(1)
    out.print(f"data-quality gate: passes as of {as_of_date.isoformat()}")


@app.command()
def published(
    location: Annotated[str, typer.Option("--out", help="The s3:// location runs publish to.")],
    to: Annotated[
        Optional[Path], typer.Option("--to", help="Copy the published files into this folder (laid out as a local output folder).")
    ] = None,
    files: Annotated[
        Optional[list[str]], typer.Option("--file", help="Only this published file, e.g. targets.csv; repeat for more.")
    ] = None,
) -> None:
    """What the last run published to an s3:// location, read through its manifest (the only
    thing readers trust); with --to, a copy of the published files."""
    from abmq.config import ConfigError
    from abmq.tasks import object_store
    from abmq.tasks.catalog import SourceError

    if not object_store.is_remote(location):
        _error(f"{location}: not an object-storage URL; a local output folder is read as it is")
        raise typer.Exit(2)
    try:
        if to is None:
            manifest = object_store.published_manifest(location)
        else:
            manifest = object_store.download_published(location, to, list(files) if files else None)
    except (SourceError, ConfigError) as exc:
        _error(exc)
        raise typer.Exit(1) from None
    listed = {r: e for r, e in manifest["files"].items() if not files or r in files}
    out.print(f"run {manifest['run_id']} as of {manifest['as_of']}, published {manifest['published_at']}: {len(listed)} files")
    if to is None:
        for relative, entry in listed.items():
            out.print(f"  {relative:<48} {entry['size']:>12,}  {object_store.display(location)}/{entry['key']}")
    else:
        out.print(f"copied into {to}")


def _history(location: str) -> list[dict]:
    """The run history of an output folder or of what was last published to a remote one."""
    import tempfile

    from abmq.tasks import catalog, object_store

    if not object_store.is_remote(location):
        return catalog.read_history(object_store.local_path(location))
    with tempfile.TemporaryDirectory(prefix="abmq-history-") as folder:
        object_store.download_published(location, Path(folder), only=[catalog.HISTORY_FILE])
        return catalog.read_history(Path(folder))


@app.command()
def inspect(
    input_dir: Annotated[str, typer.Option("--input", help="Folder (or s3://bucket/prefix) with the source exports.")],
    config: Annotated[Optional[Path], typer.Option("--config", help="Scoring config YAML (default: config/default.yaml).")] = None,
    mapping_file: Mapping = None,
    presets: Presets = None,
    rows: Annotated[int, typer.Option("--rows", min=1, help="Rows read from the top of each file.")] = 1000,
    write_mapping: Annotated[
        Optional[Path],
        typer.Option("--write-mapping", help="Write a starter mapping (a `sources:` section) here, to edit and pass to --mapping."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the --write-mapping file if it exists.")] = False,
    work_dir: WorkDir = None,
) -> None:
    """Read the header and first rows of each export and show, per source, the file found, how
    each column maps (near-matches for missing ones), the share of values recognised, and format
    guesses. Reads and writes nothing else; needs no Prefect server."""
    import yaml

    from abmq.tasks import catalog
    from abmq.tasks import inspect as inspection

    loaded = _inputs_and_config(input_dir, config, mapping_file, presets)
    if write_mapping and write_mapping.exists() and not force:  # said before the report, not after it
        _error(f"{write_mapping} exists; pass --force to overwrite it")
        raise typer.Exit(2)
    with _local_inputs(input_dir, work_dir) as local_in:
        reports = inspection.inspect_folder(local_in, loaded.sources, rows)
    for report in reports:
        _print_inspection(report)
    from abmq import presets as shipped

    for name, would in inspection.unclaimed_files(local_in, reports, shipped.available()):
        hint = f"; read it with {' or '.join(would)}" if would else "; name it in a source's `files:` to read it"
        out.print(f"[yellow]not read by any source[/yellow]: {escape(name)}{escape(hint)}")
    if write_mapping:
        starter = inspection.starter_mapping(reports, loaded.sources)
        header = "# Starter mapping written by `abmq inspect`: check the guesses, then `abmq check --mapping` this file.\n"
        try:
            catalog.write_new_file(write_mapping, header + yaml.safe_dump(starter, sort_keys=False, allow_unicode=True), force)
        except OSError as exc:
            _error(f"{write_mapping}: cannot write the starter mapping ({exc.strerror or exc})")
            raise typer.Exit(2) from None
        out.print(f"starter mapping: {write_mapping}")


def _print_inspection(report) -> None:
    """One source of `abmq inspect`: its file, its columns, the recognised shares."""
    from abmq.tasks import inspect as inspection

    if report.error:
        out.print(f"[bold]{report.source}[/bold]: [red]{escape(report.error)}[/red]")
        return
    if not report.files:
        out.print(f"[bold]{report.source}[/bold]: no file found")
        return
    more = f" (+{len(report.files) - 1} more)" if len(report.files) > 1 else ""
    out.print(f"[bold]{report.source}[/bold]: {escape(report.files[0].name)}{more}, {report.rows_read:,} rows read")
    shares = {r.column: r for r in report.recognition}
    for match in report.columns:
        if match.how == "missing":
            if match.missing or match.near:
                near = f"; near: {', '.join(repr(h) for h in match.near)}" if match.near else ""
                label = (
                    "[red]missing (required)[/red]" if match.missing else f"not found ({inspection.DERIVED.get(match.column, 'optional')})"
                )
                out.print(f"  {match.column:<16} {label}{escape(near)}")
            elif match.column in inspection.DERIVED:
                out.print(f"  {match.column:<16} not found ({inspection.DERIVED[match.column]})")
            continue
        line = f"  {match.column:<16} <- {escape(repr(match.header))} ({match.how})"
        if match.column in shares:
            line += f"; {escape(_share_text(shares[match.column]))}"
        if match.column in report.formats:
            line += f"; guessed format: {escape(str(report.formats[match.column]))}"
        out.print(line)
    if report.unused:
        out.print(f"  unused headers: {escape(', '.join(report.unused))}")


def _share_text(recognition) -> str:
    """ "country: 97% recognised; 'Untied States' ×4 not"."""
    text = f"{recognition.column}: {recognition.share:.0%} recognised as {recognition.what}"
    if recognition.unrecognised:
        text += "; " + ", ".join(f"{value!r} ×{count}" for value, count in recognition.unrecognised) + " not"
    return text


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the sample data (data/) and the run (run/).")] = Path("out/demo"),
    accounts: Annotated[int, typer.Option("--accounts", min=10)] = 2000,
    seed: Annotated[int, typer.Option("--seed")] = 7,
    as_of: AsOf = None,
) -> None:
    """Generate sample data, run the flow on it and print where the report is."""
    from abmq.sample_data import generate as generate_data

    as_of_date = _parse_date(as_of)
    data_dir, run_dir = out_dir / "data", out_dir / "run"
    console.print(f"generating sample data for {accounts:,} accounts as of {as_of_date} into {data_dir}")
    generate_data(data_dir, accounts, seed=seed, as_of=as_of_date, fmt="parquet", progress=True)
    result = _run_flow(data_dir, run_dir, None, as_of_date)
    _print_outputs({**result, "report": str(Path(result["report"]).resolve()), "targets": str(Path(result["targets"]).resolve())})


@app.command()
def serve(
    input_dir: Annotated[str, typer.Option("--input", help="Folder (or s3://bucket/prefix) the exports land in.")],
    out_dir: Annotated[str, typer.Option("--out", help="Output folder (or s3://bucket/prefix) of the scheduled runs.")],
    config: Annotated[Optional[Path], typer.Option("--config")] = None,
    cron: Annotated[str, typer.Option("--cron", help="Schedule (cron syntax).")] = "0 6 * * *",
    timezone: Annotated[str, typer.Option("--timezone")] = "UTC",
    name: Annotated[str, typer.Option("--name", help="Deployment name.")] = "daily",
    p_convert_model: PConvertModel = None,
) -> None:
    """Serve the flow as a scheduled deployment on the Prefect server at PREFECT_API_URL."""
    if not os.environ.get("PREFECT_API_URL"):
        console.print(
            "[red]error:[/red] PREFECT_API_URL is not set; start a server (prefect server start) and export PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
        raise typer.Exit(2)
    from prefect.schedules import Cron

    from abmq.flows.qualify import qualify
    from abmq.tasks import object_store

    def where(location: str) -> str:
        return location if object_store.is_remote(location) else str(object_store.local_path(location).resolve())

    parameters = {
        "input_dir": where(input_dir),
        "out_dir": where(out_dir),
        "config_path": str(config.resolve()) if config else None,
        "p_convert_model": str(p_convert_model.resolve()) if p_convert_model else None,
    }
    console.print(f"serving deployment qualify-accounts/{name} on '{cron}' ({timezone}); Ctrl+C stops (and pauses the schedule)")
    qualify.serve(name=name, schedule=Cron(cron, timezone=timezone), parameters=parameters)


@app.command()
def calibrate(
    input_dir: Annotated[
        Path, typer.Option("--input", help="Folder with the source exports, including `opportunities` (created, closed, outcome).")
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", help="Output folder for the calibration report, the proposed config and the p_convert model.")
    ],
    config: Annotated[
        Optional[Path], typer.Option("--config", help="Scoring config YAML to calibrate (default: config/default.yaml).")
    ] = None,
    as_of: AsOf = None,
    months: Annotated[int, typer.Option("--months", min=1, help="Backtest history in months (the latest ones).")] = 12,
    label: Annotated[
        Literal["created", "won", "won_amount"],
        typer.Option("--label", help="What counts as converting: an opportunity created, won, or won weighted by amount."),
    ] = "created",
    horizon_days: Annotated[
        int, typer.Option("--horizon-days", min=7, help="Days after each backtest date in which the label counts.")
    ] = 90,
    frequency: Annotated[
        Literal["monthly", "weekly"],
        typer.Option("--frequency", help="Backtest dates: monthly, or weekly for small teams with a few months of history."),
    ] = "monthly",
) -> None:
    """Backtest every scoreable account on past dates, measure how well the scores predicted
    pipeline within the horizon, and propose re-weighted points (never applied automatically)."""
    from abmq.config import ConfigError

    as_of_date = _parse_date(as_of)
    _preflight(input_dir, config)
    from abmq import run_guard

    run_guard.watchdog()  # nothing the run starts outlives it
    from abmq.flows.calibrate import calibrate as calibrate_flow
    from abmq.tasks.calibration import NotEnoughHistoryError
    from abmq.tasks.catalog import OutputLockedError, SourceError
    from abmq.tasks.validate import DataQualityError

    expected = (OutputLockedError, SourceError, DataQualityError, ConfigError, NotEnoughHistoryError)
    started = time.perf_counter()
    try:
        with run_guard.quiet_tracebacks(expected):
            result = calibrate_flow(
                str(input_dir),
                str(out_dir),
                str(config) if config else None,
                as_of_date.isoformat(),
                months,
                label=label,
                horizon_days=horizon_days,
                frequency=frequency,
            )
    except expected as exc:
        _error(exc)
        raise typer.Exit(1) from None
    console.print(
        f"calibration finished in {time.perf_counter() - started:.1f} s: {result['opportunities']:,} account-dates converted "
        f"({result['label']} within {result['horizon_days']} days), held-out AUC {result['auc_current']} (current) -> "
        f"{result['auc_proposed']} (proposed) on {result['held_out']:,} account-dates"
    )
    out.print(f"report:          {result['report']}")
    out.print(f"proposed config: {result['proposed_config']}")
    out.print(f"p_convert model: {result['p_convert_model']}")


if __name__ == "__main__":
    app()
