"""Safe output: escaped HTML, neutralised spreadsheet formulas, no e-mail addresses."""

import shutil

import polars as pl
from steps import run_steps

from abmq.tasks import catalog, exports, report


def test_formula_cells_are_neutralised():
    frame = pl.DataFrame({"name": ['=HYPERLINK("x")', "+1", "-2", "@SUM(A1)", "Acme", None], "n": [1, 2, 3, 4, 5, 6]})
    csv = exports.to_csv(frame)
    assert csv.splitlines()[1:] == ['"\'=HYPERLINK(""x"")",1', "'+1,2", "'-2,3", "'@SUM(A1),4", "Acme,5", ",6"]


def test_report_escapes_account_data(handbuilt_dir, tmp_path, as_of):
    data = tmp_path / "input"
    shutil.copytree(handbuilt_dir, data)
    accounts = pl.read_csv(data / "accounts.csv", infer_schema=False)
    accounts.with_columns(
        pl.when(pl.col("domain") == "acme.com").then(pl.lit("<script>alert(1)</script>")).otherwise(pl.col("name")).alias("name")
    ).write_csv(data / "accounts.csv")
    result = run_steps(data, as_of)
    site = report.render_site(
        result["accounts"], result["quality"], result["config"], as_of, {"config_fingerprint": "x", "inputs_fingerprint": "y"}
    )
    for page in (site["report.html"], site["accounts/acme.com.html"]):
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    targets = exports.to_csv(exports.targets_table(result["accounts"]))
    assert "<script>alert(1)</script>" in targets  # CSV keeps the text; it is not a formula


def test_no_email_addresses_in_report_targets_or_summary(handbuilt_result, as_of):
    accounts = handbuilt_result["accounts"]
    html = "".join(
        report.render_site(
            accounts, handbuilt_result["quality"], handbuilt_result["config"], as_of, {"config_fingerprint": "x", "inputs_fingerprint": "y"}
        ).values()
    )
    summary = report.markdown_summary(accounts, handbuilt_result["quality"], handbuilt_result["config"], as_of)
    csv = "".join(exports.export_files(exports.targets_table(accounts)).values())
    for text in (html, summary, csv):
        assert "@acme.com" not in text and "@hooli.com" not in text and "@unknown-co.org" not in text
    assert "Val Vp" in html  # names and titles are shown


def test_publish_replaces_outputs_only_at_the_end(tmp_path):
    out = tmp_path / "out"
    first = catalog.RunOutputs(out)
    first.write_text("report.html", "first")
    first.write_text("dq/a.json", "{}")
    first.publish()
    second = catalog.RunOutputs(out)
    second.write_text("report.html", "second")
    assert (out / "report.html").read_text() == "first"  # nothing visible before publish
    second.discard()
    assert (out / "report.html").read_text() == "first"
    assert sorted(p.name for p in out.iterdir()) == ["dq", "report.html"]


def test_every_export_neutralises_formulas(handbuilt_dir, tmp_path, as_of):
    data = tmp_path / "input"
    shutil.copytree(handbuilt_dir, data)
    accounts = pl.read_csv(data / "accounts.csv", infer_schema=False)
    accounts.with_columns(
        pl.when(pl.col("domain") == "acme.com").then(pl.lit("=cmd|' /C calc'!A0")).otherwise(pl.col("name")).alias("name"),
        pl.when(pl.col("domain") == "hooli.com").then(pl.lit("@SUM(1+1)")).otherwise(pl.col("owner")).alias("owner"),
    ).write_csv(data / "accounts.csv")
    result = run_steps(data, as_of)
    for path, text in exports.export_files(exports.targets_table(result["accounts"])).items():
        rows = pl.read_csv(text.encode(), infer_schema=False)
        cells = [v for column in rows.columns for v in rows[column].drop_nulls().to_list()]
        assert not [v for v in cells if v and v[0] in "=+-@"], path
        assert "'=cmd|' /C calc'!A0" in cells, path
