"""Bags of words: the ready 2000-word count matrices, and our own tokenisation of the raw text.

Two corpora ship in the data folder's ``docs/`` (see its BENCHMARK_DATA.md): 20 Newsgroups "bydate"
(11,314 train / 7,532 test posts, 20 groups, one label each) and Reuters-21578 ModApte (9,603 / 3,299
stories, 135 topics, any number per story). ``load_bag_of_words`` reads their ready count matrices;
``tokenize_20news`` and ``tokenize_reuters`` rebuild them from the raw archives with the documented recipe:

    20 Newsgroups: latin-1 text, CRLF -> LF; drop the header (everything before the first blank line) but
    keep the text of the ``Subject:`` line. Reuters: the ModApte stories (LEWISSPLIT TRAIN or TEST with
    TOPICS="YES"), TITLE then BODY, numeric entities ``&#N;`` as spaces, other entities unescaped. Both:
    lowercase; tokens ``[a-z]+`` of length >= 2 not in the stop-word list; vocabulary = the ``size`` most
    frequent training tokens, ties broken alphabetically.

Data folders are found in this order: the explicit ``path``, ``$CRBM_DATA/docs``, ``~/.cache/crbm/docs``.
The raw archives may be the data folder's rebuilt ``.tar.xz`` or the public ``.tar.gz`` originals, which
``download=True`` fetches (20 Newsgroups: SHA-256 checked; Reuters: story counts checked).
"""

from __future__ import annotations

import html
import os
import re
import tarfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from crbm.data.download import download as download_file
from crbm.data.paths import SHA256, SOURCES, data_folders, verify_data_file
from crbm.engine.atomic import atomic_path
from crbm.engine.errors import CRBMError, FormatError

#: file stems of the ready bags of words, by corpus name
CORPORA = {"20news": "20news_bydate_bow2000", "reuters": "reuters21578_modapte_bow2000"}
SPLITS = ("train", "test")
#: stems of the raw archives (``.tar.xz`` in the data folder, ``.tar.gz`` from the public home)
RAW = {"20news": "20news-bydate", "reuters": "reuters21578"}
STOPWORDS = "stopwords_sklearn_glasgow.txt"
REUTERS_STORIES, REUTERS_MODAPTE = 21578, {"train": 9603, "test": 3299}
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
    candidates = data_folders("docs", path)
    for c in candidates:
        if c.is_dir():
            return c
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"document data not found (tried {tried}); set CRBM_DATA to the data folder")


def raw_archive(corpus: str, path: str | os.PathLike | None = None, *, download: bool = False) -> Path:
    """The raw archive of ``corpus`` ("20news" or "reuters"): ``<stem>.tar.xz`` or ``<stem>.tar.gz`` in the
    first docs folder that has one (``path``, ``$CRBM_DATA/docs``, ``~/.cache/crbm/docs``); else, with
    ``download=True``, the public ``.tar.gz`` fetched into ``path`` (or the cache) and checked."""
    if corpus not in RAW:
        raise CRBMError(f"corpus must be one of {sorted(RAW)}, got {corpus!r}")
    candidates = data_folders("docs", path)
    names = [f"{RAW[corpus]}.tar.xz", f"{RAW[corpus]}.tar.gz"]
    for folder in candidates:
        for name in names:
            if (folder / name).is_file():
                return verify_data_file(folder / name, f"docs/{name}")
    relative = f"docs/{names[1]}"
    if not download:
        tried = ", ".join(str(c) for c in candidates)
        raise CRBMError(
            f"{corpus}: no {' or '.join(names)} in {tried}; get {SOURCES[relative]} (or pass download=True)"
        )
    target = candidates[0] / names[1]
    if corpus != "reuters":
        return download_file(SOURCES[relative], target, sha256=SHA256.get(relative))
    # no published checksum: the stories are counted in the downloaded file before it takes its name
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        download_file(SOURCES[relative], tmp, sha256=None)
        read_reuters_tarball(tmp, name=target)
    return target


