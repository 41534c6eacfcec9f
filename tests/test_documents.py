"""Bags of words: validation, the shipped files, our tokenisation, and the replicated-softmax RBM on them."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from crbm import RBM
from crbm.data.documents import (
    Corpus,
    build_vocabulary,
    check_counts,
    check_labels,
    count_matrix,
    load_bag_of_words,
    raw_archive,
    read_20news_tarball,
    read_reuters_tarball,
    strip_header,
    tokenize,
    tokenize_20news,
    tokenize_reuters,
    word_log_frequencies,
)
from crbm.engine.errors import CRBMError, FormatError


def test_bad_counts_and_labels_name_the_argument():
    with pytest.raises(CRBMError, match="counts: word counts must be non-negative"):
        check_counts(np.array([[1, -2]]))
    with pytest.raises(CRBMError, match=r"counts: expected integer word counts.*TF-IDF"):
        check_counts(sp.csr_matrix(np.array([[0.5, 1.0]])))
    with pytest.raises(CRBMError, match="counts: expected a 2-D"):
        check_counts(np.array([1, 2]))
    with pytest.raises(CRBMError, match=r"labels: class indices must lie in \[0, 3\); got 3"):
        check_labels(np.array([0, 3]), 3)
    with pytest.raises(CRBMError, match="labels: topic indicators must be 0 or 1"):
        check_labels(np.array([[0, 2]]), 2)
    with pytest.raises(CRBMError, match="labels: expected 2 rows"):
        Corpus(sp.csr_matrix(np.eye(2, dtype=np.int32)), np.array([0]), ("a",), ("x", "y"), ("d0", "d1"))
    with pytest.raises(CRBMError, match="vocabulary: 1 words for 2"):
        Corpus(sp.csr_matrix(np.eye(2, dtype=np.int32)), np.array([0, 0]), ("a",), ("x",), ("d0", "d1"))


def test_tokenisation_recipe_by_hand():
    post = "From: a@b.edu\r\nSubject: Re: The X11 server\r\nLines: 3\r\n\r\nI wrote it, a 2nd time: x-server is OK!"
    text = strip_header(post.replace("\r\n", "\n"))
    assert tokenize(text, frozenset({"the", "it", "is"})) == ["re", "server", "wrote", "nd", "time", "server", "ok"]
    docs = [["b", "a", "c", "a"], ["c", "b", "d"]]
    vocab = build_vocabulary(docs, 3)
    assert vocab == ("a", "b", "c")  # a:2, then b and c tie at 2 and are ordered alphabetically; d dropped
    assert count_matrix(docs, vocab).toarray().tolist() == [[2, 1, 1], [0, 1, 1]]


def test_shipped_bags_of_words(data_root):
    train = load_bag_of_words("20news", "train", path=data_root / "docs")
    test = load_bag_of_words("20news", "test", path=data_root / "docs")
    assert train.counts.shape == (11314, 2000) and test.counts.shape == (7532, 2000)
    assert (train.counts.nnz, test.counts.nnz) == (568462, 368315)
    assert np.bincount(test.labels).tolist()[:3] == [319, 389, 394] and train.vocabulary[0] == "ax"
    assert test.topics.shape == (7532, 20) and test.topics.sum(1).tolist() == [1] * 7532
    reuters = load_bag_of_words("reuters", "test", path=data_root / "docs")
    assert reuters.counts.shape == (3299, 2000) and reuters.labels.shape == (3299, 135)
    assert int((reuters.topics.sum(1) > 0).sum()) == 3019


def test_malformed_files_raise_format_errors(tmp_path, data_root):
    stem = "20news_bydate_bow2000"
    for suffix in ("labels.npz", "vocab.txt"):
        (tmp_path / f"{stem}_{suffix}").write_bytes((data_root / "docs" / f"{stem}_{suffix}").read_bytes())
    (tmp_path / f"{stem}_test.npz").write_bytes(b"not a zip")
    with pytest.raises(FormatError, match="expected a scipy.sparse CSR matrix"):
        load_bag_of_words("20news", "test", path=tmp_path)
    negative = sp.csr_matrix((np.array([-1], dtype=np.int32), ([7], [3])), shape=(7532, 2000))
    sp.save_npz(tmp_path / f"{stem}_test.npz", negative)
    with pytest.raises(FormatError, match="word counts must be non-negative"):
        load_bag_of_words("20news", "test", path=tmp_path)
    (tmp_path / f"{stem}_vocab.txt").write_text("ax\t62520\nedu 12293\n")
    with pytest.raises(FormatError, match=r"vocab.txt:2: expected 'word<TAB>count'"):
        load_bag_of_words("20news", "test", path=tmp_path)
    with pytest.raises(CRBMError, match="split must be one of"):
        load_bag_of_words("20news", "valid", path=tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("corpus", ["20news", "reuters"])
def test_own_tokenisation_reproduces_the_shipped_bags_of_words(data_root, corpus):
    """Our reading of the raw archives gives the ready matrices exactly (files nobody here wrote): for
    Reuters, the ModApte stories of the SGML with their NEWIDs and 135 topic indicators."""
    ours = {"20news": tokenize_20news, "reuters": tokenize_reuters}[corpus](data_root / "docs")
    for mine, split in zip(ours, ("train", "test")):
        ref = load_bag_of_words(corpus, split, path=data_root / "docs")
        assert mine.vocabulary == ref.vocabulary and mine.ids == ref.ids and mine.label_names == ref.label_names
        assert np.array_equal(mine.labels, ref.labels) and (mine.counts != ref.counts).nnz == 0


def _tarball(path, files: dict[str, str]):
    """A .tar.gz holding ``files`` (name -> latin-1 text)."""
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode("latin-1")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _sgml_tarball(path, stories: str, topics: str = "acq\nearn\n"):
    """A tiny Reuters-like archive with one reut2-000.sgm holding ``stories``."""
    return _tarball(path, {"reuters21578/reut2-000.sgm": stories, "reuters21578/all-topics-strings.lc.txt": topics})


@pytest.mark.parametrize("prefix", ["", "20news-bydate/"])
def test_20news_reader_takes_the_public_layout_and_the_data_folders(tmp_path, prefix):
    """The public tarball has 20news-bydate-train/... at the top; the data folder's rebuild puts it under
    20news-bydate/. Both read the same; posts sort by group, then numerically by file name."""
    files = {f"{prefix}20news-bydate-{split}/{group}/{name}": f"Subject: {group}\r\n\r\nbody {name}"
             for split in ("train", "test") for group in ("b.group", "a.group") for name in ("10", "9")}
    posts = read_20news_tarball(_tarball(tmp_path / "n.tar.gz", files))
    assert [i for i, _, _ in posts["test"]] == [
        "20news-bydate-test/a.group/9", "20news-bydate-test/a.group/10",
        "20news-bydate-test/b.group/9", "20news-bydate-test/b.group/10",
    ]
    assert posts["train"][0][1:] == ("a.group", "Subject: a.group\n\nbody 9")
    only_train = {k: v for k, v in files.items() if "-train/" in k}
    with pytest.raises(FormatError, match=r"n2.tar.gz: expected 20news-bydate-\{train,test\}/<group>/<id> files"):
        read_20news_tarball(_tarball(tmp_path / "n2.tar.gz", only_train))


def test_reuters_reader_checks_the_story_counts_and_names_the_file(tmp_path):
    story = ('<REUTERS TOPICS="YES" LEWISSPLIT="TRAIN" NEWID="{}"><TOPICS><D>acq</D></TOPICS>'
             "<TEXT><TITLE>A &amp; B</TITLE><BODY>Hello&#3; world</BODY></TEXT></REUTERS>\n")
    bad = _sgml_tarball(tmp_path / "reuters21578.tar.gz", story.format(1) + story.format(2))
    with pytest.raises(FormatError, match=r"reuters21578.tar.gz: expected Reuters-21578 .* found 2 stories"):
        read_reuters_tarball(bad)
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(FormatError, match="junk.tar.gz: not a readable Reuters-21578 archive"):
        read_reuters_tarball(tmp_path / "junk.tar.gz")


def test_raw_archive_says_where_to_get_the_public_originals(tmp_path):
    with pytest.raises(CRBMError, match=r"reuters: no reuters21578.tar.xz or reuters21578.tar.gz in .*archive.ics"):
        raw_archive("reuters", tmp_path)
    with pytest.raises(CRBMError, match=r"20news: no 20news-bydate.tar.xz .*figshare.*download=True"):
        raw_archive("20news", tmp_path)
    with pytest.raises(CRBMError, match="corpus must be one of"):
        raw_archive("rcv1", tmp_path)
    (tmp_path / "20news-bydate.tar.gz").write_bytes(b"x")  # the published archive has a known SHA-256
    with pytest.raises(CRBMError, match=r"20news-bydate\.tar\.gz: SHA-256 .* is not that of the published "
                       r"docs/20news-bydate\.tar\.gz .*delete it and fetch it again"):
        raw_archive("20news", tmp_path)
    (tmp_path / "reuters21578.tar.gz").write_bytes(b"x")  # no published sum: found as it is
    assert raw_archive("reuters", tmp_path) == tmp_path / "reuters21578.tar.gz"
    with pytest.raises(CRBMError, match="stopwords_sklearn_glasgow.txt: no stop-word list"):
        tokenize_reuters(tmp_path)


# ------------------------------------------------------------------ replicated softmax on a tiny vocabulary
@pytest.fixture
def rsm(gen):
    r = RBM(3, 2, visible="replicated_softmax", init_std=0.7, dtype=torch.float64, generator=gen)
    with torch.no_grad():
        r.visible_bias.copy_(torch.tensor([0.3, -0.5, 0.1], dtype=torch.float64))
        r.hidden_bias.copy_(torch.tensor([0.4, -0.2], dtype=torch.float64))
    return r


def test_replicated_softmax_hidden_bias_is_scaled_by_length(rsm):
    n = torch.tensor([[2.0, 0.0, 1.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    expected = n.sum(1, keepdim=True) * rsm.hidden_bias + n @ rsm.weight
    torch.testing.assert_close(rsm.hidden_pre(n), expected, rtol=0, atol=1e-15)
    torch.testing.assert_close(rsm.hidden_pre(2 * n), 2 * rsm.hidden_pre(n))


def test_replicated_softmax_exact_conditionals(rsm):
    """Enumerate every word sequence of a 3-word document and both hidden units' states."""
    K, N = 3, 3
    hs = torch.tensor(list(itertools.product([0.0, 1.0], repeat=2)), dtype=torch.float64)
    seqs = list(itertools.product(range(K), repeat=N))
    counts = torch.stack([torch.bincount(torch.tensor(s), minlength=K) for s in seqs]).double()
    # E(sequence, h) = -sum_k n_k (b_k + W_k h) - N c.h  (each word is one softmax unit)
    energy = torch.stack([rsm.energy(counts, h.expand(len(seqs), -1)) for h in hs], 1)  # (seqs, h)
    joint = torch.softmax(-energy.flatten(), 0).reshape(energy.shape)
    # p(h | n): normalise over h for one document and compare with the factorial sigmoid
    n = counts[5:6]
    row = [i for i in range(len(seqs)) if torch.equal(counts[i], n[0])][0]
    p_h = joint[row] / joint[row].sum()
    q = rsm.hidden_mean(n)[0]
    factorial = torch.stack([torch.prod(torch.where(h.bool(), q, 1 - q)) for h in hs])
    torch.testing.assert_close(p_h, factorial, rtol=1e-12, atol=1e-15)
    # p(first word = k | h) from the joint equals softmax(b + W h)
    for j, h in enumerate(hs):
        p_seq = joint[:, j] / joint[:, j].sum()
        first = torch.stack([p_seq[[i for i, s in enumerate(seqs) if s[0] == k]].sum() for k in range(K)])
        torch.testing.assert_close(first, rsm.visible_mean(h[None])[0], rtol=1e-12, atol=1e-15)


