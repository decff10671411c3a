"""Fuzz (issue 14): small valid inputs with their bytes corrupted, through staging and the
data-quality gate (in-process, hypothesis) and through the whole `abmq run` command (a fixed
sample, as subprocesses).

Every run must end in one of the two ordinary ways: a clear one-line error (exit 1: a
`SourceError` or `DataQualityError`) or a result (exit 0) in which, for every source,
rows in = rows used + rows quarantined + duplicates merged, and no text value anywhere
(kept or quarantined rows, report examples, output files) carries a character that
tasks/text_safety.py removes. Nothing else: no other exception, no traceback, no hang.

Corruptions: truncation, NUL and other control characters, DEL, U+FFFE/U+FFFF, stray quotes,
Latin-1 and CESU-8 (surrogate) bytes amid UTF-8, duplicated or missing headers, duplicated
header names, extra fields, dropped and duplicated lines, CRLF line ends, a BOM, huge fields,
huge lines and random bytes. `ABMQ_FUZZ_EXAMPLES=500` runs more examples than CI does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import handbuilt
import polars as pl
import pytest
from cli_runs import Run, free_port, wait_until_gone
from corruptions import CORRUPTIONS, corrupt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from steps import run_steps

from abmq.config import Limits, load_config
from abmq.tasks import text_safety
from abmq.tasks.catalog import SourceError
from abmq.tasks.validate import DataQualityError

SOURCES = ["accounts", "contacts", "events", "intent", "technographics", "crm_customers", "crm_open_opportunities", "competitors"]
# Small limits for the in-process runs, so a "huge" field costs kilobytes, not megabytes.
FUZZ_LIMITS = Limits(max_field_bytes=2048, max_row_bytes=8192, max_columns=40)
EXAMPLES = int(os.environ.get("ABMQ_FUZZ_EXAMPLES", "40"))

corruption = st.tuples(st.sampled_from(sorted(CORRUPTIONS)), st.floats(0, 1), st.integers(0, 10_000))
corruptions = st.tuples(st.sampled_from(SOURCES), st.lists(corruption, min_size=1, max_size=3))


def unsafe_strings(value: Any, where: str = "") -> list[str]:
    """Paths of every text value, key or column name under `value` with an unsafe character."""
    found = []
    if isinstance(value, str):
        if not text_safety.is_clean(value):
            found.append(where)
    elif isinstance(value, pl.DataFrame):
        found += [f"{where}.columns" for c in value.columns if not text_safety.is_clean(c)]
        for name, dtype in value.schema.items():
            if dtype == pl.String and value[name].str.contains(text_safety.UNSAFE_PATTERN).any():
                found.append(f"{where}.{name}")
    elif isinstance(value, dict):
        for key, item in value.items():
            found += unsafe_strings(key, f"{where}.key") + unsafe_strings(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found += unsafe_strings(item, f"{where}[{index}]")
    return found


def assert_accounted(quality: dict) -> None:
    for row in quality["sources"]:
        assert row["rows_in"] == row["rows_used"] + row["rows_quarantined"] + row["duplicates_merged"], row


@pytest.fixture(scope="module")
def fuzz_config():
    """The default config with smaller size limits, so the corpus reaches them quickly."""
    return load_config().model_copy(update={"limits": FUZZ_LIMITS})


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=corruptions)
def test_corrupted_bytes_end_in_a_clear_error_or_an_accounted_result(case, handbuilt_dir, tmp_path_factory, fuzz_config):
    source, steps = case
    data = tmp_path_factory.mktemp("fuzz") / "input"
    shutil.copytree(handbuilt_dir, data)
    corrupt(data, source, steps)
    try:
        result = run_steps(data, handbuilt.AS_OF, fuzz_config)
    except (SourceError, DataQualityError) as error:
        message = str(error)
        assert message and "\n" not in message and text_safety.is_clean(message), repr(message)
        return
    finally:
        shutil.rmtree(data.parent, ignore_errors=True)
    assert_accounted(result["quality"])
    assert not unsafe_strings(result["quality"], "quality")
    assert not unsafe_strings(result["accounts"], "accounts")
    assert not unsafe_strings(result["contacts"], "contacts")
    for name, data_ in result["sources"].items():
        assert not unsafe_strings(data_.quarantined, f"{name}.quarantined")
        assert not unsafe_strings(data_.unknown_columns, f"{name}.unknown_columns")


# --- the whole command on a fixed sample --------------------------------------------------------


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory):
    """One Prefect server for the sample's runs (a temporary one per run costs ~10 s each)."""
    port = free_port()
    home = tmp_path_factory.mktemp("prefect-home")
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            pytest.fail("the Prefect server for the fuzz sample did not start")
        time.sleep(0.5)
    yield {"PREFECT_API_URL": url, "PREFECT_HOME": str(home)}
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


def _replace_in(source: str, old: bytes, new: bytes):
    def apply(folder: Path) -> None:
        path = folder / f"{source}.csv"
        data = path.read_bytes()
        assert old in data
        path.write_bytes(data.replace(old, new, 1))

    return apply


