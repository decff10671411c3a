"""`abmq` from the command line: clear one-line errors and non-zero exits."""

import polars as pl
from typer.testing import CliRunner

from abmq.cli import app
from abmq.resources import DEFAULT_CONFIG

runner = CliRunner()


def test_run_with_a_missing_source_exits_non_zero_with_the_fix(tmp_path, handbuilt_dir, prefect_harness):
    import shutil

    data = tmp_path / "input"
    shutil.copytree(handbuilt_dir, data)
    (data / "events.csv").unlink()
    result = runner.invoke(app, ["run", "--input", str(data), "--out", str(tmp_path / "out"), "--as-of", "2026-11-25"])
    assert result.exit_code == 1
    # Prefect's own log may carry the task's traceback; the command ends with the clear line
    ending = result.output[result.output.rindex("error: ") :]
    assert ending.startswith("error: events: no events.parquet, events.csv or events/ folder")
    assert "Traceback" not in ending and len(ending.splitlines()) == 2  # the error, and what was kept


def test_run_with_a_bad_config_key_exits_before_running(tmp_path, handbuilt_dir):
    config = tmp_path / "bad.yaml"
    text = DEFAULT_CONFIG.read_text().replace("nurture_min_fit:", "nurture_min_fitt:")
    config.write_text(text)
    result = runner.invoke(app, ["run", "--input", str(handbuilt_dir), "--out", str(tmp_path / "out"), "--config", str(config)])
    assert result.exit_code == 2
    assert "selection.nurture_min_fitt: Extra inputs are not permitted" in result.output
    assert "selection.nurture_min_fit: Field required" in result.output


def test_run_end_to_end_prints_report_and_target_list(tmp_path, handbuilt_dir, prefect_harness):
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", "--input", str(handbuilt_dir), "--out", str(out), "--as-of", "2026-11-25"])
    assert result.exit_code == 0, result.output
    assert f"report:      {out / 'report.html'}" in result.output
    assert f"target list: {out / 'targets.csv'}" in result.output
    assert pl.read_csv(out / "targets.csv")["domain"].to_list() == ["acme.com", "hooli.com", "umbrella.com", "initech.com", "quiet.com"]


def test_bad_as_of_date_is_a_usage_error(tmp_path, handbuilt_dir):
    result = runner.invoke(app, ["run", "--input", str(handbuilt_dir), "--out", str(tmp_path / "o"), "--as-of", "25/11/2026"])
    assert result.exit_code == 2
    assert "use YYYY-MM-DD" in result.output


def test_demo_with_a_relative_output_folder(tmp_path, monkeypatch, prefect_harness):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["demo", "--out", "out/demo", "--accounts", "200", "--as-of", "2026-11-25"])
    assert result.exit_code == 0, result.output
    assert f"report:      {tmp_path / 'out/demo/run/report.html'}" in result.output
    assert (tmp_path / "out/demo/run/data_docs/index.html").exists()


def test_scale_options_are_checked_before_running(tmp_path, handbuilt_dir):
    base = ["run", "--input", str(handbuilt_dir), "--out", str(tmp_path / "o"), "--as-of", "2026-11-25"]
    result = runner.invoke(app, [*base, "--dask-address", "tcp://127.0.0.1:8786"])
    assert result.exit_code == 2 and "--dask-address needs --task-runner dask" in result.output
    result = runner.invoke(app, [*base, "--task-runner", "ray"])
    assert result.exit_code == 2
    result = runner.invoke(app, [*base, "--shards", "0"])
    assert result.exit_code == 2
    assert not (tmp_path / "o").exists()


def test_run_with_shards_on_threads_prints_the_same_targets(tmp_path, handbuilt_dir, prefect_harness):
    one = runner.invoke(app, ["run", "--input", str(handbuilt_dir), "--out", str(tmp_path / "one"), "--as-of", "2026-11-25"])
    three = runner.invoke(
        app, ["run", "--input", str(handbuilt_dir), "--out", str(tmp_path / "three"), "--as-of", "2026-11-25", "--shards", "3"]
    )
    assert one.exit_code == three.exit_code == 0, three.output
    assert (tmp_path / "one" / "targets.csv").read_bytes() == (tmp_path / "three" / "targets.csv").read_bytes()


# --- issue 14: one clear line, no traceback, nothing left running ---------------------------


def test_sigterm_becomes_an_exception_that_unwinds_the_run():
    import os
    import signal

    import pytest

    from abmq import run_guard

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(run_guard.Stopped) as stopped, run_guard.signals_raise():
        os.kill(os.getpid(), signal.SIGTERM)
        signal.pause() if hasattr(signal, "pause") else None
    assert stopped.value.signum == signal.SIGTERM and str(stopped.value) == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) == before  # restored for whoever called


