"""Staging: canonical domains, casts that report bad values, roles derived from titles."""

import polars as pl
import pytest

from abmq.tasks.sources import SOURCES
from abmq.tasks.staging import (
    canonical_domain,
    cast_to_contract,
    email_domain_where,
    normalise_department,
    normalise_seniority,
    once_per_value,
    once_per_value_beside,
)


@pytest.mark.parametrize(
    "given, expected",
    [
        ("https://www.Acme.com/", "acme.com"),
        ("WWW.acme.com", "acme.com"),
        ("acme.com/", "acme.com"),
        ("http://acme.com:8080/pricing?x=1", "acme.com"),
        ("  Acme.COM.  ", "acme.com"),
        ("www2.acme.co.uk", "acme.co.uk"),
        ("sales@acme.com", "acme.com"),
        ("", None),
        (None, None),
    ],
)
def test_canonical_domain(given, expected):
    frame = pl.DataFrame({"d": [given]}, schema={"d": pl.String})
    assert frame.select(canonical_domain(pl.col("d")))["d"][0] == expected


def test_canonical_domain_keeps_plain_values_and_works_out_the_rest_in_any_order():
    """Values already canonical skip the patterns; every other value gets what the patterns give,
    however plain and odd values are mixed in a batch (a real export's rows come in no order)."""
    from abmq.tasks.staging import _canonical

    odd = [
        "Acme.com",
        " acme.com",
        "https://acme.com",
        "www.acme.com",
        "www2.acme.com",
        "wwwacme.com",
        "www",
        "www.",
        "acme.com.",
        "acme.com:443",
        "acme.com/x",
        "acme.com?q",
        "acme.com#a",
        "bob@acme.com",
        "a",
        "-",
        "",
        None,
        "bücher.de",
        "ACME",
        "a..b",
        "x_y.com",
        ".acme.com",
        "acme .com",
        "acme.com\t",
        "ftp://a.b/c?d#e",
    ]
    plain = [f"co{n}.example-{n % 7}.com" for n in range(200)]
    values = pl.Series("d", [*odd, *plain] * 3, pl.String).shuffle(seed=3)
    expected = values.to_frame().select(_canonical(pl.col("d"))).to_series()
    assert values.to_frame().select(canonical_domain(pl.col("d"))).to_series().equals(expected)
    assert expected.null_count() == 3 * 3  # "", None and "www."
    assert expected.filter(values == "wwwacme.com").to_list() == ["wwwacme.com"] * 3  # "www" without a dot is a name


def test_email_domain():
    frame = pl.DataFrame({"e": ["ugo@UMBRELLA.COM", "no-at-sign", None]})
    assert frame.select(email_domain_where(pl.col("e"), pl.lit(True)))["e"].to_list() == ["umbrella.com", None, None]


def test_email_domain_where_works_out_only_the_rows_asked_for():
    frame = pl.DataFrame(
        {
            "e": ["ugo@UMBRELLA.COM", "a@www.acme.com.", "b@hooli.com", "no-at-sign", None, "c@initech.com"],
            "needed": [True, True, False, True, True, None],
        }
    )
    where = frame.select(email_domain_where(pl.col("e"), pl.col("needed")).alias("d"))["d"].to_list()
    assert where == ["umbrella.com", "acme.com", None, None, None, None]
    nothing = frame.select(email_domain_where(pl.col("e"), pl.lit(False)).alias("d"))["d"]
    assert nothing.null_count() == frame.height and nothing.dtype == pl.String


@pytest.mark.parametrize(
    "title, seniority, department",
    [
        ("Vice President, Finance", "vp", "finance"),
        ("Chief Information Security Officer", "c_level", "security"),
        ("CFO", "c_level", "finance"),
        ("Director of IT", "director", "it"),
        ("Head of Revenue Operations", "director", "sales"),
        ("IT Manager", "manager", "it"),
        ("Senior Software Engineer", "individual_contributor", "engineering"),
        ("Demand Generation Manager", "manager", "marketing"),
        (None, "individual_contributor", "other"),
    ],
)
def test_roles_derived_from_title_when_missing(title, seniority, department):
    frame = pl.DataFrame(
        {"title": [title], "seniority": [None], "department": [None]}, schema={c: pl.String for c in ("title", "seniority", "department")}
    )
    derived = frame.select(
        normalise_seniority(pl.col("seniority"), pl.col("title")).alias("s"),
        normalise_department(pl.col("department"), pl.col("title")).alias("d"),
    ).row(0)
    assert derived == (seniority, department)


def test_given_roles_are_normalised_and_win_over_the_title():
    frame = pl.DataFrame(
        {"title": ["Engineer", "Engineer"], "seniority": ["Vice President", "C-Level"], "department": ["Information Technology", "Finance"]}
    )
    result = frame.select(
        normalise_seniority(pl.col("seniority"), pl.col("title")).alias("s"),
        normalise_department(pl.col("department"), pl.col("title")).alias("d"),
    )
    assert result.rows() == [("vp", "it"), ("c_level", "finance")]


