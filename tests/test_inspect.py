"""`abmq inspect`: an input folder's exports against the input contract, from their headers and
first rows (tasks/inspect.py). The folder is the hand-built dataset with HubSpot exports as
accounts.csv and contacts.csv and no mapping: the headers are guessed from common export names,
a misspelt header is a near-match, a misspelt country is named, and the starter mapping it
writes lets `abmq check --mapping` pass."""

from __future__ import annotations

import shutil
from pathlib import Path

import handbuilt
import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from abmq.cli import app
from abmq.config import SourceMapping, load_config
from abmq.tasks import inspect
from abmq.tasks.sources import SOURCES

HUBSPOT = Path(__file__).parent / "fixtures" / "presets" / "hubspot"


@pytest.fixture
def exports(tmp_path) -> Path:
    """Hand-built data; accounts and contacts as HubSpot exports them, with a typo in the
    industry header and 'Untied States' for the duplicate Umbrella row (kept aside at a run)."""
    folder = handbuilt.write(tmp_path / "input")
    companies = pl.read_csv(HUBSPOT / "hubspot-crm-exports-all-companies-2026-11-24.csv", infer_schema=False)
    companies = companies.rename({"Industry": "Industy"}).with_columns(
        pl.when(pl.col("Record ID") == "9").then(pl.lit("Untied States")).otherwise(pl.col("Country/Region")).alias("Country/Region")
    )
    companies.write_csv(folder / "accounts.csv")
    shutil.copy(HUBSPOT / "hubspot-crm-exports-all-contacts-2026-11-24.csv", folder / "contacts.csv")
    return folder


def test_headers_map_by_mapping_contract_name_or_guess_with_near_matches():
    spec = SOURCES["accounts"]
    headers = ["Record ID", "Company name", "Website", "Industy", "Number of Employees", "Revenue", "Country/Region", "Phone"]
    own = SourceMapping(columns={"Company name": "name"})
    matches = {m.column: m for m in inspect.match_columns(spec, headers, own)}
    assert (matches["name"].header, matches["name"].how) == ("Company name", "mapping")
    assert (matches["domain"].header, matches["domain"].how) == ("Website", "guessed")
    assert (matches["account_id"].header, matches["employees"].header, matches["annual_revenue"].header) == (
        "Record ID",
        "Number of Employees",
        "Revenue",
    )
    assert matches["industry"].missing and matches["industry"].near == ("Industy",)


def test_recognised_shares_name_the_values_not_recognised():
    frame = pl.DataFrame(
        {
            "country": ["United States"] * 4 + ["Untied States"] * 2 + ["Narnia", None],
            "employees": ["200-499", "1,000-4,999", "5001+", "1200", "lots", "", "10", "20"],
        }
    )
    results, guesses = inspect.recognise(frame, SOURCES["accounts"], None)
    country, employees = (next(r for r in results if r.column == c) for c in ("country", "employees"))
    # 7 countries given, 4 recognised by name (with the iso_country format it guesses)
    assert (country.checked, country.recognised, country.unrecognised) == (7, 4, (("Untied States", 2), ("Narnia", 1)))
    assert guesses == {"country": "iso_country", "employees": "band"}
    assert (employees.checked, employees.recognised, employees.unrecognised) == (7, 6, (("lots", 1),))


def test_dates_are_read_in_the_format_that_reads_them():
    frame = pl.DataFrame({"event_id": ["1", "2"], "occurred_at": ["11/20/2026 3:05 PM", "11/24/2026 9:30 AM"]})
    results, guesses = inspect.recognise(frame, SOURCES["events"], None)
    assert guesses == {"occurred_at": {"format": "%m/%d/%Y %I:%M %p", "timezone": "UTC"}}
    assert next(r for r in results if r.column == "occurred_at").share == 1.0


