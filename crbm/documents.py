"""Bags of words: the ready 2000-word count matrices, and our own tokenisation of the raw 20 Newsgroups text.

Two corpora ship in the data folder's ``docs/`` (see its BENCHMARK_DATA.md): 20 Newsgroups "bydate"
(11,314 train / 7,532 test posts, 20 groups, one label each) and Reuters-21578 ModApte (9,603 / 3,299
stories, 135 topics, any number per story). ``load_bag_of_words`` reads their ready count matrices;
``tokenize_20news`` rebuilds the 20 Newsgroups matrices from the raw tarball with the documented recipe:

    latin-1 text, CRLF -> LF; drop the header (everything before the first blank line) but keep the text
    of the ``Subject:`` line; lowercase; tokens ``[a-z]+`` of length >= 2 not in the stop-word list;
    vocabulary = the ``size`` most frequent training tokens, ties broken alphabetically.

Data folders are found in this order: the explicit ``path``, ``$CRBM_DATA/docs``, ``~/.cache/crbm/docs``.
"""

from __future__ import annotations

import os
import re
import tarfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from crbm.errors import CRBMError, FormatError

#: file stems of the ready bags of words, by corpus name
CORPORA = {"20news": "20news_bydate_bow2000", "reuters": "reuters21578_modapte_bow2000"}
SPLITS = ("train", "test")
_TOKEN = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class Corpus:
    """Documents as word counts.

    counts: (n_docs, n_words) scipy CSR matrix of non-negative integer counts.
    labels: (n_docs,) class indices in [0, n_classes) (one class per document), or (n_docs, n_classes)
        0/1 topic indicators (any number of topics per document).
    label_names: (n_classes,) names; vocabulary: (n_words,) words; ids: (n_docs,) document identifiers.
    """

    counts: sp.csr_matrix
    labels: np.ndarray
    label_names: tuple[str, ...]
    vocabulary: tuple[str, ...]
    ids: tuple[str, ...]

    def __post_init__(self) -> None:
        check_counts(self.counts, "counts")
        check_labels(self.labels, len(self.label_names), "labels", n_docs=self.counts.shape[0])
        if len(self.vocabulary) != self.counts.shape[1]:
            raise CRBMError(f"vocabulary: {len(self.vocabulary)} words for {self.counts.shape[1]} count columns")
        if len(self.ids) != self.counts.shape[0]:
            raise CRBMError(f"ids: {len(self.ids)} identifiers for {self.counts.shape[0]} documents")

    def __len__(self) -> int:
        return self.counts.shape[0]

    @property
    def topics(self) -> np.ndarray:
        """(n_docs, n_classes) bool: which classes / topics each document has (relevance = sharing one)."""
        if self.labels.ndim == 2:
            return self.labels.astype(bool)
        return np.eye(len(self.label_names), dtype=bool)[self.labels]

    def tensor(self, *, dtype: torch.dtype = torch.float32, device: str | torch.device | None = None) -> torch.Tensor:
        """The counts as a dense (n_docs, n_words) tensor (replicated-softmax visible data)."""
        return torch.as_tensor(self.counts.toarray(), dtype=dtype, device=device)

    def subset(self, index: np.ndarray) -> Corpus:
        """The documents at ``index`` (integer positions or a boolean mask)."""
        index = np.arange(len(self))[index]
        return Corpus(
            self.counts[index],
            self.labels[index],
            self.label_names,
            self.vocabulary,
            tuple(self.ids[i] for i in index),
        )


def check_counts(counts, what: str = "counts") -> None:
    """Raise CRBMError unless ``counts`` is a 2-D matrix of non-negative integer counts."""
    if sp.issparse(counts):
        values = counts.data
    elif isinstance(counts, np.ndarray | torch.Tensor):
        values = np.asarray(counts.detach().cpu() if isinstance(counts, torch.Tensor) else counts)
    else:
        raise CRBMError(f"{what}: expected a scipy sparse matrix, numpy array or tensor, got {type(counts).__name__}")
    if len(counts.shape) != 2:
        raise CRBMError(f"{what}: expected a 2-D (n_docs, n_words) matrix, got shape {tuple(counts.shape)}")
    if values.size and not np.issubdtype(values.dtype, np.number):
        raise CRBMError(f"{what}: expected numeric word counts, got dtype {values.dtype}")
    if values.size and bool((values < 0).any()):
        raise CRBMError(f"{what}: word counts must be non-negative; found {int((values < 0).sum())} negative values")
    if values.size and not bool((values == np.round(values)).all()):
        raise CRBMError(f"{what}: expected integer word counts, found non-integer values (e.g. TF-IDF weights?)")


