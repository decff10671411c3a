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
    ending = result.output[result.output.rindex("error: "):]
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
    three = runner.invoke(app, ["run", "--input", str(handbuilt_dir), "--out", str(tmp_path / "three"), "--as-of", "2026-11-25", "--shards", "3"])
    assert one.exit_code == three.exit_code == 0, three.output
    assert (tmp_path / "one" / "targets.csv").read_bytes() == (tmp_path / "three" / "targets.csv").read_bytes()
