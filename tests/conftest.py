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
