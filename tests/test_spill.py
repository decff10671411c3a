"""Contact scores kept on disk until written (catalog.SpilledRows), and the writer that gives
the same Parquet bytes whatever pieces the rows come in (catalog.write_row_groups)."""

import datetime as dt

import polars as pl
import pytest

from abmq.tasks import catalog


# flat columns go through polars' sink, a list column through pyarrow (catalog.write_row_groups)
@pytest.fixture(params=["flat", "with a list column"])
def scores(request) -> pl.DataFrame:
    rows = 600_003  # more distinct values in a row group than one dictionary page holds
    nested = [pl.concat_list(pl.format("dept-{}", pl.col("n") % 4)).alias("departments")] if request.param != "flat" else []
    return pl.DataFrame({"n": pl.int_range(rows, eager=True)}).select(
        pl.format("C{}-a-contact-id-longer-than-a-view", "n").alias("contact_id"),
        (pl.col("n") % 97).alias("lead_score"),
        (pl.col("n") * 7).alias("points_total"),
        (pl.col("n") % 3 == 0).alias("sql_ready"),
        pl.when(pl.col("n") % 5 > 0).then(pl.lit(dt.datetime(2026, 11, 1))).dt.replace_time_zone("UTC").alias("last_activity_at"),
        *nested,
    )


def pieces(frame: pl.DataFrame, cuts: list[int]) -> pl.DataFrame:
    bounds = [0, *cuts, frame.height]
    return pl.concat([frame.slice(a, b - a).rechunk() for a, b in zip(bounds, bounds[1:])], rechunk=False)


def test_the_same_rows_in_any_pieces_write_the_same_bytes(scores, tmp_path):
    spilled = catalog.SpilledRows(tmp_path / "spilled")
    written = {
        "one chunk": scores.rechunk(),
        "uneven chunks": pieces(scores, [1, 99_999, 150_001, 400_000]),
        "kept on disk": pl.concat(
            [spilled.keep(scores.slice(0, 1_234)), spilled.keep(scores.slice(1_234, 3_000)), spilled.keep(scores.slice(4_234))]
        ),
    }
    for name, frame in written.items():
        catalog.write_row_groups(frame, tmp_path / f"{name}.parquet")
    files = {name: (tmp_path / f"{name}.parquet").read_bytes() for name in written}
    assert files["uneven chunks"] == files["one chunk"]
    assert files["kept on disk"] == files["one chunk"]
    back = pl.read_parquet(tmp_path / "one chunk.parquet")
    assert back.equals(scores) and back.schema == scores.schema
    import pyarrow.parquet as pq

    assert [pq.ParquetFile(tmp_path / "one chunk.parquet").metadata.row_group(i).num_rows for i in range(3)] == [262_144, 262_144, 75_715]
    assert len(list((tmp_path / "spilled").iterdir())) == 3


def test_no_rows_write_a_file_with_the_columns(scores, tmp_path):
    catalog.write_row_groups(scores.clear(), tmp_path / "empty.parquet")
    catalog.write_row_groups(catalog.SpilledRows(tmp_path / "s").keep(scores.clear()), tmp_path / "empty-lazy.parquet")
    assert pl.read_parquet(tmp_path / "empty.parquet").schema == scores.schema
    assert (tmp_path / "empty.parquet").read_bytes() == (tmp_path / "empty-lazy.parquet").read_bytes()


def test_kept_rows_are_never_published(scores, tmp_path):
    outputs = catalog.RunOutputs(tmp_path / "out")
    kept = outputs.spill().keep(scores)
    outputs.write_bundle({"contact_scores.parquet": kept, "note.txt": "x"}, {}, dt.date(2026, 11, 25))
    outputs.publish()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["contact_scores.parquet", "data_docs", "note.txt"]
    assert pl.read_parquet(tmp_path / "out" / "contact_scores.parquet").equals(scores)
    failed = catalog.RunOutputs(tmp_path / "failed")
    failed.spill().keep(scores)
    failed.discard()
    assert list((tmp_path / "failed").iterdir()) == []