def default_stopwords(archive: Path) -> frozenset[str]:
    """The stop words beside ``archive`` (``stopwords_sklearn_glasgow.txt``, one word a line)."""
    file = archive.parent / STOPWORDS
    if not file.is_file():
        raise CRBMError(
            f"{file}: no stop-word list; put the Glasgow list there (one word a line; the data folder's "
            f"BENCHMARK_DATA.md says which) or pass stopwords= (e.g. scikit-learn's ENGLISH_STOP_WORDS, "
            f"which differs in a few words and gives slightly different bags)"
        )
    return read_stopwords(file)


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
    """The posts of a 20 Newsgroups "bydate" archive by split: ``{"train": [(id, group, text), ...], ...}``.

    Files ``20news-bydate-{train,test}/<group>/<id>``, at the top (the public ``20news-bydate.tar.gz``) or
    under ``20news-bydate/`` (the data folder's ``.tar.xz``); ids like ``20news-bydate-train/alt.atheism/49960``,
    sorted by group then by numeric file name (the order of the ready bag of words); text decoded as
    latin-1 with CRLF -> LF."""
    out: dict[str, list[tuple[str, str, str]]] = {s: [] for s in SPLITS}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                parts = [p for p in member.name.split("/") if p not in ("", ".")]
                parts = parts[1:] if parts[:1] == ["20news-bydate"] else parts
                if not member.isfile() or len(parts) != 3 or not parts[0].startswith("20news-bydate-"):
                    continue
                split = parts[0].removeprefix("20news-bydate-")
                if split not in out:
                    raise FormatError(path, f"expected folders 20news-bydate-train/-test, got {parts[0]!r}")
                text = tar.extractfile(member).read().decode("latin-1").replace("\r\n", "\n")
                out[split].append(("/".join(parts), parts[1], text))
    except (tarfile.TarError, OSError, EOFError) as err:
        raise FormatError(path, f"not a readable 20 Newsgroups tarball ({err})") from None
    if not out["train"] or not out["test"]:
        raise FormatError(path, "expected 20news-bydate-{train,test}/<group>/<id> files, found none")

    def order(post: tuple[str, str, str]) -> tuple:
        name = post[0].rsplit("/", 1)[1]
        return post[1], len(name), name  # numeric order for the numeric file names

    return {s: sorted(posts, key=order) for s, posts in out.items()}


def tokenize_20news(
    path: str | os.PathLike | None = None,
    *,
    size: int = 2000,
    stopwords: frozenset[str] | None = None,
    download: bool = False,
) -> tuple[Corpus, Corpus]:
    """Our own bags of words (train, test) from the raw 20 Newsgroups archive (recipe: module docstring).

    ``path`` is the docs folder (default: found as in ``raw_archive``); ``stopwords`` default to the
    ``stopwords_sklearn_glasgow.txt`` beside the archive. Classes are the group names in alphabetical order."""
    archive = raw_archive("20news", path, download=download)
    stopwords = default_stopwords(archive) if stopwords is None else stopwords
    posts = read_20news_tarball(archive)
    groups = sorted({g for split in posts.values() for _, g, _ in split})
    index = {g: i for i, g in enumerate(groups)}
    texts = {s: [strip_header(text) for _, _, text in posts[s]] for s in SPLITS}
    labels = {s: np.array([index[g] for _, g, _ in posts[s]], dtype=np.int64) for s in SPLITS}
    ids = {s: tuple(i for i, _, _ in posts[s]) for s in SPLITS}
    return _bags(texts, labels, tuple(groups), ids, size, stopwords)


def read_reuters_tarball(
    path: str | os.PathLike, *, name: str | os.PathLike | None = None
) -> tuple[dict[str, list[tuple[str, tuple[str, ...], str]]], tuple[str, ...]]:
    """The ModApte stories of a Reuters-21578 archive and the topic names.

    Returns ``({"train": [(newid, topics, text), ...], "test": ...}, topic_names)``: stories with
    LEWISSPLIT TRAIN or TEST and TOPICS="YES", in NEWID order; text = TITLE + newline + BODY with numeric
    entities as spaces and other entities unescaped; topic names from ``all-topics-strings.lc.txt``.
    Raises FormatError (naming ``name``, default ``path``) unless the archive holds 21,578 stories, 9,603 /
    3,299 of them ModApte, each with a numeric NEWID."""
    shown = path if name is None else name
    out: dict[str, list[tuple[int, tuple[str, ...], str]]] = {s: [] for s in SPLITS}
    names, n_stories = None, 0
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if not member.isfile():
                    continue
                if base == "all-topics-strings.lc.txt":
                    names = tuple(tar.extractfile(member).read().decode("latin-1").split())
                elif re.fullmatch(r"reut2-\d{3}\.sgm", base):
                    n_stories += _read_sgml(shown, base, tar.extractfile(member).read().decode("latin-1"), out)
    except (tarfile.TarError, OSError, EOFError) as err:
        raise FormatError(shown, f"not a readable Reuters-21578 archive ({err})") from None
    counts = {s: len(v) for s, v in out.items()}
    if names is None or n_stories != REUTERS_STORIES or counts != REUTERS_MODAPTE:
        raise FormatError(
            shown,
            f"expected Reuters-21578 (all-topics-strings.lc.txt, {REUTERS_STORIES} stories in reut2-*.sgm, "
            f"ModApte {REUTERS_MODAPTE}), found {n_stories} stories, ModApte {counts}",
        )
    unknown = sorted({t for v in out.values() for _, topics, _ in v for t in topics} - set(names))
    if unknown:
        raise FormatError(shown, f"topics missing from all-topics-strings.lc.txt: {unknown[:5]}")
    return {s: [(str(i), t, x) for i, t, x in sorted(v)] for s, v in out.items()}, names


