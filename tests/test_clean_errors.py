"""Expected errors read as errors, not crashes: every blocking case of the bad-input corpus
(tests/test_bad_inputs.py), a bad config and a locked output folder, run as `abmq run`,
print their clear `error:` line and no traceback anywhere in the output, Prefect's own task
and flow logs included; the full traceback is kept in OUT/last_failure.

One child process runs every case in turn (one Python and Prefect start-up instead of one
per case) against the session's Prefect server; its stdout and stderr are one pipe, so the
output of each case is everything between two case markers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_bad_inputs import CASES

from abmq.resources import DEFAULT_CONFIG
from abmq.tasks.catalog import HISTORY_FILE

MARKER = "=== abmq case "

_CHILD = r"""
import json, sys
from abmq.cli import app
from abmq.tasks import catalog

real_lock = catalog.output_lock
# A locked folder makes a run wait 10 minutes for the other run; 1 s is enough to see the error.
catalog.output_lock = lambda out_dir, wait_seconds, holder, cleanup=None: real_lock(out_dir, 1, holder, cleanup)

for case in json.load(open(sys.argv[1])):
    print(f"=== abmq case {case['name']} start", flush=True)
    holder = None
    if case.get("lock"):
        holder = real_lock(case["lock"], 0, "another test run")
        holder.__enter__()
    code = 0
    try:
        app(case["args"], prog_name="abmq")
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    finally:
        if holder is not None:
            holder.__exit__(None, None, None)
    sys.stderr.flush()
    print(f"=== abmq case {case['name']} exit {code}", flush=True)
"""


def _blocking_cases() -> list:
    return [c for c in CASES if c.outcome[0] in ("source_error", "blocking")]


def _config_file(folder: Path, data_quality: dict) -> Path:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["data_quality"] = {**raw["data_quality"], **data_quality}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def case_outputs(handbuilt_dir, tmp_path_factory, prefect_harness) -> dict:
    from prefect.settings import PREFECT_API_URL

    root = tmp_path_factory.mktemp("clean-errors")
    runs, expected = [], {}
    for case in _blocking_cases():
        folder = root / case.name
        data = folder / "input"
        shutil.copytree(handbuilt_dir, data)
        case.breakage(data)
        args = ["run", "--input", str(data), "--out", str(folder / "out"), "--as-of", "2026-11-25"]
        if case.last_volumes:  # the volumes of an earlier good run, as the run history keeps them
            (folder / "out").mkdir()
            (folder / "out" / HISTORY_FILE).write_text(json.dumps([{"as_of": "2026-11-24", "rows_in": case.last_volumes}]))
        if case.config:
            args += ["--config", str(_config_file(folder, case.config))]
        runs.append({"name": case.name, "args": args})
        expected[case.name] = case.outcome[1]
    bad_config = root / "bad-config.yaml"
    bad_config.write_text(DEFAULT_CONFIG.read_text().replace("nurture_min_fit:", "nurture_min_fitt:"))
    runs.append(
        {"name": "bad-config", "args": ["run", "--input", str(handbuilt_dir), "--out", str(root / "x"), "--config", str(bad_config)]}
    )
    locked = root / "locked-out"
    locked.mkdir()
    runs.append(
        {
            "name": "locked-output",
            "args": ["run", "--input", str(handbuilt_dir), "--out", str(locked), "--as-of", "2026-11-25"],
            "lock": str(locked),
        }
    )
    plan = root / "cases.json"
    plan.write_text(json.dumps(runs))
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "NO_COLOR": "1", "COLUMNS": "400"}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(plan)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:]
    return {**_parse(done.stdout), "_expected": expected}


def _parse(stdout: str) -> dict[str, tuple[int, str]]:
    outputs, name, lines = {}, None, []
    for line in stdout.splitlines():
        if line.startswith(MARKER) and line.endswith(" start"):
            name, lines = line[len(MARKER) : -len(" start")], []
        elif name and line.startswith(f"{MARKER}{name} exit "):
            outputs[name] = (int(line.rsplit(" ", 1)[1]), "\n".join(lines))
            name = None
        elif name:
            lines.append(line)
    return outputs


@pytest.mark.parametrize("case", [c.name for c in _blocking_cases()])
def test_a_blocking_input_ends_with_its_error_and_no_traceback(case, case_outputs):
    code, output = case_outputs[case]
    assert code == 1, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    assert case_outputs["_expected"][case] in errors[0]
    assert "Traceback" not in output, output
    assert "Nothing was published" in output


def test_a_bad_config_is_one_error_line_before_anything_runs(case_outputs):
    code, output = case_outputs["bad-config"]
    assert code == 2, output
    assert [line for line in output.splitlines() if line.startswith("error:")][0].count("nurture_min_fitt") == 1
    assert "Traceback" not in output and "Prefect" not in output, output


def test_a_locked_output_folder_is_one_error_line(case_outputs):
    code, output = case_outputs["locked-output"]
    assert code == 1, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "another run is writing here" in errors[0], output
    assert "Traceback" not in output, output


def test_the_corpus_has_blocking_cases_of_both_kinds():
    kinds = {c.outcome[0] for c in _blocking_cases()}
    assert kinds == {"source_error", "blocking"} and len(_blocking_cases()) >= 15