def _rewrite(source: str, change):
    def apply(folder: Path) -> None:
        path = folder / f"{source}.csv"
        path.write_bytes(change(path.read_bytes()))

    return apply


# name -> (corruption, expected exit code, text the output must hold)
SAMPLE = {
    # the two cases: NUL bytes in an account name, a 2 MB company name
    "nul-in-an-account-name": (_replace_in("accounts", b"Acme Software", b"Acme\x00\x00 Software"), 0, "flow finished"),
    "2-mb-company-name": (
        _replace_in("accounts", b"Quiet Clinics", b"Q" * 2_000_000),
        1,
        "has a value over limits.max_field_bytes (65,536 bytes) in column 'name'",
    ),
    "8-mb-line-without-a-line-break": (
        _rewrite("intent", lambda d: d + b"Z," * 4_000_000),
        1,
        "line 8 runs past limits.max_row_bytes (1,048,576 bytes)",
    ),
    "8-mb-value": (
        _rewrite("intent", lambda d: d + b"Z" * 8_000_000),
        1,
        "line 8 has a value over limits.max_field_bytes (65,536 bytes) in column 'domain'",
    ),
    "control-characters-and-crlf-in-contacts": (
        _rewrite("contacts", lambda d: d.replace(b"Director of Marketing", b"Director\x1b[31m of\x07 Marketing").replace(b"\n", b"\r\n")),
        0,
        "flow finished",
    ),
    "latin-1-in-a-row": (_replace_in("accounts", b"Hooli", "H\u00f6oli".encode("latin-1")), 1, "not UTF-8 text"),
    "header-lost": (_rewrite("events", lambda d: d.split(b"\n", 1)[1]), 1, "error: "),
}


# The whole command (a subprocess, ~5-17 s each) on the cases that end each way: the vl-convert
# crash the issue found, a success with text cleaned, a line limit and an encoding error. Every
# sample case's message is checked in process below.
WHOLE_COMMAND = ["nul-in-an-account-name", "control-characters-and-crlf-in-contacts", "8-mb-line-without-a-line-break", "latin-1-in-a-row"]


@pytest.mark.parametrize("name", [n for n in SAMPLE if SAMPLE[n][1] == 1])
def test_each_sample_error_in_process(name, handbuilt_dir, tmp_path):
    change, _, expected_text = SAMPLE[name]
    data = tmp_path / "input"
    shutil.copytree(handbuilt_dir, data)
    change(data)
    with pytest.raises((SourceError, DataQualityError)) as raised:
        run_steps(data, handbuilt.AS_OF)
    message = str(raised.value)
    assert message and "\n" not in message and text_safety.is_clean(message)
    assert expected_text.removeprefix("error: ") in message


@pytest.mark.parametrize("name", WHOLE_COMMAND)
def test_whole_command_on_a_corrupted_input(name, handbuilt_dir, tmp_path, prefect_api):
    change, expected_code, expected_text = SAMPLE[name]
    data = tmp_path / "input"
    shutil.copytree(handbuilt_dir, data)
    change(data)
    out = tmp_path / "out"
    run = Run(["run", "--input", str(data), "--out", str(out), "--as-of", handbuilt.AS_OF.isoformat()], env=prefect_api)
    try:
        code = run.finish(timeout=240)
        output = run.output
        assert code in (0, 1), output[-3000:]
        assert code == expected_code, output[-3000:]
        assert expected_text in output, output[-3000:]
        assert "Traceback" not in output and "unexpected " not in output, output[-3000:]
        assert not wait_until_gone(run.marker, timeout=30)
        if code == 1:
            assert output.rstrip().splitlines()[-2].startswith("error: "), output[-2000:]
            return
        summary = json.loads((out / "dq" / "summary.json").read_text(encoding="utf-8"))
        assert_accounted(summary)
        for path in out.rglob("*"):
            if path.is_file() and path.suffix in (".html", ".csv", ".json", ".md", ".txt", ".svg"):
                text = path.read_text(encoding="utf-8")
                assert text_safety.is_clean(text.replace("\n", "").replace("\r", "")), path
            elif path.is_file() and path.suffix == ".parquet":
                assert not unsafe_strings(pl.read_parquet(path), str(path))
    finally:
        run.kill_all()


# Found by this fuzz test: a key column misspelt in the header made the gate crash
# (TypeError formatting a rule without row counts; ColumnNotFoundError selecting quarantine
# rows for `account_found`) instead of naming the column.
@pytest.mark.parametrize(
    "source, old, new",
    [
        ("accounts", b"account_id,domain,", b"account_id,domian,"),
        ("technographics", b"domain,", b"dom,"),
    ],
)
def test_a_misspelt_key_column_is_a_clear_error(source, old, new, handbuilt_dir, tmp_path):
    data = tmp_path / "input"
    shutil.copytree(handbuilt_dir, data)
    _replace_in(source, old, new)(data)
    with pytest.raises(DataQualityError, match="required column 'domain' is missing"):
        run_steps(data, handbuilt.AS_OF)