def test_a_signal_is_known_even_when_its_exception_comes_back_as_another():
    """Prefect turned a SIGINT that arrived while a task run was set up into "ValueError: Task
    run is not set"; the command still ends as stopped (exit 130), not as a bug."""
    import os
    import signal

    import pytest

    from abmq import run_guard

    with pytest.raises(ValueError), run_guard.signals_raise():
        assert run_guard.stopped_by() is None
        try:
            os.kill(os.getpid(), signal.SIGINT)
            signal.pause() if hasattr(signal, "pause") else None
        except run_guard.Stopped:
            raise ValueError("Task run is not set") from None
    assert run_guard.stopped_by() == signal.SIGINT
    with run_guard.signals_raise():  # a new block starts with none
        assert run_guard.stopped_by() is None


def test_expected_errors_are_logged_without_their_traceback():
    import logging

    from prefect.logging.handlers import PrefectConsoleHandler

    from abmq import run_guard
    from abmq.tasks.catalog import SourceError

    handler = PrefectConsoleHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.getLogger().addHandler(handler)

    def record(exc: BaseException) -> logging.LogRecord:
        try:
            raise exc
        except BaseException:
            import sys

            return logging.LogRecord("prefect.task_runs", logging.ERROR, __file__, 1, "Task run failed: %r", (exc,), sys.exc_info())

    try:
        with run_guard.quiet_tracebacks((SourceError,)):
            assert handler.format(record(SourceError("events: no events.csv"))) == "Task run failed: SourceError('events: no events.csv')"
            assert "Traceback" in handler.format(record(KeyError("a bug")))  # unexpected: kept
        assert "Traceback" in handler.format(record(SourceError("x")))  # restored after the run
    finally:
        logging.getLogger().removeHandler(handler)


def test_error_lines_escape_control_characters(capsys):
    from abmq import cli

    cli._error("accounts.csv: bad value 'A\x00B\x1b[31m' [red]")
    assert "error: accounts.csv: bad value 'A\\x00B\\x1b[31m' [red]" in capsys.readouterr().err


def test_run_has_a_verbose_flag():
    result = runner.invoke(app, ["run", "--help"])
    assert "--verbose" in result.output


def test_a_temporary_server_that_does_not_start_is_one_line_with_the_fix(tmp_path, handbuilt_dir):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="0", PREFECT_HOME=str(tmp_path / "prefect"))
    done = subprocess.run(
        [sys.executable, "-m", "abmq.cli", "run", "--input", str(handbuilt_dir), "--out", str(tmp_path / "out"), "--as-of", "2026-11-25"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "PREFECT_API_URL" in errors[0] and "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" in errors[0]
    assert "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "out" / "report.html").exists()


def test_check_runs_the_gate_only_and_says_pass_or_fail(tmp_path, handbuilt_dir):
    """`abmq check`: ingest and the gate, no Prefect, nothing written; exit 0 or 1."""
    import shutil

    from steps import tree_digest

    before = tree_digest(handbuilt_dir)
    passed = runner.invoke(app, ["check", "--input", str(handbuilt_dir), "--as-of", "2026-11-25"])
    assert passed.exit_code == 0, passed.output
    assert "data-quality gate: passes" in passed.output and "events" in passed.output
    assert tree_digest(handbuilt_dir) == before
    broken = tmp_path / "input"
    shutil.copytree(handbuilt_dir, broken)
    accounts = pl.read_csv(broken / "accounts.csv", infer_schema=False)
    accounts.rename({"domain": "domian"}).write_csv(broken / "accounts.csv")
    failed = runner.invoke(app, ["check", "--input", str(broken), "--as-of", "2026-11-25"])
    assert failed.exit_code == 1
    assert "error: accounts (accounts.csv): required column 'domain' is missing (found 'domian'" in failed.output
    assert not any(p.name.startswith((".staging", "last_failure", "state")) for p in broken.iterdir())


def test_calibrate_takes_the_label_horizon_and_frequency(tmp_path, handbuilt_dir, prefect_harness):
    """The options reach the flow; history too short for the horizon is one clear line
    (the hand-built data has no opportunities). A publishing run: tests/test_calibration.py."""
    result = runner.invoke(
        app,
        [
            "calibrate",
            "--input",
            str(handbuilt_dir),
            "--out",
            str(tmp_path / "cal"),
            "--as-of",
            "2026-11-25",
            "--months",
            "3",
            "--label",
            "won",
            "--horizon-days",
            "30",
            "--frequency",
            "weekly",
        ],
    )
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "30-day label window" in errors[0], result.output
    assert "Traceback" not in result.output
    bad = runner.invoke(app, ["calibrate", "--input", str(handbuilt_dir), "--out", str(tmp_path / "x"), "--label", "closed"])
    assert bad.exit_code == 2