def check_labels(labels, n_classes: int, what: str = "labels", *, n_docs: int | None = None) -> None:
    """Raise CRBMError unless ``labels`` are (n_docs,) integers in [0, n_classes) or (n_docs, n_classes) 0/1."""
    labels = np.asarray(labels)
    if n_docs is not None and (labels.ndim == 0 or labels.shape[0] != n_docs):
        raise CRBMError(f"{what}: expected {n_docs} rows (one per document), got shape {labels.shape}")
    if labels.ndim == 1:
        if not np.issubdtype(labels.dtype, np.integer):
            raise CRBMError(f"{what}: expected integer class indices, got dtype {labels.dtype}")
        bad = (labels < 0) | (labels >= n_classes)
        if bad.any():
            raise CRBMError(f"{what}: class indices must lie in [0, {n_classes}); got {int(labels[bad][0])}")
    elif labels.ndim == 2:
        if labels.shape[1] != n_classes:
            raise CRBMError(f"{what}: expected {n_classes} topic columns, got {labels.shape[1]}")
        if not np.isin(labels, (0, 1)).all():
            raise CRBMError(f"{what}: topic indicators must be 0 or 1")
    else:
        raise CRBMError(f"{what}: expected a 1-D or 2-D array, got shape {labels.shape}")


def docs_dir(path: str | os.PathLike | None = None) -> Path:
    """The folder holding the document files: ``path``, else ``$CRBM_DATA/docs``, else ``~/.cache/crbm/docs``."""
    if path is not None:
        candidates = [Path(path)]
    else:
        env = os.environ.get("CRBM_DATA")
        candidates = ([Path(env) / "docs"] if env else []) + [Path.home() / ".cache" / "crbm" / "docs"]
    for c in candidates:
        if c.is_dir():
            return c
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"document data not found (tried {tried}); set CRBM_DATA to the data folder")


def _load_npz(path: Path) -> np.lib.npyio.NpzFile:
    if not path.is_file():
        raise FormatError(path, "no such file")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise FormatError(path, f"expected a numpy .npz archive without pickled objects ({err})") from None


def _read_vocabulary(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        raise FormatError(path, "no such file")
    words = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0] or not parts[1].isdigit():
            raise FormatError(path, f"expected 'word<TAB>count', got {line[:40]!r}", line=i)
        words.append(parts[0])
    return tuple(words)


def load_bag_of_words(corpus: str, split: str, *, path: str | os.PathLike | None = None) -> Corpus:
    """The ready bag of words of ``corpus`` ("20news" or "reuters") for ``split`` ("train" or "test").

    20news: labels (n_docs,) int in [0, 20), ids = file paths; reuters: labels (n_docs, 135) 0/1 topics,
    ids = NEWIDs. Raises FormatError for files that are not what BENCHMARK_DATA.md describes."""
    if corpus not in CORPORA:
        raise CRBMError(f"corpus must be one of {sorted(CORPORA)}, got {corpus!r}")
    if split not in SPLITS:
        raise CRBMError(f"split must be one of {SPLITS}, got {split!r}")
    folder = docs_dir(path)
    stem = CORPORA[corpus]
    counts_path = folder / f"{stem}_{split}.npz"
    if not counts_path.is_file():
        raise FormatError(counts_path, "no such file")
    try:
        counts = sp.load_npz(counts_path).tocsr()
    except (OSError, ValueError, KeyError) as err:
        raise FormatError(counts_path, f"expected a scipy.sparse CSR matrix saved by save_npz ({err})") from None
    labels_path = folder / f"{stem}_labels.npz"
    meta = _load_npz(labels_path)
    keys = (f"y_{split}", "class_names", f"ids_{split}") if corpus == "20news" else (f"Y_{split}", "topic_names")
    keys += () if corpus == "20news" else (f"newid_{split}",)
    missing = [k for k in keys if k not in meta.files]
    if missing:
        raise FormatError(labels_path, f"expected arrays {list(keys)}, missing {missing}")
    labels, names, ids = (meta[k] for k in keys)
    vocabulary = _read_vocabulary(folder / f"{stem}_vocab.txt")
    try:
        return Corpus(counts, labels.astype(np.int64), tuple(map(str, names)), vocabulary, tuple(map(str, ids)))
    except CRBMError as err:
        raise FormatError(counts_path, str(err)) from None


# ---------------------------------------------------------------------------------- own tokenisation
def read_stopwords(path: str | os.PathLike) -> frozenset[str]:
    """One word a line (the Glasgow list shipped as ``stopwords_sklearn_glasgow.txt``)."""
    return frozenset(w.strip() for w in Path(path).read_text(encoding="utf-8").splitlines() if w.strip())


def strip_header(text: str) -> str:
    """A news post without its header block, keeping the text of its ``Subject:`` line."""
    head, sep, body = text.partition("\n\n")
    if not sep:  # no blank line: the whole post is header
        head, body = text, ""
    subject = next((line[len("subject:") :] for line in head.split("\n") if line.lower().startswith("subject:")), "")
    return subject + "\n" + body


