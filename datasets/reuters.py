"""Reuters-21578, ModApte split (Lewis; the UCI KDD archive): ``docs/reuters21578.tar.gz`` (or the rebuilt
``.tar.xz`` the project's data folder holds), and the Glasgow stop-word list beside it.

Fetched: ``crbm fetch reuters`` (or ``fetch()``) downloads the UCI archive. No checksum is published for it,
so the download is kept only when its stories count as below.
Checked: 21,578 stories, 9,603 ModApte training and 3,299 test stories, topics from the archive's
``all-topics-strings.lc.txt`` (135).
Prepared: ``prepare()`` (``crbm.tokenize_reuters``): title and body, the same tokenisation as 20 Newsgroups;
(train, test) ``crbm.Corpus`` with (n, 135) 0/1 topic indicators.
"""

from __future__ import annotations

from crbm.cli import FETCH
from crbm.data.documents import raw_archive, read_reuters_tarball, tokenize_reuters
from datasets.recipe import check_all, sub

NAME = "reuters"
PUBLISHED = {"train stories": 9603, "test stories": 3299, "topics": 135}


def fetch(folder=None):
    """The raw archive, found or downloaded (checked by its story counts)."""
    return [FETCH[NAME](folder)]


def check(folder=None) -> dict:
    """ModApte stories per split (the reader also refuses an archive without 21,578 stories) and topics."""
    stories, topics = read_reuters_tarball(raw_archive(NAME, sub(folder, "docs")))
    found = {f"{split} stories": len(stories[split]) for split in stories}
    found["topics"] = len(topics)
    return check_all(NAME, found, PUBLISHED)


def prepare(folder=None):
    """(train, test) bags of words over the 2,000 most frequent training words."""
    return tokenize_reuters(sub(folder, "docs"))