def test_inspect_end_to_end_writes_a_mapping_check_accepts(exports, tmp_path):
    runner = CliRunner()
    starter = tmp_path / "mapping.yaml"
    result = runner.invoke(app, ["inspect", "--input", str(exports), "--write-mapping", str(starter)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    output = result.output
    assert "accounts: accounts.csv, 11 rows read" in output
    assert "contacts: contacts.csv, 16 rows read" in output
    assert "opportunities: no file found" in output
    assert "industry         missing (required); near: 'Industy'" in output
    assert "domain           <- 'Company Domain Name' (guessed)" in output
    assert "country: 91% recognised as a country (with formats: iso_country); 'Untied States' ×1 not" in output
    assert "seniority        not found (derived from the title)" in output
    written = yaml.safe_load(starter.read_text())["sources"]
    assert written["accounts"]["columns"]["Industy"] == "industry"  # the near-match, to check
    assert written["accounts"]["formats"] == {"employees": "band", "annual_revenue": "band", "country": "iso_country"}
    assert written["contacts"]["columns"]["Associated Company ID"] == "account_id"
    load_config(None, starter)  # a valid mapping file
    again = runner.invoke(app, ["inspect", "--input", str(exports), "--write-mapping", str(starter)])
    assert again.exit_code == 2 and "pass --force" in again.output
    check = runner.invoke(app, ["check", "--input", str(exports), "--as-of", "2026-11-25", "--mapping", str(starter)])
    assert check.exit_code == 0, check.output
    assert "data-quality gate: passes" in check.output


def test_inspect_with_a_preset_and_a_missing_folder(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["inspect", "--input", str(HUBSPOT), "--preset", "hubspot", "--preset", "trustradius"])
    assert result.exit_code == 0, result.output
    assert "accounts: hubspot-crm-exports-all-companies-2026-11-24.csv" in result.output
    assert "score            <- 'Activity Label' (mapping); score: 100% recognised as a score 0-100" in result.output
    missing = runner.invoke(app, ["inspect", "--input", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_exports_no_source_reads_are_named_with_the_preset_that_reads_them(tmp_path):
    """HubSpot's file names without --preset: no source finds them; inspect says which preset would."""
    result = CliRunner().invoke(app, ["inspect", "--input", str(HUBSPOT)], env={"NO_COLOR": "1", "COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert "accounts: no file found" in result.output
    hints = [line for line in result.output.splitlines() if line.startswith("not read by any source")]
    assert "hubspot-crm-exports-all-companies-2026-11-24.csv; read it with --preset hubspot (accounts)" in hints[0]
    assert any("trustradius-intent-2026-11-24.csv; read it with --preset trustradius (intent)" in h for h in hints)
    assert not any("technographics.csv" in h for h in hints)  # read by its source under its contract name
    with_preset = CliRunner().invoke(app, ["inspect", "--input", str(HUBSPOT), "--preset", "hubspot"], env={"NO_COLOR": "1"})
    assert "hubspot-crm-exports-all-companies" not in "".join(
        line for line in with_preset.output.splitlines() if line.startswith("not read by any source")
    )


def test_a_file_no_source_or_preset_reads_is_named_with_the_source_its_headers_look_like(tmp_path):
    folder = handbuilt.write(tmp_path / "input")
    events = pl.read_csv(folder / "events.csv", infer_schema=False)
    (folder / "events.csv").unlink()
    events.rename(
        {"event_id": "Activity ID", "contact_id": "Contact ID", "event_type": "Activity", "occurred_at": "Activity Date"}
    ).write_csv(folder / "activities.csv")
    pl.DataFrame({"Notes": ["a"], "Colour": ["b"]}).write_csv(folder / "misc.csv")
    result = CliRunner().invoke(app, ["inspect", "--input", str(folder)], env={"NO_COLOR": "1", "COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert "events: no file found" in result.output
    assert (
        "not read by any source: activities.csv; read it with a `files: [activities.csv]` entry under sources.events "
        "(it looks like events: 4 of 4 required columns)" in result.output
    )
    assert "not read by any source: misc.csv; name it in a source's `files:` to read it" in result.output
    assert inspect.likely_source(["Email", "First Name"]) is None  # 2 of contacts' 5 required: not enough