def _read_sgml(path, member: str, text: str, out: dict[str, list]) -> int:
    """Append the ModApte stories of one ``reut2-*.sgm`` text (``member`` of archive ``path``) to ``out``;
    returns its number of stories."""
    n = 0
    for story in re.finditer(r"<REUTERS([^>]*)>(.*?)</REUTERS>", text, re.S):
        n += 1
        attrs = dict(re.findall(r'(\w+)="([^"]*)"', story[1]))
        split = {"TRAIN": "train", "TEST": "test"}.get(attrs.get("LEWISSPLIT", ""))
        if split is None or attrs.get("TOPICS") != "YES":
            continue
        if not attrs.get("NEWID", "").isdigit():
            raise FormatError(path, f"{member}: a ModApte story without a numeric NEWID ({attrs.get('NEWID')!r})")
        body = story[2]
        topics = re.search(r"<TOPICS>(.*?)</TOPICS>", body, re.S)
        parts = [re.search(f"<{tag}>(.*?)</{tag}>", body, re.S) for tag in ("TITLE", "BODY")]
        words = "\n".join(p[1] if p else "" for p in parts)
        words = html.unescape(re.sub(r"&#\d+;", " ", words))
        out[split].append((int(attrs["NEWID"]), tuple(re.findall(r"<D>(.*?)</D>", topics[1]) if topics else ()), words))
    return n


def tokenize_reuters(
    path: str | os.PathLike | None = None,
    *,
    size: int = 2000,
    stopwords: frozenset[str] | None = None,
    download: bool = False,
) -> tuple[Corpus, Corpus]:
    """Our own bags of words (train, test) of Reuters-21578 ModApte from the raw archive (recipe: module
    docstring); labels (n_docs, 135) 0/1 topic indicators, ids the NEWIDs. Arguments as ``tokenize_20news``."""
    archive = raw_archive("reuters", path, download=download)
    stopwords = default_stopwords(archive) if stopwords is None else stopwords
    stories, names = read_reuters_tarball(archive)
    column = {t: j for j, t in enumerate(names)}
    labels = {}
    for s in SPLITS:
        labels[s] = np.zeros((len(stories[s]), len(names)), dtype=np.int64)
        for row, (_, topics, _) in enumerate(stories[s]):
            labels[s][row, [column[t] for t in topics]] = 1
    texts = {s: [x for _, _, x in stories[s]] for s in SPLITS}
    ids = {s: tuple(i for i, _, _ in stories[s]) for s in SPLITS}
    return _bags(texts, labels, names, ids, size, stopwords)


def _bags(texts, labels, label_names, ids, size, stopwords) -> tuple[Corpus, Corpus]:
    """(train, test) Corpus of ``texts[split]`` tokenised, over the training split's ``size`` top words."""
    tokens = {s: [tokenize(x, stopwords) for x in texts[s]] for s in SPLITS}
    vocabulary = build_vocabulary(tokens["train"], size)
    return tuple(
        Corpus(count_matrix(tokens[s], vocabulary), labels[s], tuple(label_names), vocabulary, ids[s]) for s in SPLITS
    )


def word_log_frequencies(counts: torch.Tensor, *, prior: float = 1.0) -> torch.Tensor:
    """log of the smoothed word frequencies (n_k + prior) / (sum n + K prior) of a (n_docs, K) count tensor:
    the visible biases a replicated-softmax RBM starts from, so that training begins at the unigram model
    (the analogue of log(p / (1 - p)) for binary visibles in Hinton's practical guide)."""
    check_counts(counts, "counts")
    total = counts.sum(0) + prior
    return (total / total.sum()).log()
