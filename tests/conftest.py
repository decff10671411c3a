import datetime as dt
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import handbuilt  # noqa: E402


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect API for the whole session (a fresh one per test costs ~12 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(autouse=True)
def prefect_console_on_a_live_stream():
    """Typer's CliRunner swaps sys.stderr for a stream of its own during `invoke` and closes it
    after. If Prefect configures its logging during one (a Prefect server app's setup does),
    its console handler on the root logger keeps that closed stream, and every later log line
    becomes a "--- Logging error ---" traceback in the next command's output. After each test,
    such a handler writes to the live sys.stderr again (a real `abmq` process never swaps it)."""
    yield
    handlers = sys.modules.get("prefect.logging.handlers")
    if handlers is None:
        return
    import logging

    for handler in logging.getLogger().handlers:
        if isinstance(handler, handlers.PrefectConsoleHandler) and getattr(handler.stream, "closed", False):
            handler.stream = sys.stderr  # not setStream: it flushes the closed one first
            handler.console.file = sys.stderr


@pytest.fixture(scope="session")
def handbuilt_dir(tmp_path_factory) -> Path:
    return handbuilt.write(tmp_path_factory.mktemp("handbuilt") / "input")


@pytest.fixture(scope="session")
def handbuilt_result(handbuilt_dir):
    from steps import run_steps

    return run_steps(handbuilt_dir, as_of=handbuilt.AS_OF)


@pytest.fixture(scope="session")
def as_of() -> dt.date:
    return handbuilt.AS_OF


# The longest test files (minutes of flow runs, real servers and subprocesses), started first so
# that the shorter ones fill in around them on the other worker instead of one long file ending
# the run alone.
SLOW_FIRST = (
    "test_incremental.py",
    "test_deployment.py",
    "test_fuzz.py",
    "test_orphans.py",
    "test_object_store.py",
    "test_cli.py",
    "test_clean_errors.py",
    "test_flow.py",
    "test_operations.py",
    "test_optional_columns.py",
    "test_calibration.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {name: position for position, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FIRST)))  # stable: order within a file kept
