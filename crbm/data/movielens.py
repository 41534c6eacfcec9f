"""Ratings tables: reading (user, item, rating) triples, and the MovieLens recipes.

Every reader returns a pandas DataFrame with the columns ``user``, ``item`` (any hashable ids) and ``rating``
(float64), plus ``timestamp`` (int64) when the source has one. Sources:

- a DataFrame with (at least) those columns;
- a Parquet file (``.parquet`` / ``.pq``) with those columns;
- a MovieLens text file: ``u.data`` / ``u1.base`` ... of MovieLens 100K (``user<TAB>item<TAB>rating<TAB>time``),
  ``ratings.dat`` of MovieLens 1M / 10M (``user::item::rating::time``), or a CSV with a header line such as
  ``userId,movieId,rating,timestamp`` (the ``ml-latest`` releases).

Recipes (``load_movielens``): the data live at ``ratings/ml-100k/`` and ``ratings/ml-1m/`` under an explicit
``path``, ``$CRBM_DATA`` or ``~/.cache/crbm`` (``crbm.data.paths.data_path``). MovieLens 100K comes with the
canonical five-fold split ``u1`` ... ``u5`` (80,000 / 20,000 ratings each, the test sets disjoint) and the
``ua`` / ``ub`` splits (10 test ratings per user); MovieLens 1M has no official split: ``split_ratings`` draws a
random hold-out (the AutoRec protocol: 90 / 10, repeated with several seeds). GroupLens' terms forbid
redistributing either data set: get them from https://grouplens.org/datasets/movielens/ and keep them out of
any shipped package.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from crbm.data.paths import data_path
from crbm.engine.errors import CRBMError, FormatError

if TYPE_CHECKING:  # pandas is imported on first use: it is slow to import
    import pandas as pd

COLUMNS = ("user", "item", "rating")
ML100K_SPLITS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")
MOVIELENS = {
    # name -> (file of all ratings, folder of the split files or None)
    "ml-100k": ("ratings/ml-100k/u.data", "ratings/ml-100k"),
    "ml-1m": ("ratings/ml-1m/ratings.dat", None),
}


def read_ratings(source, *, what: str = "ratings", rating: bool = True) -> pd.DataFrame:
    """The (user, item, rating) table of ``source`` (a DataFrame, a Parquet file or a MovieLens text file).

    ``rating=False`` accepts (user, item) pairs without ratings (what ``predict`` takes); ``what`` names the
    argument in error messages. Returns a new DataFrame with columns ``user``, ``item``, ``rating`` (float64;
    absent when ``rating=False`` and the source has none) and ``timestamp`` when present, the source's row
    order kept. Raises CRBMError / FormatError naming the source, the row or line and what was expected."""
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        return _checked(source, what, rating)
    if not isinstance(source, (str, os.PathLike)):
        raise CRBMError(f"{what}: expected a pandas DataFrame or the path of a Parquet or MovieLens ratings file, "
                        f"got {type(source).__name__}")
    path = Path(source)
    if not path.is_file():
        raise CRBMError(f"{what}: no such file {path}")
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            df = pd.read_parquet(path)
        except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
            raise FormatError(path, f"not a readable Parquet file ({err})") from None
        return _checked(df, str(path), rating)
    return read_movielens(path)


def read_movielens(path: str | os.PathLike) -> pd.DataFrame:
    """A MovieLens ratings file: ``user<TAB>item<TAB>rating<TAB>time`` (100K), ``user::item::rating::time``
    (1M, 10M) or a CSV whose first line is a header (``ml-latest``). Users and items are integers, ratings
    numbers, timestamps integers. Raises FormatError naming the file and line of the first bad line."""
    import pandas as pd

    path = Path(path)
    try:
        text = path.read_bytes().decode("latin-1")  # MovieLens' other files are ISO-8859-1; ratings are ASCII
    except OSError as err:
        raise CRBMError(f"cannot read {path}: {err.strerror or err}") from None
    lines = text.splitlines()
    first = 0
    if lines and not lines[0][:1].isdigit():  # a CSV header such as userId,movieId,rating,timestamp
        first = 1
    body = [(n, line) for n, line in enumerate(lines[first:], first + 1) if line.strip()]
    if not body:
        raise FormatError(path, "no ratings: expected lines of user, item, rating and timestamp")
    sep = "::" if "::" in body[0][1] else "\t" if "\t" in body[0][1] else ","
    if any(line.count(sep) != 3 for _, line in body):
        return _read_lines(path, body, sep)
    try:  # the fast reader; any doubt and the line-by-line reader below finds and names the bad line
        table = pd.read_csv(io.StringIO("\n".join(line for _, line in body).replace(sep, "\t")), sep="\t",
                            header=None, names=["user", "item", "rating", "timestamp"],
                            dtype={"user": np.int64, "item": np.int64, "rating": np.float64, "timestamp": np.int64})
        if len(table) == len(body) and np.isfinite(table["rating"].to_numpy()).all():
            return table
    except (ValueError, TypeError):  # pandas' ParserError is a ValueError
        pass
    return _read_lines(path, body, sep)


def _read_lines(path: Path, body: list[tuple[int, str]], sep: str) -> pd.DataFrame:
    """``read_movielens`` line by line: FormatError at the first line that is not 4 numbers."""
    import pandas as pd

    shown = {"::": "'::'", "\t": "tabs", ",": "commas"}[sep]
    users = np.empty(len(body), np.int64)
    items = np.empty(len(body), np.int64)
    ratings = np.empty(len(body), np.float64)
    stamps = np.empty(len(body), np.int64)
    for r, (n, line) in enumerate(body):
        fields = line.split(sep)
        if len(fields) != 4:
            raise FormatError(path, f"expected 4 fields (user, item, rating, timestamp) separated by {shown}, "
                                    f"got {len(fields)}", line=n)
        try:
            users[r], items[r], stamps[r] = int(fields[0]), int(fields[1]), int(fields[3])
            ratings[r] = float(fields[2])
        except ValueError:
            raise FormatError(path, f"expected integer user, item and timestamp and a numeric rating, got "
                                    f"{line.strip()!r}", line=n) from None
        if not np.isfinite(ratings[r]):
            raise FormatError(path, f"rating {fields[2]!r} is not a finite number", line=n)
    return pd.DataFrame({"user": users, "item": items, "rating": ratings, "timestamp": stamps})


def _checked(df: pd.DataFrame, what: str, rating: bool) -> pd.DataFrame:
    """A copy of ``df``'s user / item / rating (/ timestamp) columns, validated."""
    need = COLUMNS if rating else COLUMNS[:2]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise CRBMError(f"{what}: missing column(s) {missing}; expected columns {list(need)}, "
                        f"got {[str(c) for c in df.columns][:8]}")
    keep = [c for c in (*COLUMNS, "timestamp") if c in df.columns]
    out = df[keep].reset_index(drop=True).copy()
    for c in ("user", "item"):
        bad = out[c].isna().to_numpy()
        if bad.any():
            raise CRBMError(f"{what}: row {int(np.argmax(bad))} has no {c} id")
    if "rating" in out.columns:
        try:
            values = out["rating"].to_numpy(dtype=np.float64)
        except (TypeError, ValueError):
            raise CRBMError(f"{what}: column 'rating' must hold numbers, got dtype {out['rating'].dtype}") from None
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.argmax(bad))
            raise CRBMError(f"{what}: row {row} has rating {values[row]}; expected a finite number")
        out["rating"] = values
    return out