def test_replicated_softmax_samples_keep_document_lengths(rsm, gen):
    n = torch.tensor([[2.0, 0.0, 1.0], [0.0, 5.0, 4.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    v = rsm.gibbs(n, 3, generator=gen)
    assert v.sum(1).tolist() == [3.0, 9.0, 0.0] and bool((v == v.round()).all() and (v >= 0).all())


def test_word_log_frequencies_start_at_the_unigram_model():
    counts = torch.tensor([[3.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    b = word_log_frequencies(counts)
    torch.testing.assert_close(b.exp(), torch.tensor([5.0, 1.0, 2.0]) / 8)
    rsm = RBM(3, 2, visible="replicated_softmax", init_std=0.0)
    with torch.no_grad():
        rsm.visible_bias.copy_(b)
    torch.testing.assert_close(rsm.visible_mean(torch.zeros(1, 2))[0], b.exp())
    with pytest.raises(CRBMError, match="counts: word counts must be non-negative"):
        word_log_frequencies(-counts)


@pytest.mark.parametrize("stories, message", [
    ('<REUTERS TOPICS="YES" LEWISSPLIT="TRAIN" NEWID="1"></REUTERS>', r"expected Reuters-21578 .* found 1 stories"),
    ('<REUTERS TOPICS="YES" LEWISSPLIT="TRAIN"></REUTERS>', r"reut2-000\.sgm: a ModApte story without a numeric NEWID"),
])
def test_a_reuters_download_that_fails_its_story_check_is_not_kept(tmp_path, monkeypatch, stories, message):
    """No checksum is published for reuters21578.tar.gz: the download is read before it takes its name, and a
    file that fails (wrong story counts, or a story that does not parse) leaves nothing behind, not even a
    temporary file. The 20 Newsgroups download is asked for its pinned SHA-256."""
    import crbm.data.documents as documents

    asked = {}

    def fake_download(url, dest, *, sha256):
        asked[url] = sha256
        return _sgml_tarball(dest, stories)

    monkeypatch.setattr(documents, "download_file", fake_download)
    with pytest.raises(FormatError, match=r"reuters21578\.tar\.gz: " + message):
        raw_archive("reuters", tmp_path, download=True)
    assert list(tmp_path.iterdir()) == []
    assert asked[documents.SOURCES["docs/reuters21578.tar.gz"]] is None
    assert raw_archive("20news", tmp_path, download=True) == tmp_path / "20news-bydate.tar.gz"
    assert asked[documents.SOURCES["docs/20news-bydate.tar.gz"]] == (
        "8f1b2514ca22a5ade8fbb9cfa5727df95fa587f4c87b786e15c759fa66d95610")
