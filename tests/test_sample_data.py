"""Tests for abmq.sample_data: contract, determinism, vocabularies, dirty data, realism, layout, scale."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from abmq import vocabulary
from abmq.sample_data import XL_PARAMS, generate

AS_OF = dt.date(2025, 6, 15)  # a Sunday: the latest intent week is Monday 2025-06-09
SMALL = 300
DIRTY = 2_000  # large enough that every dirty share rounds to at least one row

# The pipeline's input contract, written out independently of the module.
CONTRACT: dict[str, dict[str, pl.DataType]] = {
    "accounts": {
        "account_id": pl.String,
        "domain": pl.String,
        "name": pl.String,
        "industry": pl.String,
        "employees": pl.Int64,
        "annual_revenue": pl.Float64,
        "country": pl.String,
        "region": pl.String,
        "owner": pl.String,
    },
    "technographics": {
        "domain": pl.String,
        "technology": pl.String,
        "category": pl.String,
        "first_seen": pl.Date,
        "last_seen": pl.Date,
    },
    "intent": {"domain": pl.String, "topic": pl.String, "week": pl.Date, "score": pl.Int64},
    "contacts": {
        "contact_id": pl.String,
        "email": pl.String,
        "first_name": pl.String,
        "last_name": pl.String,
        "title": pl.String,
        "department": pl.String,
        "seniority": pl.String,
        "domain": pl.String,
    },
    "events": {
        "event_id": pl.String,
        "contact_id": pl.String,
        "event_type": pl.String,
        "occurred_at": pl.Datetime("us", "UTC"),
        "detail": pl.String,
    },
    "crm_customers": {"domain": pl.String},
    "crm_open_opportunities": {"domain": pl.String, "created_at": pl.Date},
    "competitors": {"domain": pl.String, "name": pl.String},
    "opportunities": {
        "opportunity_id": pl.String,
        "domain": pl.String,
        "created_at": pl.Date,
        "closed_at": pl.Date,
        "outcome": pl.String,
        "amount": pl.Float64,
    },
}
EVENT_TYPES = set(vocabulary.EVENT_TYPES)
SENIORITIES = {"c_level", "vp", "director", "manager", "individual_contributor"}
DEPARTMENTS = {"executive", "it", "security", "engineering", "finance", "marketing", "sales", "operations", "hr"}
REGION_OF = {
    "US": "NA",
    "CA": "NA",
    "GB": "EMEA",
    "IE": "EMEA",
    "DE": "EMEA",
    "FR": "EMEA",
    "NL": "EMEA",
    "ES": "EMEA",
    "IT": "EMEA",
    "ZA": "EMEA",
    "AU": "APAC",
    "IN": "APAC",
    "JP": "APAC",
    "SG": "APAC",
    "BR": "LATAM",
    "MX": "LATAM",
}
END_OF_AS_OF = dt.datetime.combine(AS_OF + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)


def _norm_domain(expr: pl.Expr) -> pl.Expr:
    """What the pipeline does to domains: lowercase, strip scheme, www. and trailing slash."""
    return expr.str.strip_chars().str.to_lowercase().str.replace(r"^https?://", "").str.replace(r"^www\.", "").str.strip_chars_end("/")


def _read(directory: Path, name: str, fmt: str = "parquet") -> pl.DataFrame:
    path = directory / f"{name}.{fmt}"
    return pl.read_parquet(path) if fmt == "parquet" else pl.read_csv(path, schema=CONTRACT[name])


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("small")
    return out, generate(out, SMALL, seed=7, as_of=AS_OF, fmt="parquet", progress=False)


@pytest.fixture(scope="module")
def dirty(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pl.DataFrame]:
    out = tmp_path_factory.mktemp("dirty")
    generate(out, DIRTY, seed=7, as_of=AS_OF, progress=False)
    return {name: _read(out, name) for name in CONTRACT}


# --------------------------------------------------------------------------
# API and determinism
# --------------------------------------------------------------------------
def test_as_of_is_required(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="as_of"):
        generate(tmp_path, 10, progress=False)


def test_rejects_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fmt"):
        generate(tmp_path, 10, as_of=AS_OF, fmt="xlsx", progress=False)


def test_returns_row_counts_per_file(small: tuple[Path, dict[str, int]]) -> None:
    out, counts = small
    assert set(counts) == {f"{name}.parquet" for name in CONTRACT}
    for name in CONTRACT:
        assert counts[f"{name}.parquet"] == _read(out, name).height


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_same_inputs_give_identical_bytes(tmp_path: Path, fmt: str) -> None:
    generate(tmp_path / "a", SMALL, seed=3, as_of=AS_OF, fmt=fmt, progress=False)
    generate(tmp_path / "b", SMALL, seed=3, as_of=AS_OF, fmt=fmt, progress=False)
    for name in CONTRACT:
        assert (tmp_path / "a" / f"{name}.{fmt}").read_bytes() == (tmp_path / "b" / f"{name}.{fmt}").read_bytes(), name


def test_seed_changes_the_data(tmp_path: Path, small: tuple[Path, dict[str, int]]) -> None:
    generate(tmp_path, SMALL, seed=8, as_of=AS_OF, progress=False)
    assert not _read(tmp_path, "accounts").equals(_read(small[0], "accounts"))


def test_csv_and_parquet_hold_the_same_data(tmp_path: Path, small: tuple[Path, dict[str, int]]) -> None:
    counts = generate(tmp_path, SMALL, seed=7, as_of=AS_OF, fmt="csv", progress=False)
    assert sorted(counts.values()) == sorted(small[1].values())
    for name in CONTRACT:
        assert_frame_equal(_read(tmp_path, name, "csv"), _read(small[0], name))
    # Timestamps are ISO-8601 with an explicit UTC designator.
    second_line = (tmp_path / "events.csv").read_text().splitlines()[1]
    assert second_line.split(",")[3].endswith("Z")


def test_csv_header_matches_contract(tmp_path: Path) -> None:
    generate(tmp_path, 20, as_of=AS_OF, fmt="csv", progress=False)
    for name, schema in CONTRACT.items():
        header = (tmp_path / f"{name}.csv").read_text().splitlines()[0]
        assert header.split(",") == list(schema), name


def test_tiny_run_still_writes_every_file(tmp_path: Path) -> None:
    counts = generate(tmp_path, 2, as_of=AS_OF, progress=False)
    for name, schema in CONTRACT.items():
        assert _read(tmp_path, name).schema == pl.Schema(schema), name
    assert counts["competitors.parquet"] == 2


# --------------------------------------------------------------------------
# Contract and vocabularies
# --------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(CONTRACT))
def test_columns_and_dtypes_match_contract(small: tuple[Path, dict[str, int]], name: str) -> None:
    frame = _read(small[0], name)
    assert frame.schema == pl.Schema(CONTRACT[name])
    assert frame.height > 0


def test_id_formats(small: tuple[Path, dict[str, int]]) -> None:
    out = small[0]
    assert _read(out, "accounts")["account_id"].str.contains(r"^A\d{7}$").all()
    assert _read(out, "contacts")["contact_id"].str.contains(r"^C\d{7}$").all()
    assert _read(out, "events")["event_id"].str.contains(r"^E\d{9}$").all()
    assert _read(out, "accounts")["account_id"].is_unique().all()
    assert _read(out, "contacts")["contact_id"].is_unique().all()


def test_vocabularies(dirty: dict[str, pl.DataFrame]) -> None:
    assert set(dirty["events"]["event_type"].unique()) == EVENT_TYPES
    contacts = dirty["contacts"]
    assert set(contacts["seniority"].drop_nulls().unique()) == SENIORITIES
    assert set(contacts["department"].drop_nulls().unique()) == DEPARTMENTS
    accounts = dirty["accounts"]
    assert set(accounts["region"].unique()) == {"NA", "EMEA", "APAC", "LATAM"}
    assert accounts["owner"].n_unique() == 12
    checked = accounts.drop_nulls("country")
    assert (checked["country"].replace_strict(REGION_OF) == checked["region"]).all()
    assert set(dirty["opportunities"]["outcome"].drop_nulls().unique()) == {"won", "lost"}


def test_firmographic_shape(dirty: dict[str, pl.DataFrame]) -> None:
    accounts = dirty["accounts"]
    assert accounts["employees"].drop_nulls().is_between(10, 200_000).all()
    assert 250 <= accounts["employees"].median() <= 550
    icp_industries = accounts["industry"].is_in(["Software", "Financial Services", "Healthcare"]).mean()
    assert 0.30 <= icp_industries <= 0.40
    assert 0.40 <= (accounts["country"] == "US").mean() <= 0.50
    in_band = (
        accounts.filter(pl.col("employees").is_between(200, 5_000) & pl.col("annual_revenue").is_between(20e6, 1e9)).height
        / accounts.height
    )
    assert 0.30 <= in_band <= 0.45


def test_technographics_dates(dirty: dict[str, pl.DataFrame]) -> None:
    tech = dirty["technographics"]
    assert (tech["first_seen"] <= tech["last_seen"]).all()
    assert (tech["last_seen"] <= AS_OF).all()
    per_account = tech.group_by("domain").len()["len"]
    assert per_account.min() >= 2 and per_account.max() <= 6


def test_intent_scores_and_weeks(dirty: dict[str, pl.DataFrame]) -> None:
    intent = dirty["intent"]
    assert intent["score"].is_between(0, 100).all()
    assert (intent["week"].dt.weekday() == 1).all()  # polars: Monday == 1
    last_monday = AS_OF - dt.timedelta(days=AS_OF.weekday())
    assert intent["week"].max() == last_monday
    assert intent["week"].min() == last_monday - dt.timedelta(weeks=11)
    assert (intent["score"] >= 60).any()
    assert intent["score"].median() < 55


def test_events_window(dirty: dict[str, pl.DataFrame]) -> None:
    occurred = dirty["events"]["occurred_at"]
    start = END_OF_AS_OF - dt.timedelta(days=365)
    assert (occurred >= start).all()
    assert (occurred < END_OF_AS_OF + dt.timedelta(days=10)).all()
    assert dirty["events"]["contact_id"].is_in(dirty["contacts"]["contact_id"].implode()).all()


def test_buying_groups(dirty: dict[str, pl.DataFrame]) -> None:
    contacts = dirty["contacts"]
    email_domain = pl.col("email").str.split("@").list.get(1).str.to_lowercase()
    accounts = dirty["accounts"].select(_norm_domain(pl.col("domain")).alias("d")).unique()
    per_account = contacts.select(d=email_domain).join(accounts, on="d").group_by("d").len()["len"]
    assert per_account.min() >= 2 and per_account.max() <= 12
    assert 4.5 <= per_account.mean() <= 7.5
    assert contacts["email"].is_unique().all()
    assert 0.10 <= contacts["domain"].null_count() / contacts.height <= 0.20


# --------------------------------------------------------------------------
# Dirty data (deterministic shares; DIRTY accounts guarantee at least one each)
# --------------------------------------------------------------------------
def test_domain_variants_and_duplicate_companies(dirty: dict[str, pl.DataFrame]) -> None:
    domains = dirty["accounts"].select(raw=pl.col("domain"), norm=_norm_domain(pl.col("domain")))
    assert (domains["raw"] != domains["norm"]).sum() >= DIRTY * 0.01
    duplicated = domains.filter(pl.col("norm").is_duplicated())
    assert duplicated.height >= 2
    assert duplicated["raw"].n_unique() == duplicated.height  # same company, spelled differently
    assert dirty["accounts"].height > DIRTY


def test_missing_firmographics(dirty: dict[str, pl.DataFrame]) -> None:
    accounts = dirty["accounts"]
    firmographics = pl.col("industry", "employees", "annual_revenue")
    missing = accounts.select(pl.any_horizontal(firmographics.is_null())).to_series()
    assert 0.02 <= missing.mean() <= 0.05


def test_orphan_contacts(dirty: dict[str, pl.DataFrame]) -> None:
    contacts = dirty["contacts"]
    known = dirty["accounts"].select(_norm_domain(pl.col("domain"))).to_series().implode()
    email_domain = pl.col("email").str.split("@").list.get(1).str.to_lowercase()
    unknown_domain = pl.col("domain").is_null() | ~pl.col("domain").is_in(known)
    orphans = contacts.filter(~email_domain.is_in(known) & unknown_domain)
    assert 0.005 <= orphans.height / contacts.height <= 0.02
    # E-mail domains in a different case still point at real accounts.
    assert contacts["email"].str.contains("[A-Z]").any()


def test_future_and_duplicate_events(dirty: dict[str, pl.DataFrame]) -> None:
    events = dirty["events"]
    future = (events["occurred_at"] >= END_OF_AS_OF).sum()
    assert 1 <= future <= events.height * 0.002
    repeated = events.filter(pl.col("event_id").is_duplicated())
    assert repeated.height >= 2
    assert repeated.unique().height == repeated["event_id"].n_unique()  # exact copies


# --------------------------------------------------------------------------
# CRM consistency and signal
# --------------------------------------------------------------------------
def test_crm_tables_agree(dirty: dict[str, pl.DataFrame]) -> None:
    opps, customers = dirty["opportunities"], dirty["crm_customers"]
    open_opps = opps.filter(pl.col("closed_at").is_null())
    assert open_opps["outcome"].is_null().all()
    assert_frame_equal(
        dirty["crm_open_opportunities"].sort("domain", "created_at"),
        open_opps.select("domain", "created_at").sort("domain", "created_at"),
    )
    won = opps.filter(pl.col("outcome") == "won")["domain"]
    assert won.is_in(customers["domain"].implode()).all()
    assert customers.height > won.n_unique()  # plus a few legacy customers
    closed = opps.drop_nulls("closed_at")
    assert (closed["created_at"] <= closed["closed_at"]).all() and (closed["closed_at"] <= AS_OF).all()
    assert 0.2 <= (closed["outcome"] == "won").mean() <= 0.4
    assert 0.05 <= opps["domain"].n_unique() / DIRTY <= 0.12
    competitors = dirty["competitors"]
    assert 3 <= competitors.height <= 6
    assert competitors["domain"].is_in(dirty["accounts"]["domain"].implode()).all()


def test_engagement_predicts_opportunities(dirty: dict[str, pl.DataFrame]) -> None:
    """Accounts that opened opportunities engaged more, and in-market activity is rising."""
    email_domain = pl.col("email").str.split("@").list.get(1).str.to_lowercase().alias("d")
    per_domain = (
        dirty["events"]
        .join(dirty["contacts"].select("contact_id", email_domain), on="contact_id")
        .group_by("d")
        .agg(
            total=pl.len(),
            last30=(pl.col("occurred_at") >= END_OF_AS_OF - dt.timedelta(days=30)).sum(),
            prev30=pl.col("occurred_at")
            .is_between(END_OF_AS_OF - dt.timedelta(days=60), END_OF_AS_OF - dt.timedelta(days=30), closed="left")
            .sum(),
        )
    )
    with_opp = pl.col("d").is_in(dirty["opportunities"]["domain"].implode())
    assert per_domain.filter(with_opp)["total"].mean() > 1.5 * per_domain.filter(~with_opp)["total"].mean()
    most_active = per_domain.sort("last30", descending=True).head(DIRTY // 10)
    assert most_active["last30"].sum() > 1.3 * most_active["prev30"].sum()
    assert 35 <= dirty["events"].height / DIRTY <= 65


# --------------------------------------------------------------------------
# Daily event layout and scale knobs
# --------------------------------------------------------------------------
# sha256 of the csv output (SMALL accounts, seed 7, AS_OF) before the layout and
# scale options existed: defaults must keep the data byte for byte.  csv, and only
# tables without floats, so the hashes do not depend on writer versions.  Update
# them deliberately, and only when the generator is meant to change.
GOLDEN_CSV_SHA256 = {
    "contacts.csv": "d0c43d8b22e238629735feadd6f30f86085a40766857c5991b84e884a0105c31",
    "events.csv": "15f234e6c82b0cb10b38ec269aead688f772952129daf08c556330e1d51562e1",
    "intent.csv": "d2dcd5380874ecda881da7c1ae1453c5726f5d1ff7cea8afd44521212123428f",
}
EVENT_KEY = ["occurred_at", "event_id", "contact_id", "event_type", "detail"]


def _day_files(directory: Path, fmt: str) -> list[Path]:
    files = sorted((directory / "events").iterdir())
    assert files, "no daily event files"
    for path in files:
        assert re.fullmatch(rf"\d{{4}}-\d{{2}}-\d{{2}}\.{fmt}", path.name), path.name
    return files


def _read_days(directory: Path, fmt: str) -> pl.DataFrame:
    """All daily files, checking each holds only its own day, sorted by (occurred_at, event_id)."""
    frames = []
    for path in _day_files(directory, fmt):
        frame = pl.read_parquet(path) if fmt == "parquet" else pl.read_csv(path, schema=CONTRACT["events"])
        assert frame.schema == pl.Schema(CONTRACT["events"]), path.name
        assert frame.height > 0, path.name
        assert (frame["occurred_at"].dt.date() == dt.date.fromisoformat(path.stem)).all(), path.name
        assert frame.equals(frame.sort("occurred_at", "event_id")), path.name
        frames.append(frame)
    return pl.concat(frames)


def test_defaults_match_pre_layout_output(tmp_path: Path) -> None:
    generate(tmp_path, SMALL, seed=7, as_of=AS_OF, fmt="csv", progress=False)
    for name, digest in GOLDEN_CSV_SHA256.items():
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == digest, name


def test_explicit_defaults_give_identical_bytes(tmp_path: Path, small: tuple[Path, dict[str, int]]) -> None:
    counts = generate(
        tmp_path, SMALL, seed=7, as_of=AS_OF, fmt="parquet", progress=False, events_layout="single", contacts_scale=1.0, events_scale=1.0
    )
    assert counts == small[1]
    for name in CONTRACT:
        assert (tmp_path / f"{name}.parquet").read_bytes() == (small[0] / f"{name}.parquet").read_bytes(), name


def test_daily_layout_holds_the_single_file_rows(tmp_path: Path, small: tuple[Path, dict[str, int]]) -> None:
    counts = generate(tmp_path / "a", SMALL, seed=7, as_of=AS_OF, progress=False, events_layout="daily")
    out = tmp_path / "a"
    assert not (out / "events.parquet").exists()
    assert not (out / ".events_tmp").exists()
    union = _read_days(out, "parquet")
    single = _read(small[0], "events")
    assert_frame_equal(union.sort(EVENT_KEY, nulls_last=True), single.sort(EVENT_KEY, nulls_last=True))
    assert counts["events/*.parquet"] == single.height
    assert "events.parquet" not in counts
    # The deliberate future events land in files dated after as_of.
    assert max(dt.date.fromisoformat(p.stem) for p in _day_files(out, "parquet")) > AS_OF
    # Every other source is untouched by the layout.
    for name in CONTRACT:
        if name != "events":
            assert (out / f"{name}.parquet").read_bytes() == (small[0] / f"{name}.parquet").read_bytes(), name
            assert counts[f"{name}.parquet"] == small[1][f"{name}.parquet"]
    # Deterministic, file by file.
    generate(tmp_path / "b", SMALL, seed=7, as_of=AS_OF, progress=False, events_layout="daily")
    for path in _day_files(out, "parquet"):
        assert path.read_bytes() == (tmp_path / "b" / "events" / path.name).read_bytes(), path.name
    assert len(_day_files(tmp_path / "b", "parquet")) == len(_day_files(out, "parquet"))


def test_daily_layout_csv(tmp_path: Path, small: tuple[Path, dict[str, int]]) -> None:
    counts = generate(tmp_path, SMALL, seed=7, as_of=AS_OF, fmt="csv", progress=False, events_layout="daily")
    assert not (tmp_path / "events.csv").exists()
    union = _read_days(tmp_path, "csv")
    single = _read(small[0], "events")
    assert_frame_equal(union.sort(EVENT_KEY, nulls_last=True), single.sort(EVENT_KEY, nulls_last=True))
    assert counts["events/*.csv"] == single.height
    # Same csv conventions as events.csv: the contract's header, ISO-8601 UTC timestamps.
    first = _day_files(tmp_path, "csv")[0].read_text().splitlines()
    assert first[0].split(",") == list(CONTRACT["events"])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z", first[1].split(",")[3])


def test_layouts_replace_each_other(tmp_path: Path) -> None:
    generate(tmp_path, 20, as_of=AS_OF, progress=False)
    generate(tmp_path, 20, as_of=AS_OF, progress=False, events_layout="daily")
    assert not (tmp_path / "events.parquet").exists() and _day_files(tmp_path, "parquet")
    generate(tmp_path, 20, as_of=AS_OF, progress=False)
    assert (tmp_path / "events.parquet").exists() and not (tmp_path / "events").exists()


def test_rejects_bad_layout_and_scales(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="events_layout"):
        generate(tmp_path, 10, as_of=AS_OF, progress=False, events_layout="weekly")
    for knob in ("contacts_scale", "events_scale"):
        for bad in (0, -1.0, float("nan")):
            with pytest.raises(ValueError, match=knob):
                generate(tmp_path, 10, as_of=AS_OF, progress=False, **{knob: bad})


def test_scale_knobs(tmp_path: Path, small: tuple[Path, dict[str, int]]) -> None:
    base = small[1]
    more_contacts = generate(tmp_path / "c", SMALL, seed=7, as_of=AS_OF, progress=False, contacts_scale=1.6)
    more_events = generate(tmp_path / "e", SMALL, seed=7, as_of=AS_OF, progress=False, events_scale=2.0)
    fewer = generate(tmp_path / "f", SMALL, seed=7, as_of=AS_OF, progress=False, contacts_scale=0.6, events_scale=0.5)

    def ratio(counts: dict[str, int], name: str) -> float:
        return counts[f"{name}.parquet"] / base[f"{name}.parquet"]

    assert 1.4 <= ratio(more_contacts, "contacts") <= 1.8
    assert 0.85 <= ratio(more_contacts, "events") <= 1.15  # contacts_scale alone keeps events per account
    assert ratio(more_events, "contacts") == 1.0
    assert 1.8 <= ratio(more_events, "events") <= 2.2
    assert ratio(fewer, "contacts") < 0.9 and 0.4 <= ratio(fewer, "events") <= 0.6
    for counts in (more_contacts, more_events, fewer):  # accounts and firmographics untouched
        assert counts["accounts.parquet"] == base["accounts.parquet"]
        assert counts["intent.parquet"] == base["intent.parquet"]
    contacts = _read(tmp_path / "c", "contacts")
    assert contacts["email"].is_unique().all() and contacts["contact_id"].is_unique().all()
    events = _read(tmp_path / "c", "events")
    assert events["contact_id"].is_in(contacts["contact_id"].implode()).all()


def test_xl_params_rates(tmp_path: Path) -> None:
    """XL_PARAMS at a small size: ~10 contacts and ~100 events per account (so ~10M / ~100M at 1M)."""
    assert XL_PARAMS["n_accounts"] == 1_000_000
    knobs = {k: v for k, v in XL_PARAMS.items() if k != "n_accounts"}
    counts = generate(tmp_path, DIRTY, seed=7, as_of=AS_OF, progress=False, **knobs)
    assert 9.5 <= counts["contacts.parquet"] / DIRTY <= 10.0  # under 10M in all: 7-digit contact ids
    assert 90 <= counts["events.parquet"] / DIRTY <= 110