def test_casts_keep_the_row_and_describe_the_bad_value():
    raw = pl.DataFrame(
        {
            "domain": ["a.com", "b.com", "c.com"],
            "name": ["A", "B", "C"],
            "industry": ["Software"] * 3,
            "employees": ["1200", "1,200", "350.0"],
            "annual_revenue": ["1.5e8", "n/a", ""],
            "country": ["US", "US", "US"],
        }
    ).with_row_index("_row")
    typed = cast_to_contract(raw.lazy(), SOURCES["accounts"]).collect()
    assert typed["employees"].to_list() == [1200, None, 350]
    assert typed["annual_revenue"].to_list() == [1.5e8, None, None]
    assert typed["_cast_error"].to_list() == [None, "employees=1,200; annual_revenue=n/a", None]


def test_timestamps_in_common_iso_forms_become_utc():
    raw = pl.DataFrame(
        {
            "event_id": ["1", "2", "3", "4"],
            "contact_id": ["c"] * 4,
            "event_type": ["web_visit"] * 4,
            "occurred_at": ["2026-11-20T10:00:00Z", "2026-11-20 10:00:00", "2026-11-20T12:00:00+02:00", "yesterday"],
        }
    ).with_row_index("_row")
    typed = cast_to_contract(raw.lazy(), SOURCES["events"]).collect()
    stamps = typed["occurred_at"].dt.strftime("%Y-%m-%dT%H:%M").to_list()
    assert stamps == ["2026-11-20T10:00", "2026-11-20T10:00", "2026-11-20T10:00", None]
    assert typed["_cast_error"].to_list()[3] == "occurred_at=yesterday"


# --- text safety and input limits (issue 14) ----------------------------------------------


def _accounts(**columns) -> pl.LazyFrame:
    base = {
        "domain": ["a.com", "b.com"],
        "name": ["A", "B"],
        "industry": ["Software"] * 2,
        "employees": ["10", "20"],
        "annual_revenue": ["1", "2"],
        "country": ["US", "US"],
    }
    return pl.DataFrame({**base, **columns}).with_row_index("_row").lazy()


def test_control_characters_are_removed_and_the_row_says_so():
    raw = _accounts(name=["Ac\x00\x00me\x1b[0m", "B\tB"], employees=["1\x002", "20"])
    typed = cast_to_contract(raw, SOURCES["accounts"]).collect()
    assert typed["name"].to_list() == ["Acme[0m", "B\tB"]  # tab is kept
    assert typed["employees"].to_list() == [12, 20]
    assert typed["_cast_error"].to_list() == ["name: control characters removed; employees: control characters removed", None]


def test_clean_text_comes_back_unchanged():
    from abmq.tasks.text_safety import clean_text, flags

    values = ["Acme Software", "Zoë Ltd — 東京", "tab\there", "", None, "\u202eRTL", "x" * 5000]
    frame = pl.DataFrame({"t": values}, schema={"t": pl.String})
    cleaned = frame.select(clean_text(pl.col("t"), 65_536).alias("c"))
    unsafe, oversize = flags(pl.col("t"), pl.col("c"), 65_536)
    result = frame.with_columns(cleaned["c"]).select("c", unsafe.alias("u"), oversize.alias("o"))
    assert result["c"].to_list() == values
    assert not result["u"].any() and result["o"].null_count() == len(values)


@pytest.mark.parametrize("unsafe", ["\x00", "\x1b", "\n", "\x7f", "\ufffe", "\uffff"])
def test_each_unsafe_character_is_found_in_a_large_batch(unsafe):
    from abmq.tasks.text_safety import clean_text, flags

    values = [f"value {i}" for i in range(50_000)]
    values[31_337] = f"val{unsafe}ue"
    frame = pl.DataFrame({"t": values}).with_columns(clean_text(pl.col("t"), 65_536).alias("c"))
    unsafe, _ = flags(pl.col("t"), pl.col("c"), 65_536)
    found = frame.select(unsafe)[:, 0]
    assert found.sum() == 1 and found[31_337]
    assert frame["c"][31_337] == "value"


def test_a_value_over_the_field_limit_is_cut_to_whole_characters_and_quarantined():
    raw = _accounts(name=["é" * 100, "B"])
    typed = cast_to_contract(raw, SOURCES["accounts"], max_field_bytes=64).collect()
    assert typed["name"][0] == "é" * 16  # 64 // 4 characters: within 64 bytes whatever the script
    assert typed["_cast_error"][0] == "name: 200 bytes, over limits.max_field_bytes (64); cut"
    assert typed["_cast_error"][1] is None


def test_unsafe_header_names_are_made_printable(tmp_path):
    from abmq.tasks.catalog import scan_source

    (tmp_path / "competitors.csv").write_bytes(b"domain,na\x00me,na\x01me\nrival.com,x,y\n")
    scan, _ = scan_source(tmp_path, SOURCES["competitors"])
    assert scan.collect_schema().names() == ["_row", "domain", "na\ufffdme", "na\ufffdme\ufffd"]


