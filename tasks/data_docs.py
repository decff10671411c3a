"""GX Data Docs for a run: the standard GX pages of every suite and validation result.

GX stamps its pages with random element ids and load times; both are replaced with stable
values so that a rerun with the same inputs and as-of date writes the same bytes. The pages
are GX's own: they load GX's stylesheets and scripts from the web when online and stay
readable (unstyled) offline. The project's own report never loads anything.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from pathlib import Path
from typing import Any

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_LOAD_STAMP = re.compile(r"\?d=\d{8}T\d{6}\.\d+Z")


def build(results: dict[str, tuple[dict[str, Any], Any]], target: Path, as_of: dt.date) -> Path:
    """Write Data Docs for {source: (suite JSON, GX validation result, or its JSON)} into `target`."""
    import great_expectations as gx
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResultSchema
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    target = Path(target).resolve()  # GX wants an absolute folder; --out may be relative
    context = gx.get_context(mode="ephemeral")
    context.add_data_docs_site(
        site_name="run",
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(target)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    clock = dt.datetime.combine(as_of, dt.time.min, tzinfo=dt.timezone.utc)
    stamp = clock.strftime("%Y%m%dT%H%M%S.%fZ")
    run_id = RunIdentifier(run_name=f"as-of-{as_of.isoformat()}", run_time=clock)
    for source, (suite, result) in sorted(results.items()):
        if isinstance(result, dict):  # a result read back from the export store (tasks/remembered.py)
            result = ExpectationSuiteValidationResultSchema().load(result)
        context.suites.add(gx.ExpectationSuite(**suite))
        # The run's clock is the as-of date, not the wall clock.
        result.meta["run_id"] = run_id
        result.meta["validation_time"] = stamp
        if isinstance(result.meta.get("batch_markers"), dict):
            result.meta["batch_markers"]["ge_load_time"] = stamp
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=source), run_id=run_id, batch_identifier=source
        )
        context.validation_results_store.set(key, result)
    context.build_data_docs(site_names=["run"])
    for page in target.rglob("*.html"):
        page.write_text(_stable(page.read_text(encoding="utf-8")), encoding="utf-8")
    return target / "index.html"


def _stable(html: str) -> str:
    numbers: dict[str, str] = {}
    counter = itertools.count(1)
    html = _UUID.sub(lambda m: numbers.setdefault(m.group(0), f"id-{next(counter)}"), html)
    return _LOAD_STAMP.sub("", html)