def load_movielens(name: str = "ml-100k", *, split: str | None = None, path: str | os.PathLike | None = None):
    """MovieLens ratings as DataFrames (``read_movielens``).

    ``name``: "ml-100k" or "ml-1m". ``split``: None for every rating (one DataFrame); for ml-100k one of
    ``ML100K_SPLITS`` for the pair ``(base, test)`` of that split. ``path``: a folder laid out as
    ``ratings/ml-100k/u.data``, ``ratings/ml-1m/ratings.dat`` (else ``$CRBM_DATA``, else ``~/.cache/crbm``)."""
    if name not in MOVIELENS:
        raise CRBMError(f"unknown MovieLens data set {name!r}; expected one of {sorted(MOVIELENS)}")
    everything, folder = MOVIELENS[name]
    if split is None:
        return read_movielens(data_path(everything, path=path))
    if folder is None:
        raise CRBMError(f"{name} has no official split; load it with split=None and draw one with "
                        "crbm.split_ratings(ratings, 0.1, seed=...)")
    if split not in ML100K_SPLITS:
        raise CRBMError(f"unknown {name} split {split!r}; expected one of {list(ML100K_SPLITS)}")
    return tuple(read_movielens(data_path(f"{folder}/{split}.{part}", path=path)) for part in ("base", "test"))


def split_ratings(ratings: pd.DataFrame, fraction: float, *, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A random hold-out: ``(rest, held)`` with ``round(fraction * N)`` rows in ``held``, drawn by a torch
    generator seeded with ``seed``; each part keeps the table's row order. Used for MovieLens 1M's 90 / 10 test
    split and for validation splits carved from a training set."""
    if not isinstance(fraction, (int, float)) or isinstance(fraction, bool) or not 0 < fraction < 1:
        raise CRBMError(f"fraction: expected a number in (0, 1), got {fraction!r}")
    n = len(ratings)
    n_held = int(round(fraction * n))
    if not 0 < n_held < n:
        raise CRBMError(f"ratings: {n} rows cannot be split with fraction {fraction} (each part needs a row)")
    held = torch.zeros(n, dtype=torch.bool)
    held[torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:n_held]] = True
    mask = held.numpy()
    return ratings[~mask].reset_index(drop=True), ratings[mask].reset_index(drop=True)