@pytest.mark.parametrize(
    "body, message",
    [
        (
            b"domain,name\nrival.com," + b"N" * 3000 + b"\n",
            "competitors.csv: line 2 has a value over limits.max_field_bytes (1,024 bytes) in column 'name' (field 2)",
        ),
        (
            b"domain,name\nrival.com,Rival\n" + b"z," * 5_000,
            "competitors.csv: line 3 runs past limits.max_row_bytes (4,096 bytes) without a line break (in an unnamed column (field 2049))",
        ),
        (
            b"domain,name\nrival.com,Rival\n" + b"z" * 10_000,
            "competitors.csv: line 3 has a value over limits.max_field_bytes (1,024 bytes) in column 'domain' (field 1)",
        ),
        (b"domain" + b",c" * 60 + b"\n", "competitors.csv: the header has 61 columns, over limits.max_columns (50)"),
    ],
)
def test_limits_name_the_file_line_and_column(tmp_path, body, message):
    from abmq.config import Limits
    from abmq.tasks.catalog import SourceError, scan_source

    (tmp_path / "competitors.csv").write_bytes(body)
    with pytest.raises(SourceError) as error:
        scan_source(tmp_path, SOURCES["competitors"], Limits(max_field_bytes=1024, max_row_bytes=4096, max_columns=50))
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_limits_find_a_long_line_across_read_blocks(tmp_path, monkeypatch):
    from abmq.config import Limits
    from abmq.tasks import input_limits

    monkeypatch.setattr(input_limits, "BLOCK", 1000)
    path = tmp_path / "events.csv"
    path.write_bytes(b"a,b\n" + b"1,2\n" * 700 + b"x," + b"y" * 5000 + b"\n")
    with pytest.raises(input_limits.LimitError, match=r"line 702 runs past .*in column 'b' \(field 2\)"):
        input_limits.check_csv(path, Limits(max_field_bytes=4096, max_row_bytes=4096))
    input_limits.check_csv(path, Limits(max_field_bytes=8192, max_row_bytes=8192))  # within limits


def test_a_csv_without_its_header_row_is_named_as_such(tmp_path):
    from abmq.tasks.catalog import SourceError, scan_source

    (tmp_path / "intent.csv").write_bytes(b"acme.com,Intent Data,2026-11-16,75\nacme.com,Intent Data,2026-11-09,55\n")
    with pytest.raises(
        SourceError,
        match=r"intent.csv: the first line has none of the required columns \(domain, topic, week, score\); is the header row missing\? The first line reads 'acme.com,Intent Data,2026-11-16,75'",
    ):
        scan_source(tmp_path, SOURCES["intent"])


def test_once_per_value_works_out_each_combination_once_and_keeps_the_rows_order():
    frame = pl.DataFrame(
        {
            "id": [5, 1, 4, 2, 3],
            "seniority": ["VP", None, "VP", "mgr", None],
            "title": ["VP Sales", "CTO", "VP Sales", None, "CTO"],
            "people": [[1], [], [2, 3], [4], []],
        }
    )
    seen = []

    def counted(values: pl.Series) -> pl.Series:
        seen.append(values.len())
        return values.str.to_uppercase()

    derived = (
        pl.concat_str([pl.col("seniority"), pl.col("title")], separator="/", ignore_nulls=True)
        .map_batches(counted, return_dtype=pl.String)
        .alias("label"),
        pl.col("seniority").fill_null("ic").alias("seniority"),  # replaces an input, in its place
    )
    beside = once_per_value_beside(frame, ["seniority", "title", "not_there"], *derived)
    assert beside.columns == ["id", "seniority", "title", "people", "label"]
    assert beside["id"].to_list() == [5, 1, 4, 2, 3]
    assert beside["label"].to_list() == ["VP/VP SALES", "CTO", "VP/VP SALES", "MGR", "CTO"]
    assert beside["seniority"].to_list() == ["VP", "ic", "VP", "mgr", "ic"]
    assert beside["people"].to_list() == [[1], [], [2, 3], [4], []]
    assert seen == [3]  # three distinct (seniority, title) combinations, null ones included
    assert beside.equals(once_per_value(frame.lazy(), ["seniority", "title"], *derived).collect())


def test_event_types_are_tidied_once_per_value_and_missing_ones_stay_missing():
    from abmq.tasks.staging import stage_events

    given = [" Web_Visit", "web_visit", None, "DEMO_REQUEST ", "demo_request", "", "Web_Visit"]
    typed = pl.LazyFrame(
        {"contact_id": ["c1"] * len(given), "event_type": given}, schema={"contact_id": pl.String, "event_type": pl.String}
    )
    staged = stage_events(typed, None).collect()
    assert staged["event_type"].to_list() == ["web_visit", "web_visit", None, "demo_request", "demo_request", "", "web_visit"]
    tidy = pl.LazyFrame({"contact_id": ["c1", "c2"], "event_type": ["web_visit", None]})
    assert stage_events(tidy, None).collect()["event_type"].to_list() == ["web_visit", None]
