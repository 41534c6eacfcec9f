"""What the recipes share: a data folder's sub-folders, and a published fact checked against the data."""

from __future__ import annotations

import os
from pathlib import Path

from crbm import CRBMError


def sub(folder: str | os.PathLike | None, name: str) -> Path | None:
    """``<folder>/<name>`` for a data folder laid out like the project's; None (crbm's own lookup:
    ``$CRBM_DATA``, then the user cache) when no folder is given."""
    return None if folder is None else Path(folder) / name


def expect(dataset: str, fact: str, found, published):
    """``found`` when it equals the ``published`` value of ``fact``; else a CRBMError naming both."""
    if found != published:
        raise CRBMError(f"{dataset}: {fact} is {found!r}, the published data set has {published!r}: these are not "
                        "the published files (fetch them again)")
    return found


def check_all(dataset: str, found: dict, published: dict) -> dict:
    """``found`` after ``expect`` of every fact in ``published`` (the facts measured beyond them pass as they are)."""
    for fact, value in published.items():
        expect(dataset, fact, found[fact], value)
    return found