def tokenize(text: str, stopwords: frozenset[str] = frozenset()) -> list[str]:
    """Lowercase tokens ``[a-z]+`` of length >= 2 that are not stop words."""
    return [t for t in _TOKEN.findall(text.lower()) if len(t) >= 2 and t not in stopwords]


def build_vocabulary(documents: list[list[str]], size: int) -> tuple[str, ...]:
    """The ``size`` most frequent tokens over ``documents``, by total count, ties broken alphabetically."""
    total = Counter(t for doc in documents for t in doc)
    return tuple(sorted(total, key=lambda w: (-total[w], w))[:size])


def count_matrix(documents: list[list[str]], vocabulary: tuple[str, ...]) -> sp.csr_matrix:
    """(n_docs, len(vocabulary)) int32 CSR counts of the vocabulary's words (other tokens are dropped)."""
    column = {w: j for j, w in enumerate(vocabulary)}
    rows, cols = [], []
    for i, doc in enumerate(documents):
        js = [column[t] for t in doc if t in column]
        rows.extend([i] * len(js))
        cols.extend(js)
    data = np.ones(len(rows), dtype=np.int32)
    m = sp.csr_matrix((data, (rows, cols)), shape=(len(documents), len(vocabulary)), dtype=np.int32)
    m.sum_duplicates()
    return m


def read_20news_tarball(path: str | os.PathLike) -> dict[str, list[tuple[str, str, str]]]:
    """The posts of ``20news-bydate.tar.xz`` by split: ``{"train": [(id, group, text), ...], "test": ...}``,
    ids like ``20news-bydate-train/alt.atheism/49960``, sorted by group then by numeric file name (the
    order of the ready bag of words); text decoded as latin-1 with CRLF -> LF."""
    out: dict[str, list[tuple[str, str, str]]] = {s: [] for s in SPLITS}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                parts = member.name.split("/")
                if not member.isfile() or len(parts) != 4 or parts[0] != "20news-bydate":
                    continue
                split = parts[1].removeprefix("20news-bydate-")
                if split not in out:
                    raise FormatError(path, f"expected folders 20news-bydate-train/-test, got {parts[1]!r}")
                text = tar.extractfile(member).read().decode("latin-1").replace("\r\n", "\n")
                out[split].append(("/".join(parts[1:]), parts[2], text))
    except (tarfile.TarError, OSError, EOFError) as err:
        raise FormatError(path, f"not a readable 20 Newsgroups tarball ({err})") from None
    if not out["train"] or not out["test"]:
        raise FormatError(path, "expected 20news-bydate/20news-bydate-{train,test}/<group>/<id> files, found none")

    def order(post: tuple[str, str, str]) -> tuple:
        name = post[0].rsplit("/", 1)[1]
        return post[1], len(name), name  # numeric order for the numeric file names

    return {s: sorted(posts, key=order) for s, posts in out.items()}


def tokenize_20news(
    path: str | os.PathLike | None = None, *, size: int = 2000, stopwords: frozenset[str] | None = None
) -> tuple[Corpus, Corpus]:
    """Our own bags of words (train, test) from the raw ``20news-bydate.tar.xz`` (recipe: module docstring).

    ``path`` is the docs folder (default: found as in ``docs_dir``); ``stopwords`` default to the folder's
    ``stopwords_sklearn_glasgow.txt``. Classes are the group names in alphabetical order."""
    folder = docs_dir(path)
    if stopwords is None:
        stopwords = read_stopwords(folder / "stopwords_sklearn_glasgow.txt")
    posts = read_20news_tarball(folder / "20news-bydate.tar.xz")
    groups = sorted({g for split in posts.values() for _, g, _ in split})
    tokens = {s: [tokenize(strip_header(text), stopwords) for _, _, text in posts[s]] for s in SPLITS}
    vocabulary = build_vocabulary(tokens["train"], size)
    index = {g: i for i, g in enumerate(groups)}
    return tuple(
        Corpus(
            count_matrix(tokens[s], vocabulary),
            np.array([index[g] for _, g, _ in posts[s]], dtype=np.int64),
            tuple(groups),
            vocabulary,
            tuple(i for i, _, _ in posts[s]),
        )
        for s in SPLITS
    )


def word_log_frequencies(counts: torch.Tensor, *, prior: float = 1.0) -> torch.Tensor:
    """log of the smoothed word frequencies (n_k + prior) / (sum n + K prior) of a (n_docs, K) count tensor:
    the visible biases a replicated-softmax RBM starts from, so that training begins at the unigram model
    (the analogue of log(p / (1 - p)) for binary visibles in Hinton's practical guide)."""
    check_counts(counts, "counts")
    total = counts.sum(0) + prior
    return (total / total.sum()).log()
