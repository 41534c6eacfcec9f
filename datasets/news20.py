"""20 Newsgroups "bydate" (Jason Rennie's split of Lang's posts): ``docs/20news-bydate.tar.gz`` (or the
rebuilt ``.tar.xz`` the project's data folder holds), and the Glasgow stop-word list beside it.

Fetched: ``crbm fetch 20news`` (or ``fetch()``) downloads scikit-learn's figshare copy of the archive and
keeps it only when its SHA-256 is the one scikit-learn pins. The stop-word list is placed by hand.
Checked: 11,314 training and 7,532 test posts in the 20 groups.
Prepared: ``prepare()`` (``crbm.tokenize_20news``): headers stripped, lower-case alphabetic tokens without
stop words, the 2,000 most frequent training words; (train, test) ``crbm.Corpus`` bags of words, the
matrices the semantic-hashing and replicated-softmax benchmarks read (``crbm.load_bag_of_words``).
"""

from __future__ import annotations

from crbm.cli import FETCH
from crbm.data.documents import raw_archive, read_20news_tarball, tokenize_20news
from datasets.recipe import check_all, sub

NAME = "20news"
PUBLISHED = {"train posts": 11314, "test posts": 7532, "groups": 20}


def fetch(folder=None):
    """The raw archive, found or downloaded (checked)."""
    return [FETCH[NAME](folder)]


def check(folder=None) -> dict:
    """Posts per split and groups, read from the archive."""
    posts = read_20news_tarball(raw_archive(NAME, sub(folder, "docs")))
    found = {f"{split} posts": len(posts[split]) for split in posts}
    found["groups"] = len({group for split in posts.values() for _, group, _ in split})
    return check_all(NAME, found, PUBLISHED)


def prepare(folder=None):
    """(train, test) bags of words over the 2,000 most frequent training words."""
    return tokenize_20news(sub(folder, "docs"))
