"""Ratings readers and the MovieLens recipes: the 100K and 1M formats on small files written here, the staged
MovieLens 100K splits when the data folder is present."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crbm import CRBMError, FormatError
from crbm.data.movielens import load_movielens, read_movielens, read_ratings, split_ratings

ML1M = "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n6040::3952::1::956704887\n"


def test_ml1m_ratings_dat_reads_through_the_recipe(tmp_path):
    folder = tmp_path / "ratings" / "ml-1m"
    folder.mkdir(parents=True)
    (folder / "ratings.dat").write_text(ML1M)
    df = load_movielens("ml-1m", path=tmp_path)
    assert list(df.columns) == ["user", "item", "rating", "timestamp"]
    assert df["user"].tolist() == [1, 1, 2, 6040] and df["item"].tolist() == [1193, 661, 1193, 3952]
    assert df["rating"].tolist() == [5.0, 3.0, 4.0, 1.0] and df["timestamp"].iloc[3] == 956704887
    with pytest.raises(CRBMError, match="ml-1m has no official split"):
        load_movielens("ml-1m", split="u1", path=tmp_path)
    with pytest.raises(CRBMError, match=r"data file 'ratings/ml-1m/ratings.dat' not found"):
        load_movielens("ml-1m", path=tmp_path / "elsewhere")


def test_tab_and_csv_formats_and_the_same_table_from_each(tmp_path):
    tab = tmp_path / "u.data"
    tab.write_text("1\t1193\t5\t978300760\n1\t661\t3\t978302109\n2\t1193\t4\t978298413\n6040\t3952\t1\t956704887\n")
    csv = tmp_path / "ratings.csv"
    csv.write_text("userId,movieId,rating,timestamp\n" + ML1M.replace("::", ","))
    dat = tmp_path / "ratings.dat"
    dat.write_text(ML1M)
    frames = [read_ratings(p) for p in (tab, csv, dat)]
    for f in frames[1:]:
        pd.testing.assert_frame_equal(f, frames[0])


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("1::2::3::4\n1::2::3\n", 2, r"expected 4 fields \(user, item, rating, timestamp\) separated by '::', got 3"),
        ("1\t2\t3\t4\n\n1\tx\t3\t4\n", 3, "expected integer user, item and timestamp and a numeric rating"),
        ("1::2::nan::4\n", 1, "rating 'nan' is not a finite number"),
    ],
)
def test_bad_lines_are_named_by_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "ratings.dat"
    path.write_text(text)
    with pytest.raises(FormatError, match=f"ratings.dat:{line}: {message}"):
        read_movielens(path)


def test_bad_sources_are_refused(tmp_path):
    with pytest.raises(CRBMError, match="ratings: no such file"):
        read_ratings(tmp_path / "none.dat")
    with pytest.raises(CRBMError, match="expected a pandas DataFrame or the path"):
        read_ratings(42)
    (tmp_path / "empty.dat").write_text("\n")
    with pytest.raises(FormatError, match="empty.dat: no ratings"):
        read_ratings(tmp_path / "empty.dat")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(FormatError, match="bad.parquet: not a readable Parquet file"):
        read_ratings(tmp_path / "bad.parquet")
    with pytest.raises(CRBMError, match="unknown ml-100k split 'u9'"):
        load_movielens("ml-100k", split="u9", path=tmp_path)
    with pytest.raises(CRBMError, match="unknown MovieLens data set 'ml-20m'"):
        load_movielens("ml-20m")


def test_split_ratings_is_a_seeded_partition():
    df = pd.DataFrame({"user": np.arange(50) % 7, "item": np.arange(50), "rating": np.ones(50)})
    rest, held = split_ratings(df, 0.2, seed=3)
    assert len(held) == 10 and len(rest) == 40
    assert sorted(rest["item"].tolist() + held["item"].tolist()) == list(range(50))
    assert held["item"].is_monotonic_increasing  # the table's order is kept
    pd.testing.assert_frame_equal(split_ratings(df, 0.2, seed=3)[1], held)
    assert not split_ratings(df, 0.2, seed=4)[1].equals(held)
    with pytest.raises(CRBMError, match=r"fraction: expected a number in \(0, 1\)"):
        split_ratings(df, 1.0, seed=0)


def test_ml100k_splits_partition_the_ratings(data_root):
    if not (data_root / "ratings" / "ml-100k" / "u1.base").is_file():
        pytest.skip("MovieLens 100K is not in the data folder")
    everything = load_movielens("ml-100k", path=data_root)
    assert len(everything) == 100_000 and everything["user"].nunique() == 943
    tests = []
    for k in range(1, 6):
        base, test = load_movielens("ml-100k", split=f"u{k}", path=data_root)
        assert (len(base), len(test)) == (80_000, 20_000)
        tests.append(test)
    both = pd.concat(tests)
    assert len(both.drop_duplicates(["user", "item"])) == 100_000
